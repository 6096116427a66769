"""Training a model: validate the request, record the run, fit in the executor, record the
outcome. Both transports (trainModel and POST /api/training/train/) call `train_model`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import anyio.to_thread

from trainql.constants import DEFAULT_DATASET_PATH, RANDOM_STATE
from trainql.constants import DEFAULT_TARGET_COLUMN as TARGET_COLUMN
from trainql.db import training_runs as run_store
from trainql.db.engine import ConstraintViolation, Database
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.errors import InvalidInput
from trainql.ml import loading, model_store
from trainql.ml.executor import TrainingExecutor, TrainingTimeout, WorkerDied, create_executor
from trainql.ml.jobs import TrainingJob, TrainingResult, run_training_job
from trainql.resolvers import datasets
from trainql.resolvers.context import Context, Services
from trainql.resolvers.permissions import IS_HR_STAFF, require

logger = logging.getLogger("trainql.training")

MODEL_VERSION_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_NOTES_LENGTH = 10_000
MAX_PATH_LENGTH = 1024
MAX_COLUMN_NAME_LENGTH = 255
INT32_MAX = 2**31 - 1
INTERRUPTED_MESSAGE = "interrupted: the service stopped before this run finished"

EXECUTOR_KEY = "training_executor"
TASKS_KEY = "training_tasks"


# ---------------------------------------------------------------------------------------------
# Validation: one validator for both transports, so both give the same per-field messages.


@dataclass(frozen=True, slots=True)
class TrainInput:
    """A validated training request, defaults filled in."""

    dataset_path: str = DEFAULT_DATASET_PATH
    dataset_id: uuid.UUID | None = None
    test_split: float = 0.2
    target_column: str = TARGET_COLUMN
    n_estimators: int = 100
    max_depth: int | None = None
    min_samples_split: int = 2
    model_version: str | None = None
    notes: str = ""
    background: bool = False

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "min_samples_split": self.min_samples_split,
        }


TOP_LEVEL_FIELDS = (
    "dataset_path",
    "dataset_id",
    "test_split",
    "hyperparameters",
    "model_version",
    "notes",
    "target_column",
)
HYPERPARAMETERS = ("n_estimators", "max_depth", "min_samples_split")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(value: object, low: int, high: int, *, nullable: bool = False) -> str | None:
    """None when `value` is an integer in [low, high] (or null when allowed), else why not."""
    allowed = f"an integer from {low} to {high}" + (", or null" if nullable else "")
    if value is None and nullable:
        return None
    if not _is_int(value):
        return f"Must be {allowed}; got {value!r}."
    assert isinstance(value, int)
    if not low <= value <= high:
        return f"Must be {allowed}; got {value}."
    return None


def _text(value: object, *, max_length: int, empty_ok: bool) -> str | None:
    if not isinstance(value, str):
        return f"Must be a string; got {value!r}."
    if not empty_ok and not value.strip():
        return "Must not be empty."
    if len(value) > max_length:
        return f"Must be at most {max_length} characters; got {len(value)}."
    return None


class _Errors:
    """Per-field messages gathered while validating."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str | None) -> bool:
        """Record `message` for `name` when there is one; True when there was."""
        if message is not None:
            self.fields.setdefault(name, []).append(message)
        return message is not None


def _test_split(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return f"Must be a number from 0.1 to 0.5; got {value!r}."
    if not 0.1 <= value <= 0.5:
        return f"Must be a number from 0.1 to 0.5; got {value}."
    return None


def _model_version(value: object) -> str | None:
    if not isinstance(value, str) or not MODEL_VERSION_RE.fullmatch(value):
        return f"Must be 1 to 64 characters: letters, digits, '.', '_' and '-'; got {value!r}."
    return None


def _uuid(value: object) -> str | None:
    if isinstance(value, uuid.UUID):
        return None
    try:
        uuid.UUID(str(value))
    except ValueError:
        return f"Must be a dataset id (a UUID); got {value!r}."
    return None


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else f"Must be true or false; got {value!r}."


_HYPERPARAMETER_CHECKS: dict[str, Callable[[object], str | None]] = {
    "n_estimators": lambda v: _int_in(v, 1, 1000),
    "max_depth": lambda v: _int_in(v, 1, 100, nullable=True),
    "min_samples_split": lambda v: _int_in(v, 2, INT32_MAX),
}


def _parse_hyperparameters(hyper: object, errors: _Errors, values: dict[str, Any]) -> None:
    if not isinstance(hyper, Mapping):
        errors.add("hyperparameters", f"Must be an object of {', '.join(HYPERPARAMETERS)}.")
        return
    for name in hyper:
        if name not in HYPERPARAMETERS:
            errors.add(
                f"hyperparameters.{name}",
                f"Unknown hyperparameter. Allowed: {', '.join(HYPERPARAMETERS)}.",
            )
    for name, check in _HYPERPARAMETER_CHECKS.items():
        if name not in hyper or (hyper[name] is None and name != "max_depth"):
            continue  # absent or null: the default (null max_depth: unlimited)
        if not errors.add(f"hyperparameters.{name}", check(hyper[name])):
            values[name] = hyper[name]


def parse_train_input(
    raw: Mapping[str, Any] | None, *, background_field: str = "background"
) -> TrainInput:
    """A `TrainInput` from a request's fields (snake_case), or InvalidInput naming each bad
    field. Absent and null fields take their defaults (null max_depth means unlimited).

    `background_field` is the request's name for "return at once" (`async_training` in REST).
    """
    data = dict(raw or {})
    errors = _Errors()
    values: dict[str, Any] = {}
    known = (*TOP_LEVEL_FIELDS, background_field)
    for name in data:
        if name not in known:
            errors.add(name, f"Unknown field. Allowed fields: {', '.join(known)}.")

    checks: dict[str, tuple[str, Callable[[Any], str | None]]] = {
        "test_split": ("test_split", _test_split),
        "dataset_path": (
            "dataset_path",
            lambda v: _text(v, max_length=MAX_PATH_LENGTH, empty_ok=False),
        ),
        "target_column": (
            "target_column",
            lambda v: _text(v, max_length=MAX_COLUMN_NAME_LENGTH, empty_ok=False),
        ),
        "notes": ("notes", lambda v: _text(v, max_length=MAX_NOTES_LENGTH, empty_ok=True)),
        "model_version": ("model_version", _model_version),
        "dataset_id": ("dataset_id", _uuid),
        background_field: ("background", _boolean),
    }
    for name, (target, check) in checks.items():
        value = data.get(name)
        if value is not None and not errors.add(name, check(value)):
            values[target] = float(value) if target == "test_split" else value
    if "dataset_id" in values:
        values["dataset_id"] = uuid.UUID(str(values["dataset_id"]))
        if data.get("dataset_path") is not None:
            errors.add("dataset_id", "Give dataset_id or dataset_path, not both.")
    if data.get("hyperparameters") is not None:
        _parse_hyperparameters(data["hyperparameters"], errors, values)

    if errors.fields:
        raise InvalidInput(invalid_message(errors.fields), fields=errors.fields)
    return TrainInput(**values)


def invalid_message(fields: Mapping[str, list[str]]) -> str:
    """The one-line summary of per-field errors."""
    return "Invalid training request: " + "; ".join(
        f"{name}: {' '.join(messages)}" for name, messages in fields.items()
    )


# ---------------------------------------------------------------------------------------------
# Process-wide pieces: the executor, background tasks, the default dataset, the startup sweep.


def training_executor(services: Services) -> TrainingExecutor:
    """The services' executor, created on first use from TRAINQL_EXECUTOR."""
    executor = services.extras.get(EXECUTOR_KEY)
    if executor is None:
        executor = services.extras[EXECUTOR_KEY] = create_executor(services.settings.executor)
    return executor


def _background_tasks(services: Services) -> set[asyncio.Task[None]]:
    tasks: set[asyncio.Task[None]] = services.extras.setdefault(
        TASKS_KEY, set[asyncio.Task[None]]()
    )
    return tasks


def default_dataset_source() -> Path:
    """The default dataset shipped inside the package."""
    return Path(str(resources.files("trainql.ml") / "data" / "future_skills_dataset.csv"))


def install_default_dataset(data_root: Path) -> Path:
    """Copy the shipped default dataset into the data root unless a file is already there."""
    target = data_root / DEFAULT_DATASET_PATH
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # A private temporary name: several uvicorn workers may start at once.
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        shutil.copyfile(default_dataset_source(), partial)
        os.replace(partial, target)
    return target


async def start_training(services: Services) -> None:
    """Startup hook: refuse an unsupported executor early, place the default dataset."""
    training_executor(services)
    await anyio.to_thread.run_sync(install_default_dataset, services.settings.data_path)


async def stop_training(services: Services) -> None:
    """Shutdown hook: record background runs as interrupted, then stop the workers."""
    tasks = list(_background_tasks(services))
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    executor = services.extras.pop(EXECUTOR_KEY, None)
    if executor is not None:
        await executor.shutdown()


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


# ---------------------------------------------------------------------------------------------
# The operation.


@dataclass(frozen=True, slots=True)
class TrainModelResult:
    run: TrainingRun
    message: str


def default_model_version() -> str:
    return "api_v" + datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


def _duplicate_version(model_version: str) -> InvalidInput:
    fields = {
        "model_version": [
            f"A training run with model_version {model_version!r} already exists; choose another."
        ]
    }
    return InvalidInput(invalid_message(fields), fields=fields)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TrainingTimeout | WorkerDied):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def _record_result(services: Services, run_id: int, result: TrainingResult) -> None:
    async with services.db.session() as session:
        await run_store.update_training_run(
            session,
            run_id=run_id,
            status=TrainingRunStatus.COMPLETED.value,
            model_path=str(result.model_path) if result.model_path else None,
            accuracy=result.accuracy,
            precision=result.precision,
            recall=result.recall,
            f1_score=result.f1_score,
            training_duration_seconds=result.training_duration_seconds,
            total_samples=result.total_samples,
            train_samples=result.train_samples,
            test_samples=result.test_samples,
            per_class_metrics={label: m.as_dict() for label, m in result.per_class_metrics.items()},
            features_used=result.features_used,
            feature_importances=result.feature_importances,
            confusion_matrix=result.confusion_matrix,
        )


async def _record_failure(services: Services, run_id: int, message: str) -> None:
    async with services.db.session() as session:
        await run_store.update_training_run(
            session,
            run_id=run_id,
            status=TrainingRunStatus.FAILED.value,
            error_message=message,
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
                await run_store.update_training_run(
                    session, run_id=run_id, status=TrainingRunStatus.RUNNING.value
                )

    executor = training_executor(services)
    try:
        result = await executor.run(
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
        await _record_result(services, run_id, result)
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
    *, ctx: Context, request: Mapping[str, Any] | None, background_field: str = "background"
) -> TrainModelResult:
    """Train a model for an HR_STAFF user and record the run.

    Invalid input is InvalidInput and an unusable dataset DatasetInvalid: in both cases no
    run is recorded and no file written. Otherwise the run is recorded RUNNING (QUEUED when
    training in the background) before fitting; the result holds the run as it ended:
    COMPLETED with its metrics, or FAILED with its error message. In the background the
    QUEUED run is returned at once.
    """
    user = require(ctx, IS_HR_STAFF)
    params = parse_train_input(request, background_field=background_field)
    settings = ctx.settings
    model_version = params.model_version or default_model_version()

    async with ctx.db.session() as session:
        if await run_store.model_version_exists(session, model_version=model_version):
            raise _duplicate_version(model_version)

    dataset_path = params.dataset_path
    if params.dataset_id is not None:
        # An uploaded dataset: the caller must be allowed to read it (owner, or ownerless).
        uploaded = await datasets.get_dataset(ctx=ctx, dataset_id=params.dataset_id)
        dataset_path = uploaded.file_path

    dataset = loading.resolve_dataset_path(settings.data_path, dataset_path)
    # Reads the whole file: off the event loop.
    await anyio.to_thread.run_sync(
        lambda: loading.inspect_dataset(
            dataset,
            display=dataset_path,
            target_column=params.target_column,
            test_split=params.test_split,
        )
    )

    job = TrainingJob(
        dataset_path=dataset,
        dataset_display=dataset_path,
        target_column=params.target_column,
        test_split=params.test_split,
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        min_samples_split=params.min_samples_split,
        model_path=model_store.model_path(settings.models_path, model_version),
        random_state=RANDOM_STATE,
    )
    status = TrainingRunStatus.QUEUED if params.background else TrainingRunStatus.RUNNING
    try:
        async with ctx.db.session() as session:
            run = await run_store.insert_training_run(
                session,
                model_version=model_version,
                dataset_path=dataset_path,
                dataset_id=params.dataset_id,
                status=status.value,
                test_split=params.test_split,
                n_estimators=params.n_estimators,
                random_state=RANDOM_STATE,
                target_column=params.target_column,
                hyperparameters=params.hyperparameters,
                notes=params.notes,
                trained_by_id=user.id,
            )
    except ConstraintViolation as exc:
        raise _duplicate_version(model_version) from exc

    if params.background:
        queued = await _read_run(ctx.db, run.id)  # read before the task can mark it RUNNING
        task = asyncio.create_task(
            _run_in_background(ctx.services, run.id, job), name=f"training-run-{run.id}"
        )
        tasks = _background_tasks(ctx.services)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return TrainModelResult(run=queued, message=completion_message(queued))

    await _execute(ctx.services, run.id, job, mark_running=False)
    finished = await _read_run(ctx.db, run.id)
    return TrainModelResult(run=finished, message=completion_message(finished))
