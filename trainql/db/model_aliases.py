"""Model aliases: names pointing at one COMPLETED run each, and the log of their changes.

A change of an alias (create, move, delete) is one statement on the alias's row, made in
the same transaction as its log row:

- Readers (`training_run_id_for_alias`) read the one row, so they see the alias before a
  move or after it, never between, on SQLite (WAL: readers see the last committed state)
  and PostgreSQL (the UPDATE replaces the row version in one commit).
- Writers never read before they write. The move is an upsert (`INSERT ... ON CONFLICT DO
  UPDATE`) that returns what it replaced, so two calls on the same alias at the same time
  never fail with a unique violation, and each logs the run it really moved the alias from:
  on PostgreSQL the second waits on the first's row lock and then updates the row the first
  committed; on SQLite the upsert, being a write, takes the database's one write lock
  before it reads the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import ModelAliasChangeRow, ModelAliasRow, TrainingRunRow
from trainql.db.training_runs import TRAINER_PREFIX, run_to_domain, with_trainer_statement
from trainql.db.users import user_from_columns
from trainql.domain import ModelAlias, ModelAliasChange, TrainingRun

_ALIASES = ModelAliasRow.__table__  # type: ignore[attr-defined]
_ALIAS_PREFIX = "alias_"


async def training_run_id_for_alias(conn: AsyncConnection, alias: str) -> int | None:
    """The id of the run `alias` points at now, or None when there is no such alias. One
    row read: an alias moved concurrently is seen before or after the move, never between."""
    found = await conn.execute(
        select(ModelAliasRow.training_run_id).where(ModelAliasRow.alias == alias)
    )
    return found.scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class AliasSet:
    """What `set_model_alias` did: `changed` False when the alias already pointed at the run
    (nothing written, nothing logged); `previous_training_run_id` None when it was created."""

    changed: bool
    previous_training_run_id: int | None
    updated_at: datetime
    updated_by_id: int | None


async def set_model_alias(
    session: AsyncSession,
    *,
    alias: str,
    training_run_id: int,
    changed_by_id: int | None,
    now: datetime,
) -> AliasSet:
    """Create `alias` pointing at `training_run_id`, or move it there, and log the change,
    in the session's transaction (committed by the caller's `Database.session()`). An alias
    already pointing at the run is left as it is. A run that does not exist raises
    ConstraintViolation when the session ends (the foreign key)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(ModelAliasRow).values(
        alias=alias,
        training_run_id=training_run_id,
        updated_at=now,
        updated_by_id=changed_by_id,
        previous_training_run_id=None,
    )
    statement = upsert.on_conflict_do_update(
        index_elements=[_ALIASES.c.alias],
        # Every right-hand side reads the row as it was before this update (SQL's rule, on
        # both databases): `previous` gets the run the alias is moved from.
        set_={
            "previous_training_run_id": _ALIASES.c.training_run_id,
            "training_run_id": upsert.excluded.training_run_id,
            "updated_at": upsert.excluded.updated_at,
            "updated_by_id": upsert.excluded.updated_by_id,
        },
        where=_ALIASES.c.training_run_id != upsert.excluded.training_run_id,
    ).returning(
        _ALIASES.c.previous_training_run_id, _ALIASES.c.updated_at, _ALIASES.c.updated_by_id
    )
    written = (await session.exec(statement)).first()
    if written is None:
        # Already there. The upsert locked the row (PostgreSQL) or took the write lock
        # (SQLite), so this read sees the row the condition was checked against.
        current = (
            await session.exec(
                select(ModelAliasRow.updated_at, ModelAliasRow.updated_by_id).where(
                    ModelAliasRow.alias == alias
                )
            )
        ).one()
        return AliasSet(
            changed=False,
            previous_training_run_id=training_run_id,
            updated_at=current[0],
            updated_by_id=current[1],
        )
    previous, updated_at, updated_by_id = written
    session.add(
        ModelAliasChangeRow(
            alias=alias,
            from_training_run_id=previous,
            to_training_run_id=training_run_id,
            changed_by_id=changed_by_id,
            changed_at=now,
        )
    )
    await session.flush()
    return AliasSet(
        changed=True,
        previous_training_run_id=previous,
        updated_at=updated_at,
        updated_by_id=updated_by_id,
    )


async def delete_model_alias(
    session: AsyncSession, *, alias: str, changed_by_id: int | None, now: datetime
) -> int | None:
    """Delete `alias` and log it (to: NULL), in the session's transaction; the id of the run
    it pointed at, or None when there was no such alias (nothing logged then)."""
    removed = (
        await session.exec(
            sa.delete(ModelAliasRow)
            .where(col(ModelAliasRow.alias) == alias)
            .returning(col(ModelAliasRow.training_run_id))
        )
    ).scalar_one_or_none()
    if removed is None:
        return None
    session.add(
        ModelAliasChangeRow(
            alias=alias,
            from_training_run_id=removed,
            to_training_run_id=None,
            changed_by_id=changed_by_id,
            changed_at=now,
        )
    )
    await session.flush()
    return int(removed)


def _with_runs() -> Any:
    # The run's columns (without its details) and its trainer's, as every list of runs reads
    # them, and the alias's own under a prefix (both tables have `updated_at`).
    return (
        with_trainer_statement(details=False)
        .add_columns(
            col(ModelAliasRow.alias).label(_ALIAS_PREFIX + "alias"),
            col(ModelAliasRow.updated_at).label(_ALIAS_PREFIX + "updated_at"),
            col(ModelAliasRow.updated_by_id).label(_ALIAS_PREFIX + "updated_by_id"),
        )
        .join(ModelAliasRow, col(ModelAliasRow.training_run_id) == col(TrainingRunRow.id))
    )


def _alias_to_domain(row: sa.Row[Any]) -> ModelAlias:
    columns = row._mapping
    run: TrainingRun = run_to_domain(row, user_from_columns(row, TRAINER_PREFIX), details=False)
    return ModelAlias(
        alias=columns[_ALIAS_PREFIX + "alias"],
        training_run=run,
        updated_at=columns[_ALIAS_PREFIX + "updated_at"],
        updated_by_id=columns[_ALIAS_PREFIX + "updated_by_id"],
    )


async def list_model_aliases(conn: AsyncConnection) -> list[ModelAlias]:
    """Every alias with its run (and the run's trainer), by name; one statement."""
    found = await conn.execute(_with_runs().order_by(col(ModelAliasRow.alias)))
    return [_alias_to_domain(row) for row in found.all()]


async def get_model_alias(conn: AsyncConnection, *, alias: str) -> ModelAlias | None:
    """One alias with its run, or None when there is no such alias."""
    found = await conn.execute(_with_runs().where(col(ModelAliasRow.alias) == alias))
    row = found.first()
    return None if row is None else _alias_to_domain(row)


async def aliases_by_training_run_ids(
    conn: AsyncConnection, *, run_ids: Sequence[int]
) -> dict[int, list[str]]:
    """The aliases of each of `run_ids`, by name (a run without one: an empty list); one
    statement on the training_run_id index."""
    found = await conn.execute(
        select(ModelAliasRow.training_run_id, ModelAliasRow.alias)
        .where(col(ModelAliasRow.training_run_id).in_(list(run_ids)))
        .order_by(col(ModelAliasRow.alias))
    )
    aliases: dict[int, list[str]] = {run_id: [] for run_id in run_ids}
    for run_id, alias in found.all():
        aliases[run_id].append(alias)
    return aliases


async def list_model_alias_changes(
    conn: AsyncConnection, *, alias: str | None, limit: int, before_id: int | None = None
) -> list[ModelAliasChange]:
    """The log, newest first: the changes of `alias` (None: of every alias), at most
    `limit`, only those older than the change `before_id` when given (the next page)."""
    statement = select(ModelAliasChangeRow)
    if alias is not None:
        statement = statement.where(col(ModelAliasChangeRow.alias) == alias)
    if before_id is not None:
        statement = statement.where(col(ModelAliasChangeRow.id) < before_id)
    statement = statement.order_by(col(ModelAliasChangeRow.id).desc()).limit(limit)
    found = await conn.execute(statement)
    return [
        ModelAliasChange(
            id=row.id,
            alias=row.alias,
            from_training_run_id=row.from_training_run_id,
            to_training_run_id=row.to_training_run_id,
            changed_by_id=row.changed_by_id,
            changed_at=row.changed_at,
        )
        for row in found.all()
    ]
