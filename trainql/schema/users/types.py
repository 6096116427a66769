from __future__ import annotations

import strawberry

from trainql import domain
from trainql.schema.enums import Role


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    username: str
    roles: list[Role]

    @classmethod
    def from_domain(cls, user: domain.User) -> UserType:
        return cls(id=strawberry.ID(str(user.id)), username=user.username, roles=sorted(user.roles))


@strawberry.type(name="AuthPayload")
class AuthPayload:
    token: str
    user: UserType
