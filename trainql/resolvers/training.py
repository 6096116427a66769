"""Training a model: validate the request, record the run, fit in the executor, record the
outcome. Both transports (trainModel and POST /api/training/train/) and `trainql train` call
`train_model`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread

from trainql.constants import RANDOM_STATE
from trainql.db import training_runs as run_store
from trainql.db.engine import ConstraintViolation, Database
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.errors import InvalidInput
from trainql.ml import loading, model_store
from trainql.ml.executor import TrainingTimeout, WorkerDied
from trainql.ml.jobs import TrainingJob, run_training_job
from trainql.resolvers import datasets
from trainql.resolvers.context import Context
from trainql.resolvers.permissions import IS_HR_STAFF, require
from trainql.services import Services
from trainql.training_request import FieldNames, invalid_message, parse_train_request

logger = logging.getLogger("trainql.training")

INTERRUPTED_MESSAGE = "interrupted: the service stopped before this run finished"


async def fail_interrupted_runs(*, db: Database) -> list[int]:
    """Mark runs left QUEUED or RUNNING by a process that is gone as FAILED ("interrupted").

    Call it only when no process is training against this database: `trainql serve` runs it
    once before its workers start.
    """
    async with db.session() as session:
        ids = await run_store.fail_unfinished_runs(session, error_message=INTERRUPTED_MESSAGE)
    if ids:
        logger.warning("Marked %d interrupted training run(s) FAILED: %s", len(ids), ids)
    return ids


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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TrainingTimeout | WorkerDied):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def _record_failure(services: Services, run_id: int, message: str) -> None:
    async with services.db.session() as session:
        await run_store.set_training_run_status(
            session, run_id=run_id, status=TrainingRunStatus.FAILED, error_message=message
        )


async def _execute(
    services: Services, run_id: int, job: TrainingJob, *, mark_running: bool
) -> None:
    """Fit in the executor and move the run to COMPLETED or FAILED. Never raises for a
    training error; the run row holds the outcome."""
    assert job.model_path is not None

    async def on_start() -> None:
        if mark_running:
            async with services.db.session() as session:
                await run_store.set_training_run_status(
                    session, run_id=run_id, status=TrainingRunStatus.RUNNING
                )

    try:
        result = await services.executor.run(
            run_training_job,
            job,
            time_limit=services.settings.training_timeout_s,
            on_start=on_start,
        )
    except asyncio.CancelledError:
        # Shielded: the run must not stay RUNNING because the task that owned it was cancelled.
        with contextlib.suppress(Exception):
            await asyncio.shield(_record_failure(services, run_id, INTERRUPTED_MESSAGE))
        model_store.remove_model(job.model_path)
        raise
    except Exception as exc:
        logger.info("Training run %d failed: %s", run_id, _describe(exc))
        model_store.remove_model(job.model_path)
        await _record_failure(services, run_id, _describe(exc))
        return
    try:
        async with services.db.session() as session:
            await run_store.record_training_outcome(session, run_id=run_id, outcome=result)
    except BaseException:
        # A model file without a COMPLETED run would be an orphan nobody can find.
        model_store.remove_model(job.model_path)
        with contextlib.suppress(Exception):
            await asyncio.shield(
                _record_failure(services, run_id, "The result could not be recorded.")
            )
        raise


async def _run_in_background(services: Services, run_id: int, job: TrainingJob) -> None:
    try:
        await _execute(services, run_id, job, mark_running=True)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("Background training run %d could not be recorded", run_id)


async def _read_run(db: Database, run_id: int) -> TrainingRun:
    async with db.session() as session:
        run = await run_store.get_training_run(session, run_id=run_id)
    assert run is not None
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
    run is recorded and no file written. Otherwise the run is recorded RUNNING (QUEUED when
    training in the background) before fitting; the result holds the run as it ended:
    COMPLETED with its metrics, or FAILED with its error message. In the background the
    QUEUED run is returned at once.
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

    dataset = loading.resolve_dataset_path(settings.data_path, dataset_path)
    # Reads the whole file: off the event loop.
    await anyio.to_thread.run_sync(
        lambda: loading.inspect_dataset(
            dataset,
            display=dataset_path,
            target_column=request.target_column,
            test_split=request.test_split,
        )
    )

    job = TrainingJob(
        dataset_path=dataset,
        dataset_display=dataset_path,
        target_column=request.target_column,
        test_split=request.test_split,
        hyperparameters=request.hyperparameters,
        model_path=model_store.model_path(settings.models_path, model_version),
        random_state=RANDOM_STATE,
    )
    status = TrainingRunStatus.QUEUED if request.background else TrainingRunStatus.RUNNING
    try:
        async with ctx.db.session() as session:
            run_id = await run_store.insert_training_run(
                session,
                model_version=model_version,
                status=status,
                dataset_path=dataset_path,
                dataset_id=request.dataset_id,
                test_split=request.test_split,
                target_column=request.target_column,
                hyperparameters=request.hyperparameters,
                random_state=RANDOM_STATE,
                notes=request.notes,
                trained_by_id=user.id,
            )
    except ConstraintViolation as exc:
        raise _duplicate_version(model_version, names) from exc

    if request.background:
        queued = await _read_run(ctx.db, run_id)  # read before the task can mark it RUNNING
        ctx.services.trainings.spawn(
            _run_in_background(ctx.services, run_id, job), name=f"training-run-{run_id}"
        )
        return TrainModelResult(run=queued, message=completion_message(queued))

    await _execute(ctx.services, run_id, job, mark_running=False)
    finished = await _read_run(ctx.db, run_id)
    return TrainModelResult(run=finished, message=completion_message(finished))
