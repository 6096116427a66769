from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import auth
from trainql.schema.context import GraphQLContext, client_address, resolver_context
from trainql.schema.users.types import AuthPayload, UserType


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        description="A new API token for valid credentials. Failed attempts are throttled per "
        "username and per client address: while a wait lasts every attempt is refused "
        "with TOO_MANY_REQUESTS and extensions.retryAfterSeconds."
    )
    async def obtain_token(
        self, info: Info[GraphQLContext, None], username: str, password: str
    ) -> AuthPayload:
        result = await auth.obtain_token(
            ctx=resolver_context(info),
            username=username,
            password=password,
            client_address=client_address(info),
        )
        return AuthPayload(token=result.token, user=UserType.from_domain(result.user))

    @strawberry.mutation(
        description="Revoke the token this request authenticated with; it stops working at "
        "once, on every server. True when it was revoked, false when it was already gone."
    )
    async def revoke_token(self, info: Info[GraphQLContext, None]) -> bool:
        return await auth.revoke_token(ctx=resolver_context(info))
