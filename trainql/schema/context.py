"""The GraphQL context: FastAPI builds it per request, resolvers read `info.context.ctx`."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from trainql.errors import AuthenticationError, TrainqlError
from trainql.resolvers.auth import Credentials, authenticate
from trainql.resolvers.context import Context
from trainql.services import Services


class GraphQLContext(BaseContext):
    """Strawberry's context, carrying our resolver `Context`.

    An error met while building it (a bad Authorization header, the database away during
    the token lookup) does not fail here (that would be a bare HTTP error); it is kept in
    `error` and the error-mapping extension turns the whole operation into that error, in
    a normal GraphQL response.
    """

    def __init__(self, ctx: Context, error: TrainqlError | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.error = error


async def build_context(services: Services, request: HTTPConnection) -> GraphQLContext:
    header = request.headers.get("authorization")
    try:
        credentials = await authenticate(services, header)
    except TrainqlError as exc:
        return GraphQLContext(Context(services=services), error=exc)
    return GraphQLContext(_context_of(services, credentials))


def _context_of(services: Services, credentials: Credentials | None) -> Context:
    if credentials is None:
        return Context(services=services)
    return Context(services=services, user=credentials.user, token_id=credentials.token_id)


async def authenticate_connection(context: GraphQLContext) -> None:
    """Authenticate a WebSocket from its graphql-transport-ws `connection_init` payload.

    `{"Authorization": "Token <t>"}` (or `authorization`, or Bearer) in the payload replaces
    what the handshake's headers said; without it the headers' user stays. Browsers cannot
    set headers on a WebSocket, so the payload is how Apollo Client and graphql-ws send a
    token. Raises AuthenticationError when the credentials that apply are wrong, and
    DatabaseUnavailable when they could not be checked.
    """
    params = context.connection_params if isinstance(context.connection_params, dict) else {}
    authorization = params.get("Authorization", params.get("authorization"))
    if authorization is not None:
        if not isinstance(authorization, str):
            raise AuthenticationError(
                "Invalid Authorization in connection_init. Use 'Token <token>' or 'Bearer <token>'."
            )
        credentials = await authenticate(context.ctx.services, authorization)
        context.ctx.user = credentials.user if credentials else None
        context.ctx.token_id = credentials.token_id if credentials else None
        context.error = None
    if context.error is not None:
        raise context.error


def resolver_context(info: Info[GraphQLContext, None]) -> Context:
    """The resolver Context of the GraphQL request `info` belongs to."""
    return info.context.ctx


def client_address(info: Info[GraphQLContext, None]) -> str | None:
    """The client's address (uvicorn's, which honours X-Forwarded-For from trusted
    proxies), None when the server does not know it."""
    connection: HTTPConnection | None = info.context.request
    client = None if connection is None else connection.client
    return None if client is None else client.host
