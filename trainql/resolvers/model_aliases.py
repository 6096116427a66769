"""Model aliases, the way teams promote a model: "production" names one COMPLETED run.

HR_STAFF set and delete aliases; HR_STAFF or MANAGER list them, see a run's aliases and
read the log of changes. An alias is moved in one transaction that also logs the change
(db/model_aliases.py says why readers never see it half-moved).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import anyio.to_thread

from trainql import storage_root
from trainql.db import model_aliases as alias_store
from trainql.db import training_runs as run_store
from trainql.db.engine import ConstraintViolation
from trainql.db.types import utcnow
from trainql.domain import ModelAlias, ModelAliasChange, TrainingRun, TrainingRunStatus
from trainql.errors import InvalidInput, ModelUnavailable, NotFound
from trainql.resolvers.context import Context
from trainql.resolvers.permissions import IS_HR_STAFF, IS_HR_STAFF_OR_MANAGER, require
from trainql.resolvers.predictions import check_servable
from trainql.resolvers.training_runs import parse_run_id

# An alias is a path segment of `/api/models/{alias}/predict/` and a CLI argument: it starts
# with a letter or digit (so never `.`, `..` or an option such as `-x`).
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ALIAS_RULE = (
    "1 to 64 characters: letters A-Z and a-z, digits, '.', '_' and '-', starting with a "
    "letter or a digit"
)
DEFAULT_CHANGES = 20
MAX_CHANGES = 100


def validate_alias(alias: str) -> str:
    """`alias` when it is a valid alias name (ALIAS_RULE), else InvalidInput saying the rule."""
    if ALIAS_PATTERN.fullmatch(alias) is None:
        shown = alias if len(alias) <= 80 else alias[:80] + "..."
        message = f"{shown!r} is not a valid alias name: use {ALIAS_RULE}."
        raise InvalidInput(message, fields={"alias": [f"Must be {ALIAS_RULE}."]})
    return alias


async def set_model_alias(*, ctx: Context, alias: str, training_run_id: str | int) -> ModelAlias:
    """Point `alias` at the run (creating the alias or moving it), for HR_STAFF only, and log
    the change: who, when, from which run to which. Setting an alias to the run it already
    points at changes and logs nothing.

    NotFound for an unknown run; InvalidInput for a bad alias name, a run that is not
    COMPLETED, one whose model file is not in the model store, or one predictions would
    refuse (trained before models' digests were recorded). Nothing is written then.
    """
    user = require(ctx, IS_HR_STAFF)
    validate_alias(alias)
    run = await _run_for_alias(ctx, training_run_id)
    await _require_model_file(run)
    try:
        check_servable(run)
    except ModelUnavailable as unusable:
        # Predictions would refuse it: an alias names a model that can be used.
        raise InvalidInput(unusable.message, fields={"trainingRunId": [unusable.message]}) from None
    try:
        async with ctx.db.session() as session:
            written = await alias_store.set_model_alias(
                session,
                alias=alias,
                training_run_id=run.id,
                changed_by_id=user.id,
                now=utcnow(),
            )
    except ConstraintViolation:
        # The run was deleted (directly in the database) since it was read.
        raise _no_such_run(training_run_id) from None
    return ModelAlias(
        alias=alias,
        training_run=run,
        updated_at=written.updated_at,
        updated_by_id=written.updated_by_id,
    )


async def delete_model_alias(*, ctx: Context, alias: str) -> bool:
    """Delete `alias`, for HR_STAFF only, and log it (to: none). True when it was deleted,
    False when there was no such alias (nothing is logged then): deleting is idempotent, so
    two clients removing one alias at once both succeed. A bad alias name is InvalidInput."""
    user = require(ctx, IS_HR_STAFF)
    validate_alias(alias)
    async with ctx.db.session() as session:
        removed = await alias_store.delete_model_alias(
            session, alias=alias, changed_by_id=user.id, now=utcnow()
        )
    return removed is not None


async def list_model_aliases(*, ctx: Context) -> list[ModelAlias]:
    """Every alias with its run, by name, for HR_STAFF or MANAGER."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    async with ctx.db.read() as conn:
        return await alias_store.list_model_aliases(conn)


async def aliases_of_training_runs(*, ctx: Context, run_ids: Sequence[int]) -> dict[int, list[str]]:
    """The aliases of each run, by name (none: an empty list), for HR_STAFF or MANAGER; one
    statement for any number of runs."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    async with ctx.db.read() as conn:
        return await alias_store.aliases_by_training_run_ids(conn, run_ids=run_ids)


async def list_model_alias_changes(
    *,
    ctx: Context,
    alias: str | None = None,
    first: int | None = None,
    before: str | int | None = None,
) -> list[ModelAliasChange]:
    """The log of alias changes, newest first, for HR_STAFF or MANAGER: those of `alias`
    (None: every alias, deleted ones included), `first` of them (1 to 100, default 20),
    older than the change with id `before` when given (the next page)."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    if alias is not None:
        validate_alias(alias)
    limit = DEFAULT_CHANGES if first is None else first
    if not 1 <= limit <= MAX_CHANGES:
        message = f"first must be between 1 and {MAX_CHANGES}, got {limit}."
        raise InvalidInput(message, fields={"first": [f"Must be between 1 and {MAX_CHANGES}."]})
    before_id = None
    if before is not None:
        try:
            before_id = parse_run_id(before)  # the same rule: a positive integer id
        except NotFound:
            message = f"before must be the id of a change (a positive integer), got {before!r}."
            raise InvalidInput(message, fields={"before": [message]}) from None
    async with ctx.db.read() as conn:
        return await alias_store.list_model_alias_changes(
            conn, alias=alias, limit=limit, before_id=before_id
        )


def _no_such_run(raw: str | int) -> NotFound:
    return NotFound(f"There is no training run with id {str(raw)[:80]!r}.")


async def _run_for_alias(ctx: Context, raw: str | int) -> TrainingRun:
    try:
        run_id = parse_run_id(raw)
    except NotFound:
        raise _no_such_run(raw) from None
    async with ctx.db.read() as conn:
        run = await run_store.get_training_run(conn, run_id=run_id)
    if run is None:
        raise _no_such_run(raw)
    if run.status != TrainingRunStatus.COMPLETED:
        message = (
            f"Training run {run.id} is {run.status.value}: only a COMPLETED run can be given "
            "an alias."
        )
        raise InvalidInput(message, fields={"trainingRunId": [message]})
    return run


async def _require_model_file(run: TrainingRun) -> None:
    # A look at the model store: a local stat or an object store request, off the event loop.
    location = run.model_path
    found = (
        None if location is None else await anyio.to_thread.run_sync(storage_root.kind_of, location)
    )
    if found != "file":
        message = (
            f"The model file of training run {run.id} ({run.model_version}) is gone from the "
            "model store (TRAINQL_MODEL_DIR): an alias must name a model that can be used. "
            "Train the model again, or choose another run."
        )
        raise InvalidInput(message, fields={"trainingRunId": [message]})
