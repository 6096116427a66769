"""Training a model: validate the request, record the run, dispatch it, and (unless in the
background) wait for its outcome. Both transports (trainModel and POST /api/training/train/)
and `trainql train` call `train_model`.

The run is recorded QUEUED before anything else happens, and the execution that claims it
(trainql.execution, in this process or on a Dask worker) records its outcome; so a request
that waits reads the outcome from the run's row, whoever trained it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread

from trainql.constants import RANDOM_STATE
from trainql.db import training_runs as run_store
from trainql.db.engine import ConstraintViolation, Database
from trainql.dispatchers import dispatch_run
from trainql.domain import RunFailure, TrainingRun, TrainingRunStatus
from trainql.errors import InvalidInput, TrainingFailed, TrainingStorageFull
from trainql.ml import loading
from trainql.resolvers import datasets
from trainql.resolvers.context import Context
from trainql.resolvers.permissions import IS_HR_STAFF, require
from trainql.services import Services
from trainql.training_request import FieldNames, invalid_message, parse_train_request

logger = logging.getLogger("trainql.training")

# The exit status of a process stopped by TRAINQL_CRASH_BEFORE_DISPATCH (tests only).
CRASH_EXIT_STATUS = 70


@dataclass(frozen=True, slots=True)
class TrainModelResult:
    run: TrainingRun
    message: str


def default_model_version() -> str:
    return "api_v" + datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


def _duplicate_version(model_version: str, names: FieldNames) -> InvalidInput:
    fields = {
        names.spell(("model_version",)): [
            f"A training run with model_version {model_version!r} already exists; choose another."
        ]
    }
    return InvalidInput(invalid_message(fields), fields=fields)


async def _read_run(db: Database, run_id: int) -> TrainingRun:
    async with db.session() as session:
        run = await run_store.get_training_run(session, run_id=run_id)
    assert run is not None
    return run


async def _until_final(services: Services, run: TrainingRun) -> TrainingRun:
    """The run once it is COMPLETED or FAILED, whoever finishes it (this process's
    execution lost it, or was never the one to run it: another execution's outcome)."""
    while not run.status.is_final:
        status = await services.run_statuses.changed(run.id, run.status)
        if status is None:  # runs are never deleted; defensive
            break
        run = await _read_run(services.db, run.id)
    return run


def completion_message(run: TrainingRun) -> str:
    """The message the old API gave for each outcome."""
    if run.status == TrainingRunStatus.COMPLETED:
        return f"Training completed successfully in {run.training_duration_seconds or 0:.2f}s"
    if run.status == TrainingRunStatus.FAILED:
        return f"Training failed: {run.error_message}"
    return (
        f"Training run {run.id} queued; it trains in the background. "
        "Read the run to follow its status."
    )


async def train_model(
    *, ctx: Context, fields: Mapping[str, Any] | None, names: FieldNames
) -> TrainModelResult:
    """Train a model for an HR_STAFF user and record the run.

    `fields` are the request's fields as the transport received them, named as `names`
    says (they become a TrainRequest here, after the permission check, and errors name
    fields the way the caller sent them).

    Invalid input is InvalidInput and an unusable dataset DatasetInvalid: in both cases no
    run is recorded and no file written. Otherwise the run is recorded QUEUED and dispatched
    (it is RUNNING once an execution claims it); the result holds the run as it ended:
    COMPLETED with its metrics, or FAILED with its error message (error_code
    INSUFFICIENT_STORAGE when the model could not be written). In the background the QUEUED
    run is returned at once. A dispatch that cannot be made now (the scheduler away) leaves
    the run QUEUED for a reconciler; a request that waits, waits for it.
    """
    user = require(ctx, IS_HR_STAFF)
    request = parse_train_request(fields, names=names)
    settings = ctx.settings
    model_version = request.model_version or default_model_version()

    async with ctx.db.session() as session:
        if await run_store.model_version_exists(session, model_version=model_version):
            raise _duplicate_version(model_version, names)

    dataset_path = request.dataset_path
    if request.dataset_id is not None:
        # An uploaded dataset: the caller must be allowed to read it (owner, or ownerless).
        uploaded = await datasets.get_dataset(ctx=ctx, dataset_id=request.dataset_id)
        dataset_path = uploaded.file_path

    def check_dataset() -> None:
        # Reads the whole file (and, on an object store, asks it): off the event loop.
        location = loading.resolve_dataset_path(settings.data_location, dataset_path)
        loading.inspect_dataset(
            location,
            display=dataset_path,
            target_column=request.target_column,
            test_split=request.test_split,
        )

    await anyio.to_thread.run_sync(check_dataset)
    try:
        async with ctx.db.session() as session:
            run_id = await run_store.insert_training_run(
                session,
                model_version=model_version,
                status=TrainingRunStatus.QUEUED,
                dataset_path=dataset_path,
                dataset_id=request.dataset_id,
                test_split=request.test_split,
                target_column=request.target_column,
                hyperparameters=request.hyperparameters,
                random_state=RANDOM_STATE,
                notes=request.notes,
                trained_by_id=user.id,
                dispatch_lease_s=settings.training_lease_s,
            )
    except ConstraintViolation as exc:
        raise _duplicate_version(model_version, names) from exc
    if settings.crash_before_dispatch:
        logger.critical("TRAINQL_CRASH_BEFORE_DISPATCH: exiting after recording run %d", run_id)
        os._exit(CRASH_EXIT_STATUS)

    # Read before dispatching: the execution may claim it at once.
    queued = await _read_run(ctx.db, run_id)
    handle = await dispatch_run(
        ctx.services.dispatcher, queued, token=queued.fencing_token, settings=settings
    )
    if request.background:
        return TrainModelResult(run=queued, message=completion_message(queued))
    if handle is not None:
        await handle.wait()
    finished = await _until_final(ctx.services, await _read_run(ctx.db, run_id))
    return TrainModelResult(run=finished, message=completion_message(finished))


def training_failure(result: TrainModelResult) -> TrainingFailed | None:
    """The error a transport that answers a failed training with an error raises (REST):
    507 when the model could not be written for want of storage, else the training error;
    None when the run did not fail."""
    run = result.run
    if run.status != TrainingRunStatus.FAILED:
        return None
    if run.error_code == RunFailure.INSUFFICIENT_STORAGE:
        return TrainingStorageFull(result.message, training_run_id=run.id)
    return TrainingFailed(result.message, training_run_id=run.id)
