"""Token authentication: the lifetime is counted from issue, last_used_at is written at most
once a minute per token, whichever worker serves the requests, and a found token is kept in
memory for less than a second per process (what that saves, and how soon revocation wins)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, delete, pool, update
from sqlmodel import col, select

from tests.auth_support import serving
from tests.factories import Factory, graphql
from tests.live import live_server, settings_env
from tests.statements import counted_statements, on_every_statement
from trainql.config import Settings
from trainql.db import users as user_store
from trainql.db.engine import sync_url
from trainql.db.models import ApiTokenRow, UserRow
from trainql.db.types import utcnow
from trainql.domain import ApiToken, Role, User
from trainql.errors import AuthenticationError
from trainql.resolvers.auth import TOKEN_CACHE_TTL_S, TokenCache, authenticate
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

    with on_every_statement(services, record):
        yield seen


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
    # when: the last write is more than a minute old (and this process's cached copy of
    # the token, which does not know it, has expired)
    await set_last_used_at(services, account.token, utcnow() - timedelta(seconds=61))
    await asyncio.sleep(TOKEN_CACHE_TTL_S)
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


# The per-process token cache ------------------------------------------------------------

ME_QUERY = "{ me { username } }"
ALICE = ApiToken(
    id=1,
    user=User(id=1, username="alice", roles=frozenset({Role.MANAGER})),
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    last_used_at=None,
)
BOB = ApiToken(
    id=2,
    user=User(id=2, username="bob", roles=frozenset()),
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    last_used_at=None,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_cache_answers_until_its_ttl_from_the_lookup_start():
    # given a lookup that started at 100.0 and finished later
    clock = Clock()
    cache = TokenCache(ttl=1.0, clock=clock)
    started = cache.started()
    clock.now = 100.4
    cache.put("d1", ALICE, looked_up_at=started)
    # when / then: kept until one second after the lookup started, not after it ended
    clock.now = 100.99
    assert cache.get("d1") == ALICE
    clock.now = 101.0
    assert cache.get("d1") is None
    assert cache.get("unknown") is None


def test_full_token_cache_drops_expired_entries_then_the_oldest():
    # given a cache of two, one entry expired
    clock = Clock()
    cache = TokenCache(ttl=1.0, capacity=2, clock=clock)
    cache.put("old", ALICE, looked_up_at=clock.now - 5)
    cache.put("fresh", BOB, looked_up_at=clock.now)
    # when a third comes, the expired one goes
    cache.put("third", ALICE, looked_up_at=clock.now)
    # then
    assert (cache.get("old"), cache.get("fresh"), cache.get("third")) == (None, BOB, ALICE)
    # when a fourth comes and none has expired, the oldest goes
    cache.put("fourth", BOB, looked_up_at=clock.now)
    assert (cache.get("fresh"), cache.get("third"), cache.get("fourth")) == (None, ALICE, BOB)


def test_a_token_revoked_here_is_forgotten_at_once():
    cache = TokenCache(ttl=60)
    cache.put("d1", ALICE, looked_up_at=cache.started())
    cache.put("d2", BOB, looked_up_at=cache.started())
    cache.forget_token(ALICE.id)
    assert (cache.get("d1"), cache.get("d2")) == (None, BOB)


def test_a_touched_token_keeps_its_new_last_use_in_the_cache():
    cache = TokenCache(ttl=60)
    cache.put("d1", ALICE, looked_up_at=cache.started())
    at = datetime(2026, 2, 1, tzinfo=UTC)
    cache.touched("d1", at)
    cached = cache.get("d1")
    assert cached is not None and cached.last_used_at == at and cached.id == ALICE.id


async def test_known_token_is_read_from_the_database_once_per_ttl(
    services: Services, factory: Factory
):
    # given a token checked once
    account = await factory.manager("mo")
    header = f"Token {account.token}"
    first = await authenticate(services, header)
    # when it is checked again at once
    with counted_statements(services) as statements:
        again = await authenticate(services, header)
    # then the same user and token, and no statement ran
    assert first is not None and again == first
    assert first.user == account.user
    assert statements == []


async def test_unknown_token_is_looked_up_every_time(services: Services, factory: Factory):
    # given
    await factory.manager("mo")
    # when a wrong token is sent twice
    for _ in range(2):
        with (
            counted_statements(services) as statements,
            pytest.raises(AuthenticationError, match=r"^Invalid token\.$"),
        ):
            await authenticate(services, "Token " + "0" * 40)
        # then each time reads the database
        assert len(statements) == 1


async def test_revoked_token_is_refused_within_the_ttl(
    client: httpx.AsyncClient, services: Services, factory: Factory
):
    # given a token in use (so cached)
    account = await factory.manager("mo")
    body = await graphql(client, ME_QUERY, headers=account.headers)
    assert body["data"]["me"] == {"username": "mo"}
    # when its row is deleted by another process's hand (straight SQL, no cache told)
    async with services.db.session() as session:
        await session.exec(
            delete(ApiTokenRow).where(col(ApiTokenRow.digest) == token_digest(account.token))
        )
    await asyncio.sleep(TOKEN_CACHE_TTL_S)
    # then both transports refuse it
    body = await graphql(client, ME_QUERY, headers=account.headers)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"] == "Invalid token."
    response = await client.get("/api/training/runs/", headers=account.headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


async def test_deactivated_user_is_refused_within_the_ttl(
    client: httpx.AsyncClient, services: Services, factory: Factory
):
    # given a token in use
    account = await factory.manager("mo")
    response = await client.get("/api/training/runs/", headers=account.headers)
    assert response.status_code == 200
    # when its user is deactivated
    async with services.db.session() as session:
        await session.exec(
            update(UserRow).where(col(UserRow.id) == account.user.id).values(is_active=False)
        )
    await asyncio.sleep(TOKEN_CACHE_TTL_S)
    # then
    response = await client.get("/api/training/runs/", headers=account.headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


@pytest.mark.slow
def test_revoked_token_is_refused_by_every_worker_within_the_ttl(
    empty_database_url: str, tmp_path: Path
):
    # given a live server with two worker processes, each having checked the token
    env = settings_env(
        database_url=empty_database_url,
        state_dir=tmp_path / "state",
        extra={"TRAINQL_ADMIN_PASSWORD": "revocation-test-password"},
    )
    with live_server(env, log_path=tmp_path / "serve.log", args=("--workers", "2")) as server:
        login = httpx.post(
            f"{server.base_url}/api-token-auth/",
            json={"username": "admin", "password": "revocation-test-password"},
        )
        token = login.json()["token"]
        runs = f"{server.base_url}/api/training/runs/"
        headers = {"Authorization": f"Token {token}"}
        # Fresh connections: the kernel hands them to both workers.
        assert {httpx.get(runs, headers=headers).status_code for _ in range(40)} == {200}
        # when the token's row is deleted behind the workers' backs
        engine = create_engine(sync_url(empty_database_url), poolclass=pool.NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(
                    delete(ApiTokenRow).where(col(ApiTokenRow.digest) == token_digest(token))
                )
        finally:
            engine.dispose()
        time.sleep(TOKEN_CACHE_TTL_S)
        # then every request, whichever worker takes it, is refused
        answers = [httpx.get(runs, headers=headers) for _ in range(40)]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["detail"] for a in answers} == {"Invalid token."}
