"""An app with chosen settings, and clients that reach it from chosen client addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from tests.factories import Factory
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.db.login_throttle import ThrottlePolicy, login_throttle_store
from trainql.db.models import ApiTokenRow
from trainql.db.types import utcnow
from trainql.security import token_digest
from trainql.services import Services

LEGACY_BAD_CREDENTIALS = {"non_field_errors": ["Unable to log in with provided credentials."]}
EXPIRED_MESSAGE = (
    "Token expired: tokens are valid for 1 hour after they are issued "
    "(TRAINQL_TOKEN_TTL_HOURS). Obtain a new one with POST /api-token-auth/ or the "
    "obtainToken mutation."
)


@dataclass
class Served:
    app: FastAPI
    services: Services
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def factory(self) -> Factory:
        return Factory(self.services)

    async def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client whose requests come from `address` (the ASGI scope's client)."""
        transport = httpx.ASGITransport(
            app=self.app, raise_app_exceptions=False, client=(address, 50000)
        )
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return await self._stack.enter_async_context(http)


class FakeClock:
    """A clock that moves only when told to: the throttle's waits, measured without sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def throttle_clock(served: Served) -> FakeClock:
    """Give the app's login throttle (its usual store for the database) a FakeClock."""
    clock = FakeClock()
    services = served.services
    policy = ThrottlePolicy.from_settings(services.settings)
    services.login_throttle = login_throttle_store(services.db, policy, clock=clock)
    return clock


@asynccontextmanager
async def serving(settings: Settings, **overrides: Any) -> AsyncIterator[Served]:
    """The app built from `settings` with `overrides` applied, started and stopped."""
    app = create_app(settings.model_copy(update=overrides))
    async with app_lifespan(app):
        served = Served(app=app, services=app.state.services)
        async with served._stack:
            yield served


async def login(
    client: httpx.AsyncClient, username: str, password: str, **kwargs: Any
) -> httpx.Response:
    return await client.post(
        "/api-token-auth/", json={"username": username, "password": password}, **kwargs
    )


async def age_token(services: Services, token: str, age: timedelta) -> None:
    """Make `token` look issued `age` ago."""
    async with services.db.session() as session:
        await session.exec(
            update(ApiTokenRow)
            .where(col(ApiTokenRow.digest) == token_digest(token))
            .values(created_at=utcnow() - age)
        )
