from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.schema.context import GraphQLContext
from trainql.schema.permissions import ctx_of
from trainql.schema.users.types import UserType


@strawberry.type
class UserQueries:
    @strawberry.field(description="The authenticated user, or null for an anonymous request.")
    def me(self, info: Info[GraphQLContext, None]) -> UserType | None:
        user = ctx_of(info).user
        return None if user is None else UserType.from_domain(user)
