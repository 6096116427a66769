"""A service with other GraphQL limits, and the refusal a limit answers (tests/schema)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings


@asynccontextmanager
async def app_with(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app on `settings` with `overrides` (e.g. graphql_max_depth)."""
    app = create_app(settings.model_copy(update=overrides))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of an answer refused by a limit (QUERY_TOO_COMPLEX, no data)."""
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    return dict(error)
