"""The trainModel mutation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Factory, error_codes, graphql, model_files, training_run_count
from tests.storage_support import app_client, fill, small_tmpfs
from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.domain import TrainingRunStatus
from trainql.ml.generator import write_future_skills_csv
from trainql.services import Services

TRAIN = """
mutation Train($input: TrainModelInput) {
  trainModel(input: $input) {
    message
    trainingRun {
      id status modelVersion modelPath datasetPath errorMessage testSplit randomState
      targetColumn notes totalSamples trainSamples testSamples
      hyperparameters { nEstimators maxDepth minSamplesSplit }
      metrics { accuracy precision recall f1Score trainingDurationSeconds }
      perClassMetrics { label accuracy precision recall f1Score support }
      featuresUsed
      featureImportances { feature importance }
      confusionMatrix { labels matrix }
      trainedBy { username }
    }
  }
}
"""
SMALL = {"hyperparameters": {"nEstimators": 10}}


async def test_train_model_returns_the_completed_run(client: httpx.AsyncClient, factory: Factory):
    # given
    hr = await factory.hr_staff()
    variables = {
        "input": {
            "testSplit": 0.2,
            "hyperparameters": {"nEstimators": 20, "maxDepth": 15, "minSamplesSplit": 5},
            "modelVersion": "v3.0",
            "notes": "Production model",
        }
    }
    # when
    body = await graphql(client, TRAIN, variables, headers=hr.headers)
    # then
    assert "errors" not in body, body
    payload = body["data"]["trainModel"]
    run = payload["trainingRun"]
    assert run["status"] == "COMPLETED"
    assert payload["message"].startswith("Training completed successfully in ")
    assert run["hyperparameters"] == {"nEstimators": 20, "maxDepth": 15, "minSamplesSplit": 5}
    assert run["datasetPath"] == "ml/data/future_skills_dataset.csv"
    assert (run["totalSamples"], run["trainSamples"], run["testSamples"]) == (357, 285, 72)
    assert run["randomState"] == 42
    assert run["targetColumn"] == "future_need_level"
    assert run["notes"] == "Production model"
    assert run["trainedBy"] == {"username": "hr"}
    assert 0.6 < run["metrics"]["accuracy"] < 1.0
    assert {c["label"] for c in run["perClassMetrics"]} == {"LOW", "MEDIUM", "HIGH"}
    importances = [f["importance"] for f in run["featureImportances"]]
    assert importances == sorted(importances, reverse=True)
    assert run["confusionMatrix"]["labels"] == ["HIGH", "LOW", "MEDIUM"]
    assert sum(map(sum, run["confusionMatrix"]["matrix"])) == 72


async def test_no_input_takes_every_default(client: httpx.AsyncClient, factory: Factory):
    hr = await factory.hr_staff()
    body = await graphql(client, TRAIN, {}, headers=hr.headers)
    run = body["data"]["trainModel"]["trainingRun"]
    assert run["status"] == "COMPLETED"
    assert run["modelVersion"].startswith("api_v")
    assert run["testSplit"] == 0.2
    assert run["hyperparameters"] == {"nEstimators": 100, "maxDepth": None, "minSamplesSplit": 2}


@pytest.mark.parametrize(
    "given",
    [
        {"testSplit": 0.1, "hyperparameters": {"nEstimators": 1, "maxDepth": 1}},
        {"testSplit": 0.5, "hyperparameters": {"nEstimators": 1000, "maxDepth": 100}},
        {"hyperparameters": {"nEstimators": 5, "maxDepth": None, "minSamplesSplit": 2}},
    ],
    ids=["lower-bounds", "upper-bounds", "null-depth"],
)
async def test_boundary_values_are_accepted(
    client: httpx.AsyncClient, factory: Factory, given: dict[str, Any]
):
    hr = await factory.hr_staff()
    body = await graphql(client, TRAIN, {"input": given}, headers=hr.headers)
    assert body["data"]["trainModel"]["trainingRun"]["status"] == "COMPLETED", body


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"testSplit": 0.09}, "testSplit", "Must be a number from 0.1 to 0.5; got 0.09."),
        ({"testSplit": 0.51}, "testSplit", "Must be a number from 0.1 to 0.5; got 0.51."),
        (
            {"hyperparameters": {"nEstimators": 0}},
            "hyperparameters.nEstimators",
            "Must be an integer from 1 to 1000; got 0.",
        ),
        (
            {"hyperparameters": {"nEstimators": 1001}},
            "hyperparameters.nEstimators",
            "Must be an integer from 1 to 1000; got 1001.",
        ),
        (
            {"hyperparameters": {"maxDepth": 0}},
            "hyperparameters.maxDepth",
            "Must be an integer from 1 to 100, or null; got 0.",
        ),
        (
            {"hyperparameters": {"maxDepth": 101}},
            "hyperparameters.maxDepth",
            "Must be an integer from 1 to 100, or null; got 101.",
        ),
        (
            {"hyperparameters": {"minSamplesSplit": 1}},
            "hyperparameters.minSamplesSplit",
            "Must be an integer from 2 to 2147483647; got 1.",
        ),
        ({"modelVersion": "a/b"}, "modelVersion", "Must be 1 to 64 characters"),
    ],
)
async def test_invalid_input_is_bad_user_input_per_field_and_records_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    services: Services,
    given: dict[str, Any],
    field: str,
    message: str,
):
    hr = await factory.hr_staff()
    body = await graphql(client, TRAIN, {"input": given}, headers=hr.headers)
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]
    error = body["errors"][0]
    assert list(error["extensions"]["fields"]) == [field]
    assert error["extensions"]["fields"][field][0].startswith(message)
    assert error["message"].startswith(f"Invalid training request: {field}: ")
    assert await training_run_count(services) == 0
    assert model_files(services) == []


async def test_a_missing_dataset_is_dataset_invalid(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    given = {**SMALL, "datasetPath": "../../etc/passwd.csv"}
    body = await graphql(client, TRAIN, {"input": given}, headers=hr.headers)
    assert error_codes(body) == ["DATASET_INVALID"]
    assert "leads outside the data root" in body["errors"][0]["message"]
    assert await training_run_count(services) == 0


async def test_training_needs_hr_staff(client: httpx.AsyncClient, factory: Factory):
    manager = await factory.manager()
    body = await graphql(client, TRAIN, {"input": SMALL})
    assert error_codes(body) == ["UNAUTHENTICATED"]
    body = await graphql(client, TRAIN, {"input": SMALL}, headers=manager.headers)
    assert error_codes(body) == ["FORBIDDEN"]


async def test_when_fitting_raises_the_failed_run_is_returned(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    path = services.settings.data_path / "inf.csv"
    lines = (services.settings.data_path / "ml/data/future_skills_dataset.csv").read_text()
    rows = lines.splitlines()
    header = rows[0].split(",")
    first = rows[1].split(",")
    first[header.index("trend_score")] = "1e39"
    path.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")

    body = await graphql(
        client, TRAIN, {"input": {**SMALL, "datasetPath": "inf.csv"}}, headers=hr.headers
    )

    assert "errors" not in body, body
    payload = body["data"]["trainModel"]
    run = payload["trainingRun"]
    assert run["status"] == "FAILED"
    assert run["metrics"] is None
    assert run["confusionMatrix"] is None
    assert run["errorMessage"].startswith("ValueError: Input X contains infinity")
    assert payload["message"] == f"Training failed: {run['errorMessage']}"
    assert model_files(services) == []


async def test_a_background_run_is_queued_at_once_and_completes(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    body = await graphql(
        client, TRAIN, {"input": {**SMALL, "background": True}}, headers=hr.headers
    )
    run = body["data"]["trainModel"]["trainingRun"]
    assert run["status"] == "QUEUED"
    assert run["metrics"] is None
    await services.trainings.wait()
    read = await graphql(
        client,
        "query($id: ID!) { trainingRun(id: $id) { status metrics { accuracy } } }",
        {"id": run["id"]},
        headers=hr.headers,
    )
    assert read["data"]["trainingRun"]["status"] == "COMPLETED"


@pytest.mark.slow
async def test_the_service_answers_while_a_model_trains(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: a training of a few seconds in progress
    hr = await factory.hr_staff()
    await asyncio.to_thread(
        write_future_skills_csv, services.settings.data_path / "big.csv", 20_000
    )
    order: list[str] = []

    async def train() -> dict[str, Any]:
        given = {"datasetPath": "big.csv", "hyperparameters": {"nEstimators": 100}}
        body = await graphql(client, TRAIN, {"input": given}, headers=hr.headers)
        order.append("train")
        return body

    training = asyncio.create_task(train())
    while True:  # wait for the run to be recorded RUNNING: fitting has begun
        async with services.db.session() as session:
            run = await run_store.get_training_run(session, run_id=1)
        if run is not None and run.status == TrainingRunStatus.RUNNING:
            break
        assert not training.done(), training.result()
        await asyncio.sleep(0.01)

    # when
    me = await graphql(client, "{ me { username } }", headers=hr.headers)
    order.append("me")

    # then
    assert me == {"data": {"me": {"username": "hr"}}}
    result = await training
    assert result["data"]["trainModel"]["trainingRun"]["status"] == "COMPLETED"
    assert order == ["me", "train"]


async def test_a_model_that_cannot_be_written_returns_the_run_failed_saying_so(
    settings: Settings, tmp_path: Path
):
    # given: the model directory on a full disk
    models = tmp_path / "model-disk"
    with small_tmpfs(models, size_kb=256):
        fill(models, leave_kb=4)
        async with app_client(settings.model_copy(update={"model_dir": models})) as (http, svc):
            hr = await Factory(svc).hr_staff()
            # when
            body = await graphql(http, TRAIN, {"input": SMALL}, headers=hr.headers)
    # then: as for any training error, the FAILED run (no GraphQL error), nothing kept
    assert "errors" not in body
    run = body["data"]["trainModel"]["trainingRun"]
    assert run["status"] == "FAILED"
    assert run["errorMessage"].startswith(
        "Could not keep the fitted model in the model directory (TRAINQL_MODEL_DIR): there is "
        "no space left on its storage."
    )
    assert run["metrics"] is None and run["modelPath"] is None
