from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.users.types import UserType


@strawberry.type
class UserQueries:
    @strawberry.field(description="The authenticated user, or null for an anonymous request.")
    def me(self, info: Info[GraphQLContext, None]) -> UserType | None:
        user = resolver_context(info).user
        return None if user is None else UserType.from_domain(user)
