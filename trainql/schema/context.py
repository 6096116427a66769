"""The GraphQL context: FastAPI builds it per request, resolvers read `info.context.ctx`."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from trainql.errors import AuthenticationError
from trainql.resolvers.auth import authenticate
from trainql.resolvers.context import Context, Services


class GraphQLContext(BaseContext):
    """Strawberry's context, carrying our resolver `Context`.

    A bad Authorization header does not fail here (that would be a bare HTTP error); it is
    kept in `auth_error` and the error-mapping extension turns the whole operation into an
    UNAUTHENTICATED error.
    """

    def __init__(self, ctx: Context, auth_error: AuthenticationError | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.auth_error = auth_error


async def build_context(services: Services, request: HTTPConnection) -> GraphQLContext:
    header = request.headers.get("authorization")
    try:
        user = await authenticate(services.db, header)
    except AuthenticationError as exc:
        return GraphQLContext(Context(services=services), auth_error=exc)
    return GraphQLContext(Context(services=services, user=user))
