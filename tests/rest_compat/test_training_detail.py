"""GET /api/training/runs/{id}/ and the trainingRun query read the same row."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.factories import Factory, error_codes, graphql

RUN = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    id modelVersion status accuracy testSplit
    hyperparameters { nEstimators maxDepth minSamplesSplit }
    perClassMetrics { label support f1Score }
    metrics { accuracy f1Score trainingDurationSeconds }
    featureImportances { feature importance }
    confusionMatrix { labels matrix }
    trainedBy { username }
    dataset { id }
  }
}
"""


async def test_detail_has_every_documented_field_with_its_type(
    client: httpx.AsyncClient, factory: Factory
):
    account = await factory.manager()
    run = await factory.training_run(
        trained_by_id=account.user.id,
        notes="Production model",
        run_date=datetime(2025, 11, 27, 16, 30, tzinfo=UTC),
    )

    for path in (f"/api/training/runs/{run.id}/", f"/api/training/runs/{run.id}"):
        response = await client.get(path, headers=account.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == run.id
        assert body["run_date"] == "2025-11-27T16:30:00Z"
        assert body["status"] == "COMPLETED"
        assert body["trained_by_username"] == "boss"
        # In the legacy order too: clients compare the bytes.
        assert list(body["per_class_metrics"]["HIGH"].items()) == [
            ("accuracy", 1.0),
            ("precision", 1.0),
            ("recall", 1.0),
            ("f1_score", 1.0),
            ("support", 24),
        ]
        expected_types: dict[str, type] = {
            "model_path": str,
            "dataset_path": str,
            "error_message": type(None),
            "accuracy": float,
            "precision": float,
            "recall": float,
            "f1_score": float,
            "total_samples": int,
            "train_samples": int,
            "test_samples": int,
            "test_split": float,
            "n_estimators": int,
            "random_state": int,
            "hyperparameters": dict,
            "training_duration_seconds": float,
            "features_used": list,
            "notes": str,
            "model_version": str,
        }
        for name, kind in expected_types.items():
            assert isinstance(body[name], kind), (name, body[name])


async def test_graphql_training_run_matches(client: httpx.AsyncClient, factory: Factory):
    account = await factory.hr_staff()
    run = await factory.training_run(trained_by_id=account.user.id)
    body = await graphql(client, RUN, {"id": str(run.id)}, headers=account.headers)
    got = body["data"]["trainingRun"]
    assert got["id"] == str(run.id)
    assert got["hyperparameters"] == {"nEstimators": 100, "maxDepth": None, "minSamplesSplit": 2}
    assert got["metrics"]["accuracy"] == 0.9
    assert got["featureImportances"][0] == {"feature": "trend_score", "importance": 0.7}
    assert got["confusionMatrix"] == {"labels": ["HIGH", "MEDIUM"], "matrix": [[24, 0], [1, 47]]}
    assert got["trainedBy"] == {"username": "hr"}
    assert got["dataset"] is None


@pytest.mark.parametrize(
    "run_id",
    [
        "999",
        "abc",
        "0",
        "-1",
        # past every integer the databases hold (the fuzzer's 500), and just past int4
        "999999999999999999999999999999",
        str(2**31),
        # what int() would take but is no id
        "1_0",
        "\u0663",
        "1e3",
    ],
)
async def test_unknown_run_is_not_found(client: httpx.AsyncClient, factory: Factory, run_id: str):
    account = await factory.manager()
    response = await client.get(f"/api/training/runs/{run_id}/", headers=account.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    body = await graphql(client, RUN, {"id": run_id}, headers=account.headers)
    assert body["data"] == {"trainingRun": None}
    assert error_codes(body) == ["NOT_FOUND"]


async def test_reading_runs_needs_a_role(client: httpx.AsyncClient, factory: Factory):
    plain = await factory.account("plain")
    run = await factory.training_run()
    anonymous = await client.get(f"/api/training/runs/{run.id}/")
    assert anonymous.status_code == 401
    forbidden = await client.get(f"/api/training/runs/{run.id}/", headers=plain.headers)
    assert forbidden.status_code == 403
    assert "HR_STAFF or MANAGER" in forbidden.json()["detail"]
    body = await graphql(client, RUN, {"id": str(run.id)}, headers=plain.headers)
    assert error_codes(body) == ["FORBIDDEN"]
    body = await graphql(client, RUN, {"id": str(run.id)})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_the_run_id_is_described_in_the_openapi_document(client: httpx.AsyncClient):
    document = (await client.get("/api/openapi.json")).json()
    [parameter] = document["paths"]["/api/training/runs/{run_id}"]["get"]["parameters"]
    assert parameter == {
        "name": "run_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "title": "Run Id"},
    }
