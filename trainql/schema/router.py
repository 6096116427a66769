"""The GraphQL endpoint at /graphql: Strawberry's FastAPI router, configured for our clients.

Beyond Strawberry's defaults: batches (a JSON array of operations, as Apollo's
BatchHttpLink sends) are bounded by `graphql_max_batch` and refused with a GraphQL-shaped
400 body naming the limit; a GET carrying `extensions` (an APQ hash-only query) runs the
query instead of answering GraphiQL's page, whatever the Accept header says. GraphiQL's
page loads its assets from this server when they are installed (playground/page.py).

WebSockets (subscriptions) speak graphql-transport-ws only: a client offering only the
legacy `graphql-ws` protocol is closed with 4406. The handshake's Origin must be the
server's own or one of `TRAINQL_CORS_ORIGINS` (Strawberry's check; a handshake without
Origin, from a non-browser client, passes); others get 403 before the socket is accepted.
`connection_init` authenticates (its payload's Authorization, else the handshake's headers;
wrong credentials close the socket with 4403) and must come within
`graphql_ws_init_timeout_s` (else 4408); at most `graphql_ws_max_subscriptions` operations
run at once on one socket (more are answered with a TOO_MANY_SUBSCRIPTIONS error). A socket
whose token is revoked or expires is closed with 4403 within a second
(db/token_watch.py).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pydantic_core
from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryRefusal
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute, request_response
from starlette.background import BackgroundTasks
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLRequestProtocol
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.unset import UNSET, UnsetType

from trainql.errors import AuthenticationError, DatabaseUnavailable
from trainql.playground.page import assets_router, playground_response
from trainql.schema.context import GraphQLContext, authenticate_connection, build_context
from trainql.schema.root import build_schema
from trainql.services import Services


class BatchRefused(Exception):
    """A batch request the server will not run; answered 400 with a GraphQL error body."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class BoundedTransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws whose per-connection limit is refused with a coded error that
    names the limit (Strawberry's own refusal has no `extensions.code`), whose socket is
    closed with 4403 once the token it authenticated with is revoked or expires, and with
    1013 (try again later) when the token could not be checked: the database away."""

    _watch_handle: int | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except DatabaseUnavailable as exc:
            # The token could not be checked: 1013 is the WebSocket's "Try Again Later".
            await self.websocket.close(code=1013, reason=exc.message)
            return
        token_id = self.context.ctx.token_id
        if self.connection_acknowledged and token_id is not None:
            watch = self.context.ctx.services.token_watch
            self._watch_handle = watch.watch(token_id, self._token_gone)

    async def _token_gone(self) -> None:
        # As for wrong credentials at connection_init: the client must authenticate again.
        await self.websocket.close(code=4403, reason="Forbidden: the token was revoked or expired")

    async def shutdown(self) -> None:
        if self._watch_handle is not None:
            self.context.ctx.services.token_watch.unwatch(self._watch_handle)
            self._watch_handle = None
        await super().shutdown()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": f"A connection may run at most {limit} operations at "
                            "once (TRAINQL_GRAPHQL_WS_MAX_SUBSCRIPTIONS); complete one or "
                            "open another connection.",
                            "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
                        }
                    ],
                }
            )
            return
        await super().handle_subscribe(message)


class ContextRoute(APIRoute):
    """A route of Strawberry's GET and POST endpoints, answered by its router's `handler`.

    Strawberry declares those endpoints with the context and the root value as FastAPI
    dependencies, which FastAPI solves on every request: 3-4 % of a GraphQL page's CPU for
    two values with nothing to validate. The route stays as declared, so OpenAPI describes it
    as before; `get_route_handler`, FastAPI's point for a route class of one's own, answers
    with the router's handler, which builds the same context directly. (The WebSocket route
    is another class and keeps FastAPI's: a handshake is not a hot path.) So dependencies
    given to this router or to its `include_router` are not solved for these two routes: put
    such a check in the context builder instead.
    """

    handler: Callable[[Request], Coroutine[Any, Any, Response]] | None = None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.handler or super().get_route_handler()


class TrainqlGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
    """Strawberry's router with bounded, well-explained batching, APQ over GET, and
    WebSockets authenticated from `connection_init`."""

    graphql_transport_ws_handler_class = BoundedTransportWSHandler

    def encode_json(self, data: object) -> str:
        # pydantic_core's writer (Rust): a 10,000-row predict answer (80,000 fields) in a
        # fraction of json.dumps' time. Non-ASCII text is written as UTF-8 rather than
        # \u escapes, the same JSON. Text, not bytes: WebSocket messages are sent as what
        # this returns, and graphql-ws clients read text frames only.
        return pydantic_core.to_json(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        # pydantic_core's parser: a 10,000-row predict body in a third of json.loads' time.
        return pydantic_core.from_json(data)

    def __init__(
        self,
        schema: BaseSchema,
        *,
        context_getter: Callable[[HTTPConnection], Awaitable[GraphQLContext]],
        max_batch: int,
        playground_dir: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(schema, context_getter=context_getter, route_class=ContextRoute, **kwargs)
        self.max_batch = max_batch
        self.playground_dir = playground_dir
        self._http_context = context_getter
        for route in self.routes:
            if isinstance(route, ContextRoute):
                route.handler = self._serve_http
                route.app = request_response(self._serve_http)
        self.include_router(assets_router(playground_dir))

    async def _serve_http(self, request: Request) -> Response:
        """What Strawberry's GET and POST endpoints do, with the context FastAPI's
        dependencies would have given them: ours, carrying the request, a sub-response
        (FastAPI's: no content-length, no status until a resolver sets one) and the
        background tasks, which run after the response as FastAPI runs them."""
        context = await self._http_context(request)
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        tasks = BackgroundTasks()
        context.request = request
        context.response = sub_response
        context.background_tasks = tasks
        # Strawberry's get_sub_response reads it, before the operation's first await.
        self.temporal_response = sub_response
        # `run` answers Strawberry's own refusals itself (a GraphQL-shaped body), so the
        # plain-text answer of Strawberry's endpoints is not needed here.
        response = await self.run(request, context=context, root_value=None)
        if response.background is None:
            response.background = tasks
        return response

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return playground_response(request, self.playground_dir, self.graphql_ide_html)

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        try:
            await authenticate_connection(context)
        except AuthenticationError as exc:
            # graphql-transport-ws closes the socket with 4403 Forbidden.
            raise ConnectionRejectionError({"message": exc.message}) from exc
        return UnsetType()  # the singleton UNSET, typed: a connection_ack without payload

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Apollo Client 3 sends `Accept: */*`, so a hash-only APQ GET (no `query`) would
        # otherwise get GraphiQL's HTML page.
        if request.query_params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        # Strawberry's, with the shapes checked that it takes on trust (a `map` that is a
        # list, a path that is a number, `operations` that is a string: each an error 500).
        try:
            form_data = await request.get_form_data()
        except ValueError as exc:
            raise StrawberryRefusal(400, "Unable to parse the multipart body") from exc
        operations = self.parse_json(_text_field(form_data.form, "operations", "{}"))
        files_map = self.parse_json(_text_field(form_data.form, "map", "{}"))
        if not isinstance(operations, dict | list) or (
            isinstance(operations, list) and not all(isinstance(op, dict) for op in operations)
        ):
            raise StrawberryRefusal(400, MULTIPART_OPERATIONS)
        if not isinstance(files_map, dict) or not all(
            isinstance(paths, list) and all(isinstance(path, str) for path in paths)
            for paths in files_map.values()
        ):
            raise StrawberryRefusal(400, MULTIPART_MAP)
        try:
            # Typed as taking a dict, but a batch's list of operations works the same.
            operations_ = cast(dict[str, Any], operations)
            return replace_placeholders_with_files(operations_, files_map, form_data.files)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            # A file part that is missing, or a path that leads nowhere in `operations`.
            raise StrawberryRefusal(400, "File(s) missing in form data") from exc

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry refuses what is not JSON; what is JSON but cannot be read (too deep for
        # the parser's recursion: a multipart `operations` field is not bounded by the
        # request guard; a number past Python's int digit limit) is the client's too.
        try:
            return self.decode_json(data)
        except ValueError as exc:
            reason = str(exc)
            if reason.startswith("recursion limit exceeded"):
                raise StrawberryRefusal(400, JSON_TOO_DEEP) from exc
            if reason.startswith("number out of range"):  # an integer of too many digits
                raise StrawberryRefusal(400, JSON_NUMBER_TOO_LONG) from exc
            # Strawberry's own refusal of what is not JSON
            raise StrawberryRefusal(400, "Unable to parse request body as JSON") from exc

    def _validate_batch_request(
        self, request_data: list[Any], protocol: GraphQLRequestProtocol
    ) -> None:
        if self.max_batch == 0:
            raise BatchRefused(
                "Batched operations are disabled on this server (TRAINQL_GRAPHQL_MAX_BATCH = 0);"
                " send one operation per request.",
                "BATCHING_DISABLED",
            )
        if len(request_data) > self.max_batch:
            raise BatchRefused(
                f"A batch may hold at most {self.max_batch} operations; this one has "
                f"{len(request_data)} (limit TRAINQL_GRAPHQL_MAX_BATCH = {self.max_batch}).",
                "BATCH_TOO_LARGE",
            )
        if not request_data:
            raise BatchRefused("A batch must hold at least one operation.", "BAD_REQUEST")
        for index, item in enumerate(request_data):
            if not isinstance(item, dict):
                raise BatchRefused(
                    f"Batch item {index} is not an object with `query`, `variables`, "
                    "`operationName` and `extensions`.",
                    "BAD_REQUEST",
                )
            for key, kind in (("query", str), ("variables", dict), ("extensions", dict)):
                if item.get(key) is not None and not isinstance(item[key], kind):
                    expected = "a string" if kind is str else "an object"
                    raise BatchRefused(
                        f"Batch item {index}: `{key}` must be {expected} or null.", "BAD_REQUEST"
                    )
        super()._validate_batch_request(request_data, protocol)

    async def run(  # type: ignore[override]
        self, request: Request, context: Any = UNSET, root_value: Any = UNSET
    ) -> Response:
        try:
            return await super().run(request, context=context, root_value=root_value)
        except BatchRefused as refused:
            body = {"errors": [{"message": refused.message, "extensions": {"code": refused.code}}]}
            return JSONResponse(body, status_code=400)
        except StarletteHTTPException as refused:
            # Starlette's form parser refusing a multipart body (no boundary, malformed).
            body = {"errors": [{"message": refused.detail, "extensions": {"code": "BAD_REQUEST"}}]}
            return JSONResponse(body, status_code=refused.status_code)
        except StrawberryRefusal as refused:
            # Strawberry's own refusals (a body that is not JSON, no query, GET for a
            # mutation, ...) are plain text otherwise; GraphQL clients read a GraphQL body.
            code = _HTTP_REFUSAL_CODES.get(refused.status_code, "BAD_REQUEST")
            explanations = _GET_EXPLANATIONS if request.method == "GET" else _EXPLANATIONS
            message = explanations.get(refused.reason, refused.reason)
            body = {"errors": [{"message": message, "extensions": {"code": code}}]}
            return JSONResponse(body, status_code=refused.status_code)


JSON_TOO_DEEP = "The JSON is nested too deeply to be read; flatten it."
MULTIPART_OPERATIONS = (
    'The multipart `operations` field must be a JSON object {"query", "variables", ...} '
    "or an array of them."
)
MULTIPART_MAP = (
    "The multipart `map` field must be a JSON object mapping each file part's name to a list "
    'of paths in `operations`, e.g. {"0": ["variables.file"]}.'
)


def _text_field(form: Any, name: str, default: str) -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise StrawberryRefusal(400, f"The multipart `{name}` field must be text, not a file.")
    return value


JSON_NUMBER_TOO_LONG = (
    f"The JSON holds a number of more than {sys.get_int_max_str_digits()} digits, which no "
    "field accepts."
)
# Strawberry's terse refusals, said with what is allowed.
_EXPLANATIONS = {
    "Unable to parse request body as JSON": "The request body is not valid JSON; send a JSON "
    'object {"query": ..., "variables": ..., "operationName": ...} (or an array of them).',
    "Unsupported content type": "This Content-Type is not accepted for GraphQL: send "
    "application/json, multipart/form-data for uploads, or use GET for queries.",
    "No GraphQL query found in the request": "No GraphQL query found in the request: send "
    "`query` (or a persisted query's hash in `extensions`).",
}
_GET_EXPLANATIONS = {
    **_EXPLANATIONS,
    "Unable to parse request body as JSON": "The `variables` or `extensions` query parameter "
    "is not valid JSON; send each as a JSON object.",
}
_HTTP_REFUSAL_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def build_graphql_router(services: Services) -> TrainqlGraphQLRouter:
    """The /graphql router of one app: its schema (the settings' limits, APQ on the store
    for this database), context, subscriptions over graphql-transport-ws (origin-checked,
    bounded), GraphiQL and multipart uploads."""
    settings = services.settings

    async def graphql_context(connection: HTTPConnection) -> GraphQLContext:
        return await build_context(services, connection)

    return TrainqlGraphQLRouter(
        build_schema(settings, persisted_queries=services.persisted_queries),
        context_getter=graphql_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=settings.graphql_ws_init_timeout_s),
        max_subscriptions_per_connection=settings.graphql_ws_max_subscriptions,
        # An empty list: only same-origin pages (and clients sending no Origin) may connect.
        allowed_origins=settings.cors_origins,
        graphql_ide="graphiql",
        multipart_uploads_enabled=True,
        max_batch=settings.graphql_max_batch,
        playground_dir=settings.playground_path,
    )
