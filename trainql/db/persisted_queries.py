"""The shared store of automatic persisted queries: one row per SHA-256 of a query text."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import PersistedQueryRow


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
