"""Token authentication: the lifetime is counted from issue, and last_used_at is written at
most once a minute per token, whichever worker serves the requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event, update
from sqlmodel import col, select

from tests.auth_support import serving
from tests.factories import Factory
from trainql.config import Settings
from trainql.db import users as user_store
from trainql.db.models import ApiTokenRow
from trainql.db.types import utcnow
from trainql.security import token_digest
from trainql.services import Services

ME = {"query": "{ me { username } }"}


@contextmanager
def token_writes(services: Services) -> Iterator[list[str]]:
    """The UPDATE statements on api_tokens run while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            seen.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def last_used_at(services: Services, token: str) -> datetime | None:
    async with services.db.session() as session:
        statement = select(ApiTokenRow.last_used_at).where(
            col(ApiTokenRow.digest) == token_digest(token)
        )
        return (await session.exec(statement)).one()


async def set_last_used_at(services: Services, token: str, when: datetime) -> None:
    async with services.db.session() as session:
        await session.exec(
            update(ApiTokenRow)
            .where(col(ApiTokenRow.digest) == token_digest(token))
            .values(last_used_at=when)
        )


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: a token never used
    account = await factory.manager("mo")
    assert await last_used_at(services, account.token) is None
    # when: ten requests in a row
    before = utcnow()
    with token_writes(services) as writes:
        for _ in range(10):
            response = await client.post("/graphql", json=ME, headers=account.headers)
            assert response.json() == {"data": {"me": {"username": "mo"}}}
    # then: the first wrote last_used_at, the others did not
    assert len(writes) == 1
    first = await last_used_at(services, account.token)
    assert first is not None
    assert first >= before
    # when: the last write is more than a minute old
    await set_last_used_at(services, account.token, utcnow() - timedelta(seconds=61))
    with token_writes(services) as writes:
        for _ in range(3):
            await client.get("/api/training/runs/", headers=account.headers)
    # then: one more write
    assert len(writes) == 1
    second = await last_used_at(services, account.token)
    assert second is not None
    assert second >= before


async def test_a_token_touched_by_another_worker_is_not_written_again(settings: Settings):
    # given: two apps on one database (two workers) that both read the token as never used
    async with serving(settings) as first, serving(settings) as second:
        account = await first.factory.manager("mo")
        digest = token_digest(account.token)
        async with first.services.db.read() as conn:
            seen_by_first = await user_store.get_token_by_digest(conn, digest=digest)
        async with second.services.db.read() as conn:
            seen_by_second = await user_store.get_token_by_digest(conn, digest=digest)
        assert seen_by_first and seen_by_second
        assert seen_by_first.last_used_at is None and seen_by_second.last_used_at is None
        # when: the second writes first, then the first writes from its stale read
        written = utcnow() - timedelta(seconds=5)
        for served, token, at in ((second, seen_by_second, written), (first, seen_by_first, None)):
            now = at or utcnow()
            async with served.services.db.session() as session:
                await user_store.touch_token(
                    session, token_id=token.id, at=now, unless_since=now - timedelta(minutes=1)
                )
        # then: the row keeps the second's write
        assert await last_used_at(first.services, account.token) == written


async def test_the_lifetime_counts_from_issue_not_from_last_use(settings: Settings):
    async with serving(settings, token_ttl_hours=2.0) as served:
        # given: a token issued 2 h ago and used a moment ago
        account = await served.factory.manager("mo")
        async with served.services.db.session() as session:
            await session.exec(
                update(ApiTokenRow)
                .where(col(ApiTokenRow.digest) == token_digest(account.token))
                .values(created_at=utcnow() - timedelta(hours=2), last_used_at=utcnow())
            )
        client = await served.client()
        # when
        response = await client.get("/api/training/runs/", headers=account.headers)
    # then
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Token expired: tokens are valid for 2 hours")


async def test_a_token_just_inside_its_lifetime_works(settings: Settings):
    async with serving(settings, token_ttl_hours=2.0) as served:
        account = await served.factory.manager("mo")
        async with served.services.db.session() as session:
            await session.exec(
                update(ApiTokenRow)
                .where(col(ApiTokenRow.digest) == token_digest(account.token))
                .values(created_at=utcnow() - timedelta(hours=2) + timedelta(seconds=30))
            )
        client = await served.client()
        response = await client.get("/api/training/runs/", headers=account.headers)
    assert response.status_code == 200
