"""Run lifecycle in one process: time limit, stopping the app, the executor setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Factory, model_files
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.dispatchers import UnsupportedExecutor
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.ml.generator import write_future_skills_csv
from trainql.resolvers.context import Context
from trainql.resolvers.training import train_model
from trainql.services import Services
from trainql.training_request import PYTHON_NAMES


@pytest.fixture
async def slow_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"training_timeout_s": 3.0}))
    async with app_lifespan(application):
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
    assert result.run.error_message == "Training stopped after 3s (TRAINQL_TRAINING_TIMEOUT_S)."
    assert model_files(services) == []
    # The executor recovered: the next training works. (The limit leaves the fresh worker
    # process time to import scikit-learn on a loaded machine; 300 trees on 20,000 rows take
    # far longer than it on 2 cores.)
    small = await train_model(
        ctx=ctx, fields={"hyperparameters": {"n_estimators": 5}}, names=PYTHON_NAMES
    )
    assert small.run.status == TrainingRunStatus.COMPLETED, small.run.error_message


async def test_stopping_the_app_gives_its_running_training_back_to_the_queue(
    settings: Settings,
):
    # given: a background training in progress
    application = create_app(settings)
    async with app_lifespan(application):
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
        await _until_status(services, result.run.id, TrainingRunStatus.RUNNING)
    # when: the app stopped (the lifespan ended)
    async with services.db.session() as session:
        run = await run_store.get_training_run(session, run_id=result.run.id)
    await services.db.dispose()
    # then: QUEUED again, owned by nobody, so that the next process dispatches it at once
    assert run is not None
    assert run.status == TrainingRunStatus.QUEUED
    assert (run.attempt, run.worker, run.lease_expires_at) == (1, None, None)
    assert run.fencing_token == result.run.fencing_token + 2  # claimed, then given back
    assert model_files(services) == []

    # and the next app's reconciler trains it (attempt 2)
    restarted = create_app(settings.model_copy(update={"reconcile_interval_s": 0.2}))
    async with app_lifespan(restarted):
        again: Services = restarted.state.services
        done = await _until_status(again, result.run.id, TrainingRunStatus.COMPLETED)
    assert done.attempt == 2
    assert done.model_path is not None and done.model_path.endswith("~attempt-2.joblib")


async def _until_status(
    services: Services, run_id: int, status: TrainingRunStatus, within_s: float = 120.0
) -> TrainingRun:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        async with services.db.session() as session:
            run = await run_store.get_training_run(session, run_id=run_id)
        assert run is not None
        if run.status == status:
            return run
        if status != TrainingRunStatus.FAILED:
            assert run.status != TrainingRunStatus.FAILED, run.error_message
        assert asyncio.get_running_loop().time() < deadline, f"run still {run.status}"
        await asyncio.sleep(0.05)


async def test_an_unsupported_executor_stops_the_app_from_starting(settings: Settings):
    application = create_app(settings.model_copy(update={"executor": "ray://head:10001"}))
    with pytest.raises(UnsupportedExecutor, match=r"'ray://head:10001' is not supported: use"):
        async with app_lifespan(application):
            pass


async def test_the_default_dataset_is_placed_in_the_data_root(
    client: httpx.AsyncClient, services: Services
):
    placed = services.settings.data_path / "ml/data/future_skills_dataset.csv"
    assert placed.read_text().startswith("job_role_name,skill_name,")
