from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import auth
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.users.types import AuthPayload, UserType


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="A new API token for valid credentials.")
    async def obtain_token(
        self, info: Info[GraphQLContext, None], username: str, password: str
    ) -> AuthPayload:
        result = await auth.obtain_token(
            ctx=resolver_context(info), username=username, password=password
        )
        return AuthPayload(token=result.token, user=UserType.from_domain(result.user))
