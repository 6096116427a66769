"""One execution of a run: an execution that lost its run stops and keeps nothing, and an
outcome the database could not take is recorded when the database returns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import Factory, model_files
from tests.lifespan import app_lifespan
from tests.pg_cluster import PrivateCluster, private_cluster
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import migrate
from trainql.db import training_runs as run_store
from trainql.dispatchers import assignment_for
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.execution import Ending, LeasePolicy, execute_run
from trainql.ml.executor import LocalExecutor
from trainql.ml.generator import write_future_skills_csv
from trainql.resolvers.context import Context
from trainql.resolvers.training import train_model
from trainql.services import Services
from trainql.training_request import PYTHON_NAMES

WAIT_S = 120.0


async def _until(services: Services, run_id: int, status: TrainingRunStatus) -> TrainingRun:
    async with asyncio.timeout(WAIT_S):
        while True:
            async with services.db.session() as session:
                run = await run_store.get_training_run(session, run_id=run_id)
            assert run is not None
            if run.status == status:
                return run
            await asyncio.sleep(0.05)


async def test_an_execution_whose_run_was_taken_away_stops_and_keeps_no_model(
    factory: Factory, services: Services
):
    # given: an execution with a short lease fitting a forest that takes a while
    await asyncio.to_thread(
        write_future_skills_csv, services.settings.data_path / "big.csv", 20_000
    )
    queued = await factory.training_run(
        status="QUEUED",
        dataset_path="big.csv",
        model_path=None,
        accuracy=None,
        n_estimators=500,
        hyperparameters={"n_estimators": 500},
        lease_expires_at=None,
    )
    assignment = assignment_for(queued, token=0, settings=services.settings, split_fit=None)
    executor = LocalExecutor()
    execution = asyncio.create_task(
        execute_run(
            services.db,
            assignment,
            policy=LeasePolicy(lease_s=0.6, record_retry_s=1),
            owner="the first execution",
            executor=executor,
        )
    )
    try:
        running = await _until(services, queued.id, TrainingRunStatus.RUNNING)
        # when: a reconciler elsewhere gives the run to another execution
        async with services.db.session() as session:
            assert await run_store.requeue_training_run(
                session, run_id=queued.id, token=running.fencing_token, dispatch_lease_s=3600
            )
        # then: the next heartbeat finds out, and the fit is stopped at once
        async with asyncio.timeout(10):
            ending = await execution
    finally:
        await executor.shutdown()
    assert ending == Ending.LOST
    run = await _until(services, queued.id, TrainingRunStatus.QUEUED)
    assert (run.accuracy, run.model_path, run.attempt) == (None, None, 1)
    assert model_files(services) == []


@pytest.fixture
def outage_database(tmp_path: Path) -> Iterator[PrivateCluster]:
    """A private PostgreSQL that the test may stop (never the machine's shared server)."""
    with private_cluster() as cluster:
        migrate.upgrade(cluster.url)
        yield cluster


@pytest.mark.slow
async def test_an_outcome_is_recorded_when_the_database_returns(
    outage_database: PrivateCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # given: a background training in progress
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=outage_database.url,
        reconcile_interval_s=3600,
    )
    application = create_app(settings)
    async with app_lifespan(application):
        services: Services = application.state.services
        hr = await Factory(services).hr_staff()
        await asyncio.to_thread(write_future_skills_csv, settings.data_path / "big.csv", 20_000)
        started = await train_model(
            ctx=Context(services=services, user=hr.user),
            fields={"dataset_path": "big.csv", "background": True},
            names=PYTHON_NAMES,
        )
        await _until(services, started.run.id, TrainingRunStatus.RUNNING)
        # when: the database goes away while the model trains, and comes back once the
        # execution has had to wait for it
        caplog.set_level(logging.WARNING, logger="trainql.execution")
        await asyncio.to_thread(outage_database.stop)
        async with asyncio.timeout(WAIT_S):
            while True:  # the execution's log says when it waits for the database
                if "recording the outcome of run" in caplog.text:
                    break
                await asyncio.sleep(0.1)
        await asyncio.to_thread(outage_database.start)
        await services.trainings.wait()
        # then: the outcome of the first attempt is recorded
        run = await _until(services, started.run.id, TrainingRunStatus.COMPLETED)
    await services.db.dispose()
    assert run.attempt == 1
    assert run.accuracy is not None and run.accuracy > 0.5
    assert model_files(services) == [f"{run.model_version}.joblib"]
