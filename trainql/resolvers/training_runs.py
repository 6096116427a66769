"""Reading and watching training runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from trainql.db import training_runs as run_store
from trainql.db.engine import Database
from trainql.domain import TrainingRun
from trainql.errors import NotFound
from trainql.resolvers.context import Context
from trainql.resolvers.permissions import IS_HR_STAFF_OR_MANAGER, require


def parse_run_id(raw: str | int) -> int:
    """A run id from a path or a GraphQL ID; anything not a positive integer is NotFound."""
    try:
        run_id = int(raw)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None
    if run_id < 1:
        raise NotFound("Not found.")
    return run_id


async def get_training_run(*, ctx: Context, run_id: str | int) -> TrainingRun:
    """One run, for HR_STAFF or MANAGER; NotFound when there is no such run."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    parsed = parse_run_id(run_id)
    async with ctx.db.session() as session:
        run = await run_store.get_training_run(session, run_id=parsed)
    if run is None:
        raise NotFound("Not found.")
    return run


async def watch_training_run(
    *, ctx: Context, run_id: str | int, poll_interval: float | None = None
) -> AsyncIterator[TrainingRun]:
    """The run now, then again on each status change, ending after COMPLETED or FAILED.

    Permission (HR_STAFF or MANAGER) and existence are checked before this returns, so a
    caller gets UNAUTHENTICATED, FORBIDDEN or NotFound at once rather than from the stream.

    Changes are found by polling the database (every `subscription_poll_interval_s`): the
    run may be trained by any process using the same database, on SQLite as on PostgreSQL.
    Each poll reads one column of one row by primary key; the whole run is read only when
    the status moved. A status that lasts less than one interval (a QUEUED run picked up at
    once) may be skipped; the final status is always emitted.
    """
    first = await get_training_run(ctx=ctx, run_id=run_id)
    interval = (
        poll_interval if poll_interval is not None else ctx.settings.subscription_poll_interval_s
    )
    return _status_changes(ctx.db, first, interval)


async def _status_changes(
    db: Database, first: TrainingRun, interval: float
) -> AsyncIterator[TrainingRun]:
    yield first
    last = first.status
    while not last.is_final:
        await asyncio.sleep(interval)
        async with db.session() as session:
            status = await run_store.get_training_run_status(session, run_id=first.id)
            if status == last:
                continue
            run = await run_store.get_training_run(session, run_id=first.id)
        if run is None:
            raise NotFound("Not found.")
        last = run.status
        yield run
