"""Model aliases: names pointing at one COMPLETED run each, and the log of their changes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from trainql.db.models import ModelAliasRow


async def training_run_id_for_alias(conn: AsyncConnection, alias: str) -> int | None:
    """The id of the run `alias` points at now, or None when there is no such alias. One
    row read: an alias moved concurrently is seen before or after the move, never between."""
    found = await conn.execute(
        select(ModelAliasRow.training_run_id).where(ModelAliasRow.alias == alias)
    )
    return found.scalar_one_or_none()
