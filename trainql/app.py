"""create_app(): FastAPI with the GraphQL router at /graphql and the legacy REST routes."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from trainql import __version__
from trainql.config import Settings, get_settings
from trainql.console.router import console_router
from trainql.db import migrate
from trainql.errors import PayloadTooLarge
from trainql.http.cors import install_cors
from trainql.http.request_guard import RequestGuard, RequestLimits, RouteBodyLimit
from trainql.http.security_headers import SecurityHeaders
from trainql.playground.swagger import docs_router
from trainql.rest_compat import auth as rest_auth
from trainql.rest_compat import datasets as rest_datasets
from trainql.rest_compat import predictions as rest_predictions
from trainql.rest_compat import training as rest_training
from trainql.rest_compat.errors import error_body as rest_error_body
from trainql.rest_compat.errors import install_error_handlers
from trainql.schema.errors import request_error_body as graphql_request_error_body
from trainql.schema.router import build_graphql_router
from trainql.services import Services

logger = logging.getLogger("trainql")

OPENAPI_URL = "/api/openapi.json"


class StaleDatabaseError(RuntimeError):
    pass


def check_schema_revision(settings: Settings) -> None:
    """Refuse to serve a database whose schema is not at our newest migration."""
    current, head = migrate.current_revision(settings.database_url), migrate.head_revision()
    if current != head:
        raise StaleDatabaseError(
            f"The database is at schema revision {current or 'none'}, this trainql needs "
            f"{head}. Run `trainql migrate` (`trainql serve` does it on start)."
        )


# Room per row in a JSON prediction body: a row of the default dataset is about 330 bytes.
PREDICT_BODY_BYTES_PER_ROW = 2048
PREDICT_PATHS = re.compile(r"/api/(training/runs/[^/]+|models/[^/]+)/predict/?")


def predict_body_limit(settings: Settings) -> RouteBodyLimit:
    """The REST prediction routes take JSON bodies of TRAINQL_PREDICT_MAX_ROWS rows of 2 KB
    each (20 MB at the default 10,000), or TRAINQL_MAX_BODY_KB when that is larger."""
    max_bytes = max(
        settings.max_body_kb * 1024, settings.predict_max_rows * PREDICT_BODY_BYTES_PER_ROW
    )
    return RouteBodyLimit(
        path=PREDICT_PATHS,
        max_bytes=max_bytes,
        refusal=PayloadTooLarge.predict_body(max_bytes, settings.predict_max_rows),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application. Pass `settings` to override the environment (tests do)."""
    settings = settings or get_settings()
    services = Services.create(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        check_schema_revision(settings)
        try:
            await services.start()
            yield
        finally:
            await services.stop()
            await services.db.dispose()

    app = FastAPI(
        title="trainql",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # playground/swagger.py serves it, from local files when installed
        redoc_url=None,
        openapi_url=OPENAPI_URL,
    )
    app.state.services = services
    install_error_handlers(app)
    # Inside CORS (added after it), so its refusals carry the CORS headers too.
    app.add_middleware(
        RequestGuard,
        limits=RequestLimits(
            max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
            max_body_bytes=settings.max_body_kb * 1024,
            max_json_depth=settings.max_json_depth,
            route_bodies=(predict_body_limit(settings),),
        ),
        graphql_path="/graphql",
        rest_error_body=rest_error_body,
        graphql_error_body=graphql_request_error_body,
    )
    install_cors(app, settings.cors_origins)
    # Outermost, so every answer carries them, refusals and CORS preflights included.
    app.add_middleware(SecurityHeaders)

    app.include_router(build_graphql_router(services), prefix="/graphql")
    app.include_router(rest_auth.router)
    app.include_router(rest_training.router)
    app.include_router(rest_datasets.router)
    app.include_router(rest_predictions.router)
    app.include_router(console_router())
    app.include_router(
        docs_router(
            settings.playground_path, openapi_url=OPENAPI_URL, title=f"{app.title} - Swagger UI"
        )
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if await services.db.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    return app
