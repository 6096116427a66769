"""Reading training runs."""

from __future__ import annotations

from trainql.db import training_runs as run_store
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
