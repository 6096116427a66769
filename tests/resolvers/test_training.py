"""Run lifecycle: time limit, shutdown, the interrupted-run sweep, the executor setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.factories import Factory, model_files
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.domain import TrainingRunStatus
from trainql.ml.executor import UnsupportedExecutor
from trainql.ml.generator import write_future_skills_csv
from trainql.resolvers.context import Context
from trainql.resolvers.training import INTERRUPTED_MESSAGE, fail_interrupted_runs, train_model
from trainql.services import Services
from trainql.training_request import PYTHON_NAMES


async def test_the_sweep_fails_runs_left_queued_or_running(services: Services, factory: Factory):
    running = await factory.training_run(status="RUNNING", accuracy=None)
    queued = await factory.training_run(status="QUEUED", accuracy=None)
    done = await factory.training_run(status="COMPLETED")
    failed = await factory.training_run(status="FAILED", error_message="earlier")

    assert sorted(await fail_interrupted_runs(db=services.db)) == sorted([running.id, queued.id])

    async with services.db.session() as session:
        after = {
            run.id: await run_store.get_training_run(session, run_id=run.id)
            for run in (running, queued, done, failed)
        }
    assert after[running.id].status == after[queued.id].status == TrainingRunStatus.FAILED  # type: ignore[union-attr]
    assert after[running.id].error_message == INTERRUPTED_MESSAGE  # type: ignore[union-attr]
    assert after[done.id].status == TrainingRunStatus.COMPLETED  # type: ignore[union-attr]
    assert after[failed.id].error_message == "earlier"  # type: ignore[union-attr]
    assert await fail_interrupted_runs(db=services.db) == []


@pytest.fixture
async def slow_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"training_timeout_s": 0.5}))
    async with LifespanManager(application):
        yield application


async def test_a_training_over_the_time_limit_is_failed(slow_app: FastAPI):
    services: Services = slow_app.state.services
    factory = Factory(services)
    hr = await factory.hr_staff()
    await asyncio.to_thread(
        write_future_skills_csv, services.settings.data_path / "big.csv", 20_000
    )
    ctx = Context(services=services, user=hr.user)

    result = await train_model(
        ctx=ctx,
        fields={"dataset_path": "big.csv", "hyperparameters": {"n_estimators": 300}},
        names=PYTHON_NAMES,
    )

    assert result.run.status == TrainingRunStatus.FAILED
    assert result.run.error_message == ("Training stopped after 0.5s (TRAINQL_TRAINING_TIMEOUT_S).")
    assert model_files(services) == []
    # The executor recovered: the next training works.
    small = await train_model(
        ctx=ctx, fields={"hyperparameters": {"n_estimators": 5}}, names=PYTHON_NAMES
    )
    assert small.run.status == TrainingRunStatus.COMPLETED


async def test_stopping_the_app_records_background_runs_as_interrupted(settings: Settings):
    application = create_app(settings)
    async with LifespanManager(application):
        services: Services = application.state.services
        hr = await Factory(services).hr_staff()
        await asyncio.to_thread(
            write_future_skills_csv, services.settings.data_path / "big.csv", 20_000
        )
        result = await train_model(
            ctx=Context(services=services, user=hr.user),
            fields={"dataset_path": "big.csv", "background": True},
            names=PYTHON_NAMES,
        )
        assert result.run.status == TrainingRunStatus.QUEUED
        await asyncio.sleep(0)  # let the background task start
    async with services.db.session() as session:
        run = await run_store.get_training_run(session, run_id=result.run.id)
    assert run is not None
    assert run.status == TrainingRunStatus.FAILED
    assert run.error_message == INTERRUPTED_MESSAGE
    await services.db.dispose()


async def test_an_unsupported_executor_stops_the_app_from_starting(settings: Settings):
    application = create_app(settings.model_copy(update={"executor": "dask://scheduler:8786"}))
    with pytest.raises(UnsupportedExecutor, match="only"):
        async with LifespanManager(application):
            pass


async def test_the_default_dataset_is_placed_in_the_data_root(
    client: httpx.AsyncClient, services: Services
):
    placed = services.settings.data_path / "ml/data/future_skills_dataset.csv"
    assert placed.read_text().startswith("job_role_name,skill_name,")
