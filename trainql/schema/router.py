"""The GraphQL endpoint at /graphql: Strawberry's FastAPI router, configured for our clients.

Beyond Strawberry's defaults: batches (a JSON array of operations, as Apollo's
BatchHttpLink sends) are bounded by `graphql_max_batch` and refused with a GraphQL-shaped
400 body naming the limit; a GET carrying `extensions` (an APQ hash-only query) runs the
query instead of answering GraphiQL's page, whatever the Accept header says. GraphiQL's
page loads its assets from this server when they are installed (schema/playground.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, JSONResponse
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestProtocol
from strawberry.http.base import BaseRequestProtocol
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from trainql.resolvers.context import Services
from trainql.schema.context import GraphQLContext, build_context
from trainql.schema.persisted_queries import persisted_query_store
from trainql.schema.playground import assets_router, playground_response
from trainql.schema.root import build_schema


class BatchRefused(Exception):
    """A batch request the server will not run; answered 400 with a GraphQL error body."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TrainqlGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
    """Strawberry's router with bounded, well-explained batching and APQ over GET."""

    def __init__(self, *args: Any, max_batch: int, playground_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_batch = max_batch
        self.playground_dir = playground_dir
        self.include_router(assets_router(playground_dir))

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return playground_response(request, self.playground_dir, self.graphql_ide_html)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Apollo Client 3 sends `Accept: */*`, so a hash-only APQ GET (no `query`) would
        # otherwise get GraphiQL's HTML page.
        if request.query_params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

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


def build_graphql_router(services: Services) -> TrainqlGraphQLRouter:
    """The /graphql router of one app: its schema (the settings' limits, APQ on the store
    for this database), context, subscriptions over graphql-transport-ws, GraphiQL and
    multipart uploads. The APQ store is also kept as `services.extras["persisted_queries"]`."""
    settings = services.settings
    store = persisted_query_store(services)
    services.extras["persisted_queries"] = store

    async def graphql_context(connection: HTTPConnection) -> GraphQLContext:
        return await build_context(services, connection)

    return TrainqlGraphQLRouter(
        build_schema(settings, persisted_queries=store),
        context_getter=graphql_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        graphql_ide="graphiql",
        multipart_uploads_enabled=True,
        max_batch=settings.graphql_max_batch,
        playground_dir=settings.playground_path,
    )
