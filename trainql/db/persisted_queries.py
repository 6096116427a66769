"""Where automatic persisted queries are kept: the `persisted_queries` table (one row per
SHA-256 of a query text, shared by every process on PostgreSQL) behind an in-process LRU, or
the LRU alone (SQLite). Both hold at most `apq_cache_size` queries, least recently used going
first."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.engine import Database
from trainql.db.models import PersistedQueryRow
from trainql.db.types import utcnow


async def get_persisted_query(session: AsyncSession, *, sha256: str) -> tuple[str, datetime] | None:
    """The query text and when it was last used, or None when the hash is unknown."""
    statement = select(PersistedQueryRow.query, PersistedQueryRow.last_used_at).where(
        col(PersistedQueryRow.sha256) == sha256
    )
    row = (await session.exec(statement)).first()
    return None if row is None else (row[0], row[1])


async def touch_persisted_query(session: AsyncSession, *, sha256: str, now: datetime) -> None:
    """Mark the query used at `now` (its place in the least-recently-used order)."""
    await session.exec(
        sa.update(PersistedQueryRow)
        .where(col(PersistedQueryRow.sha256) == sha256)
        .values(last_used_at=now)
    )


async def save_persisted_query(
    session: AsyncSession, *, sha256: str, query: str, now: datetime, keep: int
) -> None:
    """Insert (or refresh) a query, then delete the least recently used beyond `keep`."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(PersistedQueryRow).values(sha256=sha256, query=query, last_used_at=now)
    await session.exec(
        upsert.on_conflict_do_update(
            index_elements=["sha256"], set_={"last_used_at": upsert.excluded.last_used_at}
        )
    )
    beyond = (
        select(PersistedQueryRow.sha256)
        .order_by(col(PersistedQueryRow.last_used_at).desc(), col(PersistedQueryRow.sha256))
        .offset(keep)
    )
    await session.exec(
        sa.delete(PersistedQueryRow).where(col(PersistedQueryRow.sha256).in_(beyond))
    )


async def count_persisted_queries(session: AsyncSession) -> int:
    """How many queries the table holds."""
    return int((await session.exec(select(sa.func.count()).select_from(PersistedQueryRow))).one())


class PersistedQueryStore(Protocol):
    """Where persisted queries live; `get` also counts as a use for the LRU order."""

    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, query: str) -> None: ...


class MemoryPersistedQueryStore:
    """An LRU of at most `capacity` queries in this process."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._queries: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._queries)

    async def get(self, sha256: str) -> str | None:
        query = self._queries.get(sha256)
        if query is not None:
            self._queries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        self._queries[sha256] = query
        self._queries.move_to_end(sha256)
        while len(self._queries) > self.capacity:
            self._queries.popitem(last=False)


class DatabasePersistedQueryStore:
    """The `persisted_queries` table, with an in-process LRU in front.

    A hit in the front LRU costs no query; `last_used_at` (the table's LRU order) is
    written at most once per `touch_interval` per hash and process, not on every read.
    """

    def __init__(
        self, db: Database, capacity: int, *, touch_interval: timedelta = timedelta(minutes=1)
    ) -> None:
        self.db = db
        self.capacity = capacity
        self.touch_interval = touch_interval
        # sha256 -> (query, when this process last wrote last_used_at)
        self._front: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        now = utcnow()
        cached = self._front.get(sha256)
        if cached is not None:
            query, touched = cached
            if now - touched >= self.touch_interval:
                async with self.db.session() as session:
                    await touch_persisted_query(session, sha256=sha256, now=now)
                touched = now
            self._remember(sha256, query, touched)
            return query
        async with self.db.session() as session:
            found = await get_persisted_query(session, sha256=sha256)
            if found is None:
                return None
            query, touched = found
            if now - touched >= self.touch_interval:
                await touch_persisted_query(session, sha256=sha256, now=now)
                touched = now
        self._remember(sha256, query, touched)
        return query

    async def put(self, sha256: str, query: str) -> None:
        now = utcnow()
        cached = self._front.get(sha256)
        if cached is not None and cached[0] == query and now - cached[1] < self.touch_interval:
            # Clients that always send the query with its hash would otherwise cost a
            # write each time.
            self._remember(sha256, query, cached[1])
            return
        async with self.db.session() as session:
            await save_persisted_query(
                session, sha256=sha256, query=query, now=now, keep=self.capacity
            )
        self._remember(sha256, query, now)

    def _remember(self, sha256: str, query: str, touched: datetime) -> None:
        self._front[sha256] = (query, touched)
        self._front.move_to_end(sha256)
        while len(self._front) > self.capacity:
            self._front.popitem(last=False)


def persisted_query_store(db: Database, capacity: int) -> PersistedQueryStore:
    """The shared table on PostgreSQL; on SQLite an in-process LRU (each worker process
    learns each query once: a client retries a miss with the full query, so a miss costs
    one round trip, never a failure)."""
    if db.dialect == "postgresql":
        return DatabasePersistedQueryStore(db, capacity)
    return MemoryPersistedQueryStore(capacity)
