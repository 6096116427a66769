"""The reconciler: runs nobody runs are dispatched again, retried, or failed; runs with a
live lease are left alone; several reconcilers at once act once per run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from tests.factories import Factory, model_files
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.domain import RunFailure, TrainingRun, TrainingRunStatus
from trainql.reconciler import Reconciler
from trainql.services import Services

SMALL = {"n_estimators": 5, "max_depth": None, "min_samples_split": 2}
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    # The background loop stays out of the way: each test runs its passes itself.
    application = create_app(settings.model_copy(update={"reconcile_interval_s": 3600}))
    async with app_lifespan(application):
        yield application


async def _run(factory: Factory, **overrides: Any) -> TrainingRun:
    values: dict[str, Any] = {
        "model_path": None,
        "accuracy": None,
        "n_estimators": 5,
        "hyperparameters": SMALL,
        "lease_expires_at": None,
        **overrides,
    }
    return await factory.training_run(**values)


async def _read(services: Services, run_id: int) -> TrainingRun:
    async with services.db.session() as session:
        run = await run_store.get_training_run(session, run_id=run_id)
    assert run is not None
    return run


async def test_a_queued_run_nobody_dispatched_is_dispatched_and_trained(
    factory: Factory, services: Services
):
    # given: recorded, then its process died before dispatching it (no lease left)
    run = await _run(factory, status="QUEUED")
    # when
    done = await services.reconciler.reconcile_once()
    await services.trainings.wait()
    # then
    assert done.redispatched == (run.id,)
    trained = await _read(services, run.id)
    assert (trained.status, trained.attempt) == (TrainingRunStatus.COMPLETED, 1)
    assert model_files(services) == [f"{run.model_version}.joblib"]


async def test_a_run_whose_worker_was_lost_is_retried_as_the_next_attempt(
    factory: Factory, services: Services
):
    # given: attempt 1 RUNNING, its lease run out, and the file its worker half left
    run = await _run(
        factory,
        status="RUNNING",
        attempt=1,
        fencing_token=1,
        lease_owner="gone-host pid 1",
        lease_expires_at=LONG_AGO,
    )
    stale = services.settings.models_path / f"{run.model_version}.joblib"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half a model")
    # when
    done = await services.reconciler.reconcile_once()
    await services.trainings.wait()
    # then
    assert done.retried == (run.id,)
    trained = await _read(services, run.id)
    assert (trained.status, trained.attempt, trained.fencing_token) == (
        TrainingRunStatus.COMPLETED,
        2,
        3,
    )
    assert trained.model_path is not None
    assert trained.model_path.endswith(f"{run.model_version}~attempt-2.joblib")
    assert model_files(services) == [f"{run.model_version}~attempt-2.joblib"]


async def test_a_run_that_lost_its_worker_on_every_attempt_fails(
    factory: Factory, services: Services
):
    # given: the last allowed attempt's worker is gone too
    attempts = services.settings.training_max_attempts
    run = await _run(
        factory,
        status="RUNNING",
        attempt=attempts,
        fencing_token=5,
        lease_owner="tcp://10.0.0.7:40001 (pid 77)",
        lease_expires_at=LONG_AGO,
        attempt_started_at=datetime.now(UTC) - timedelta(seconds=30),
    )
    models = services.settings.models_path
    models.mkdir(parents=True, exist_ok=True)
    for name in (f"{run.model_version}.joblib", f"{run.model_version}~attempt-{attempts}.joblib"):
        (models / name).write_bytes(b"orphan")
    # when
    done = await services.reconciler.reconcile_once()
    # then
    assert done.failed == (run.id,)
    failed = await _read(services, run.id)
    assert failed.status == TrainingRunStatus.FAILED
    assert failed.error_code == RunFailure.WORKER_LOST
    assert failed.error_message == (
        f"worker lost: the worker running attempt {attempts} (tcp://10.0.0.7:40001 (pid 77)) "
        f"stopped renewing its lease, and {attempts} attempt(s) are allowed "
        "(TRAINQL_TRAINING_MAX_ATTEMPTS)."
    )
    assert model_files(services) == []


async def test_a_lost_run_past_its_time_limit_fails_as_timed_out(
    factory: Factory, services: Services
):
    attempts = services.settings.training_max_attempts
    run = await _run(
        factory,
        status="RUNNING",
        attempt=attempts,
        lease_expires_at=LONG_AGO,
        attempt_started_at=LONG_AGO,
    )
    await services.reconciler.reconcile_once()
    failed = await _read(services, run.id)
    assert failed.error_code == RunFailure.TIMED_OUT
    assert failed.error_message == (
        f"timed out: attempt {attempts} ran past the time limit of 3600s "
        "(TRAINQL_TRAINING_TIMEOUT_S) and its worker stopped answering."
    )


async def test_runs_with_a_live_lease_are_never_touched(factory: Factory, services: Services):
    # given
    soon = datetime.now(UTC) + timedelta(minutes=5)
    queued = await _run(factory, status="QUEUED", lease_expires_at=soon)
    running = await _run(factory, status="RUNNING", attempt=9, lease_expires_at=soon)
    # when
    done = await services.reconciler.reconcile_once()
    # then
    assert (done.redispatched, done.retried, done.failed) == ((), (), ())
    for before in (queued, running):
        after = await _read(services, before.id)
        assert (after.status, after.fencing_token, after.updated_at) == (
            before.status,
            before.fencing_token,
            before.updated_at,
        )


async def test_reconcilers_in_several_processes_act_once_per_run(
    factory: Factory, services: Services
):
    # given: a second process's reconciler on the same database (sharing the dispatcher
    # only so that the test can wait for what either dispatched)
    other = Reconciler(db=services.db, settings=services.settings, dispatcher=services.dispatcher)
    queued = await _run(factory, status="QUEUED")
    lost = await _run(factory, status="RUNNING", attempt=1, lease_expires_at=LONG_AGO)
    # when
    passes = await asyncio.gather(services.reconciler.reconcile_once(), other.reconcile_once())
    await services.trainings.wait()
    # then
    assert sorted(i for p in passes for i in p.redispatched) == [queued.id]
    assert sorted(i for p in passes for i in p.retried) == [lost.id]
    assert (await _read(services, queued.id)).attempt == 1
    assert (await _read(services, lost.id)).attempt == 2
