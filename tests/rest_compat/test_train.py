"""POST /api/training/train/: the legacy training endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Factory, model_files, training_run_count
from tests.storage_support import FILLER, app_client, files_under, fill, make_read_only, small_tmpfs
from trainql.config import Settings
from trainql.ml.generator import generate_future_skills
from trainql.services import Services

URL = "/api/training/train/"
# The request body of the legacy quick reference, verbatim.
SEED_EXAMPLE = {
    "dataset_path": "ml/data/future_skills_dataset.csv",
    "test_split": 0.2,
    "hyperparameters": {"n_estimators": 100, "max_depth": 15, "min_samples_split": 5},
    "model_version": "v3.0",
    "notes": "Production model",
}
SMALL = {"hyperparameters": {"n_estimators": 10}}


async def test_the_seed_example_trains_and_answers_every_documented_field(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given
    hr = await factory.hr_staff()
    # when
    response = await client.post(URL, json=SEED_EXAMPLE, headers=hr.headers)
    # then
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"training_run_id", "status", "message", "model_version", "metrics"}
    assert body["status"] == "COMPLETED"
    assert body["model_version"] == "v3.0"
    metrics = body["metrics"]
    assert set(metrics) == {
        "accuracy",
        "precision",
        "recall",
        "f1_score",
        "training_duration_seconds",
    }
    assert 0.6 < metrics["accuracy"] < 1.0
    assert body["message"] == (
        f"Training completed successfully in {metrics['training_duration_seconds']:.2f}s"
    )
    assert model_files(services) == ["v3.0.joblib"]

    detail = (
        await client.get(f"/api/training/runs/{body['training_run_id']}/", headers=hr.headers)
    ).json()
    assert detail["hyperparameters"] == SEED_EXAMPLE["hyperparameters"]
    assert detail["n_estimators"] == 100
    assert detail["random_state"] == 42
    assert detail["notes"] == "Production model"
    assert detail["trained_by_username"] == "hr"
    assert (detail["total_samples"], detail["train_samples"], detail["test_samples"]) == (
        357,
        285,
        72,
    )
    assert detail["model_path"].endswith("v3.0.joblib")
    assert set(detail["per_class_metrics"]) == {"LOW", "MEDIUM", "HIGH"}
    assert set(detail["per_class_metrics"]["LOW"]) == {
        "accuracy",
        "precision",
        "recall",
        "f1_score",
        "support",
    }
    assert detail["features_used"][0] == "job_role_name"
    assert len(detail["feature_importances"]) == 11
    assert detail["confusion_matrix"]["labels"] == ["HIGH", "LOW", "MEDIUM"]


async def test_an_empty_body_takes_every_default(client: httpx.AsyncClient, factory: Factory):
    hr = await factory.hr_staff()
    response = await client.post(URL, headers=hr.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["model_version"].startswith("api_v")
    detail = (
        await client.get(f"/api/training/runs/{body['training_run_id']}/", headers=hr.headers)
    ).json()
    assert detail["test_split"] == 0.2
    assert detail["dataset_path"] == "ml/data/future_skills_dataset.csv"
    assert detail["hyperparameters"] == {
        "n_estimators": 100,
        "max_depth": None,
        "min_samples_split": 2,
    }
    assert detail["notes"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"test_split": 0.1, "hyperparameters": {"n_estimators": 1, "max_depth": 1}},
        {"test_split": 0.5, "hyperparameters": {"n_estimators": 1000, "max_depth": 100}},
        {"hyperparameters": {"n_estimators": 5, "max_depth": None, "min_samples_split": 2}},
    ],
    ids=["lower-bounds", "upper-bounds", "null-depth"],
)
async def test_boundary_values_are_accepted(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any]
):
    hr = await factory.hr_staff()
    response = await client.post(URL, json=body, headers=hr.headers)
    assert response.status_code == 201, response.text


REJECTED = [
    ({"test_split": 0.09}, "test_split", "Must be a number from 0.1 to 0.5; got 0.09."),
    ({"test_split": 0.51}, "test_split", "Must be a number from 0.1 to 0.5; got 0.51."),
    ({"test_split": "0.2"}, "test_split", "Must be a number from 0.1 to 0.5; got '0.2'."),
    (
        {"hyperparameters": {"n_estimators": 0}},
        "hyperparameters.n_estimators",
        "Must be an integer from 1 to 1000; got 0.",
    ),
    (
        {"hyperparameters": {"n_estimators": 1001}},
        "hyperparameters.n_estimators",
        "Must be an integer from 1 to 1000; got 1001.",
    ),
    (
        {"hyperparameters": {"n_estimators": 10.5}},
        "hyperparameters.n_estimators",
        "Must be an integer from 1 to 1000; got 10.5.",
    ),
    (
        {"hyperparameters": {"n_estimators": True}},
        "hyperparameters.n_estimators",
        "Must be an integer from 1 to 1000; got True.",
    ),
    (
        {"hyperparameters": {"max_depth": 0}},
        "hyperparameters.max_depth",
        "Must be an integer from 1 to 100, or null; got 0.",
    ),
    (
        {"hyperparameters": {"max_depth": 101}},
        "hyperparameters.max_depth",
        "Must be an integer from 1 to 100, or null; got 101.",
    ),
    (
        {"hyperparameters": {"min_samples_split": 1}},
        "hyperparameters.min_samples_split",
        "Must be an integer from 2 to 2147483647; got 1.",
    ),
    (
        {"hyperparameters": {"criterion": "gini"}},
        "hyperparameters.criterion",
        "Unknown hyperparameter. Allowed: n_estimators, max_depth, min_samples_split.",
    ),
    ({"hyperparameters": [1, 2]}, "hyperparameters", "Must be an object of"),
    ({"model_version": "v 3"}, "model_version", "Must be 1 to 64 characters"),
    ({"model_version": "../evil"}, "model_version", "Must be 1 to 64 characters"),
    ({"model_version": "v" * 65}, "model_version", "Must be 1 to 64 characters"),
    ({"notes": 5}, "notes", "Must be a string; got 5."),
    ({"dataset_path": ""}, "dataset_path", "Must not be empty."),
    ({"async_training": "yes"}, "async_training", "Must be true or false; got 'yes'."),
    ({"epochs": 3}, "epochs", "Unknown field. Allowed fields:"),
]


@pytest.mark.parametrize(("body", "field", "message"), REJECTED)
async def test_invalid_input_is_400_per_field_and_records_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    services: Services,
    body: dict[str, Any],
    field: str,
    message: str,
):
    hr = await factory.hr_staff()
    response = await client.post(URL, json=body, headers=hr.headers)
    assert response.status_code == 400
    answer = response.json()
    assert list(answer["errors"]) == [field]
    assert answer["errors"][field][0].startswith(message)
    assert answer["detail"].startswith(f"Invalid training request: {field}: ")
    assert await training_run_count(services) == 0
    assert model_files(services) == []


async def test_several_invalid_fields_are_reported_together(
    client: httpx.AsyncClient, factory: Factory
):
    hr = await factory.hr_staff()
    body = {"test_split": 0.9, "hyperparameters": {"n_estimators": 0, "max_depth": 0}}
    response = await client.post(URL, json=body, headers=hr.headers)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        "test_split",
        "hyperparameters.n_estimators",
        "hyperparameters.max_depth",
    }


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
async def test_a_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, factory: Factory, raw: bytes
):
    hr = await factory.hr_staff()
    response = await client.post(
        URL, content=raw, headers=hr.headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


async def test_a_body_nested_100000_levels_deep_is_400_and_records_nothing(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: the body, which made the JSON parser's recursion fail with a 500
    hr = await factory.hr_staff()
    raw = b'{"hyperparameters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    # when
    response = await client.post(
        URL, content=raw, headers=hr.headers | {"Content-Type": "application/json"}
    )
    # then
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The JSON body nests arrays and objects more than 32 levels deep "
        "(limit TRAINQL_MAX_JSON_DEPTH = 32)."
    }
    assert await training_run_count(services) == 0


async def test_a_duplicate_model_version_is_400_and_keeps_the_first_model(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    body = {**SMALL, "model_version": "v1.0"}
    assert (await client.post(URL, json=body, headers=hr.headers)).status_code == 201
    again = await client.post(URL, json=body, headers=hr.headers)
    assert again.status_code == 400
    assert again.json()["errors"] == {
        "model_version": [
            "A training run with model_version 'v1.0' already exists; choose another."
        ]
    }
    assert await training_run_count(services) == 1
    assert model_files(services) == ["v1.0.joblib"]


async def test_training_needs_hr_staff(client: httpx.AsyncClient, factory: Factory):
    manager = await factory.manager()
    anonymous = await client.post(URL, json=SMALL)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    forbidden = await client.post(URL, json=SMALL, headers=manager.headers)
    assert forbidden.status_code == 403
    assert "Required role: HR_STAFF" in forbidden.json()["detail"]
    bad_token = await client.post(URL, json=SMALL, headers={"Authorization": "Token nope"})
    assert bad_token.status_code == 401


def _write(services: Services, name: str, content: bytes) -> None:
    path = services.settings.data_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


DATASET_ERRORS = [
    ("missing.csv", None, "Dataset file not found: 'missing.csv'"),
    ("../escape.csv", None, "leads outside the data root"),
    ("/etc/passwd", None, "is absolute"),
    ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "is a binary file"),
    ("latin.csv", "a,future_need_level\ncaf\u00e9,LOW\n".encode("latin-1"), "is not UTF-8"),
    ("notes.txt", b"a,future_need_level\n1,LOW\n", "is not a CSV file"),
    ("empty.csv", b"", "is empty"),
    ("no_target.csv", b"a,b\n1,2\n", "Its columns are: a, b."),
    ("one_class.csv", b"a,future_need_level\n1,LOW\n2,LOW\n", "has a single class ('LOW')"),
    (
        "tiny_class.csv",
        b"a,future_need_level\n" + b"1,LOW\n" * 20 + b"2,HIGH\n",
        "Class 'HIGH' of 'future_need_level' has only 1 row",
    ),
    ("target_only.csv", b"future_need_level\nLOW\nHIGH\n" * 5, "has only the target column"),
]


@pytest.mark.parametrize(("name", "content", "message"), DATASET_ERRORS)
async def test_an_unusable_dataset_is_400_and_records_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    services: Services,
    name: str,
    content: bytes | None,
    message: str,
):
    hr = await factory.hr_staff()
    if content is not None:
        _write(services, name, content)
    response = await client.post(URL, json={**SMALL, "dataset_path": name}, headers=hr.headers)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert await training_run_count(services) == 0
    assert model_files(services) == []


async def test_an_unknown_target_column_names_the_columns_that_exist(
    client: httpx.AsyncClient, factory: Factory
):
    hr = await factory.hr_staff()
    response = await client.post(
        URL, json={**SMALL, "target_column": "salary_band"}, headers=hr.headers
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Target column 'salary_band' is not in dataset" in detail
    assert "job_role_name, skill_name, skill_category, job_department, trend_score" in detail


async def test_a_users_own_file_with_two_classes_trains(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    frame = generate_future_skills(200, seed=5)
    frame = frame[frame["future_need_level"] != "LOW"]
    _write(services, "datasets/mine.csv", frame.to_csv(index=False).encode())
    response = await client.post(
        URL, json={**SMALL, "dataset_path": "datasets/mine.csv"}, headers=hr.headers
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["training_run_id"]
    detail = (await client.get(f"/api/training/runs/{run_id}/", headers=hr.headers)).json()
    assert set(detail["per_class_metrics"]) == {"MEDIUM", "HIGH"}


async def test_when_fitting_raises_the_run_is_failed_and_the_answer_is_500(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: a finite float64 that the forest's float32 cannot hold
    hr = await factory.hr_staff()
    frame = generate_future_skills(60)
    frame["avg_salary_k"] = frame["avg_salary_k"].astype(float)
    frame.loc[3, "avg_salary_k"] = 1e39
    _write(services, "huge.csv", frame.to_csv(index=False).encode())
    # when
    response = await client.post(
        URL, json={**SMALL, "dataset_path": "huge.csv", "model_version": "bad"}, headers=hr.headers
    )
    # then
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"detail", "training_run_id"}
    assert body["detail"].startswith("Training failed: ValueError: Input X contains infinity")
    detail = (
        await client.get(f"/api/training/runs/{body['training_run_id']}/", headers=hr.headers)
    ).json()
    assert detail["status"] == "FAILED"
    assert "too large for dtype('float32')" in detail["error_message"]
    assert detail["accuracy"] is None
    assert model_files(services) == []


async def test_async_training_answers_202_queued_and_the_run_completes(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    response = await client.post(
        URL, json={**SMALL, "async_training": True, "model_version": "bg"}, headers=hr.headers
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "QUEUED"
    assert set(body) == {"training_run_id", "status", "message"}
    await services.trainings.wait()
    detail = (
        await client.get(f"/api/training/runs/{body['training_run_id']}/", headers=hr.headers)
    ).json()
    assert detail["status"] == "COMPLETED"
    assert detail["accuracy"] > 0.5
    assert model_files(services) == ["bg.joblib"]


async def test_the_api_docs_describe_the_body_with_the_rest_names_and_bounds(
    client: httpx.AsyncClient,
):
    document = (await client.get("/api/openapi.json")).json()
    body = document["paths"]["/api/training/train"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert list(schema["properties"]) == [
        "dataset_path",
        "dataset_id",
        "test_split",
        "hyperparameters",
        "model_version",
        "notes",
        "target_column",
        "async_training",
    ]
    assert schema["additionalProperties"] is False
    split = schema["properties"]["test_split"]
    assert (split["minimum"], split["maximum"], split["default"]) == (0.1, 0.5, 0.2)
    trees = schema["properties"]["hyperparameters"]["properties"]["n_estimators"]
    assert (trees["minimum"], trees["maximum"]) == (1, 1000)


NO_SPACE = (
    "Could not keep the fitted model in the model directory (TRAINQL_MODEL_DIR): there is no "
    "space left on its storage. Nothing was kept; free space (or make the storage writable) "
    "and try again."
)
READ_ONLY = (
    "Could not keep the fitted model in the model directory (TRAINQL_MODEL_DIR): its storage "
    "is read-only. Nothing was kept; free space (or make the storage writable) and try again."
)


@pytest.mark.parametrize("storage", ["full", "read-only"])
async def test_a_model_that_cannot_be_written_fails_the_run_with_507(
    settings: Settings, tmp_path: Path, storage: str
):
    # given: a model directory on a small disk that is full, or read-only
    models = tmp_path / "model-disk"
    with small_tmpfs(models, size_kb=256):
        if storage == "full":
            fill(models, leave_kb=4)
        else:
            make_read_only(models)
        async with app_client(settings.model_copy(update={"model_dir": models})) as (http, svc):
            hr = await Factory(svc).hr_staff()
            # when
            response = await http.post(
                URL, json={**SMALL, "model_version": "no-room"}, headers=hr.headers
            )
            # then: 507 with the run's id, the run FAILED saying why, nothing half written
            assert response.status_code == 507, response.text
            body = response.json()
            assert set(body) == {"detail", "training_run_id"}
            expected = NO_SPACE if storage == "full" else READ_ONLY
            assert body["detail"] == f"Training failed: {expected}"
            run_url = f"/api/training/runs/{body['training_run_id']}/"
            detail = (await http.get(run_url, headers=hr.headers)).json()
            assert (detail["status"], detail["error_message"]) == ("FAILED", expected)
            assert files_under(models) == ([FILLER] if storage == "full" else [])
