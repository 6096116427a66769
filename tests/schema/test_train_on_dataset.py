"""trainModel(input: {datasetId}) and POST /api/training/train/ {"dataset_id"}: training on an
uploaded dataset links the run to it."""

from __future__ import annotations

import httpx

from tests.factories import Account, Factory, error_codes, graphql, training_run_count
from trainql.ml.default_dataset import default_dataset_source
from trainql.services import Services

TRAIN = """
mutation Train($input: TrainModelInput) {
  trainModel(input: $input) {
    message
    trainingRun { id status datasetPath totalSamples dataset { id name rowCount } }
  }
}
"""


async def _upload(client: httpx.AsyncClient, owner: Account | None, name: str = "skills") -> str:
    content = default_dataset_source().read_bytes()
    response = await client.post(
        "/ai/datasets",
        data={"name": name},
        files={"file": ("skills.csv", content, "text/csv")},
        headers=owner.headers if owner else {},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_training_on_an_uploaded_dataset_links_the_run(
    client: httpx.AsyncClient, factory: Factory
):
    # given
    hr = await factory.hr_staff()
    dataset_id = await _upload(client, hr)
    # when
    body = await graphql(
        client,
        TRAIN,
        {"input": {"datasetId": dataset_id, "hyperparameters": {"nEstimators": 10}}},
        headers=hr.headers,
    )
    # then
    run = body["data"]["trainModel"]["trainingRun"]
    assert run["status"] == "COMPLETED"
    assert run["datasetPath"] == f"datasets/{dataset_id}.csv"
    assert run["totalSamples"] == 357
    assert run["dataset"] == {"id": dataset_id, "name": "skills", "rowCount": 357}

    detail = await client.get(f"/api/training/runs/{run['id']}/", headers=hr.headers)
    assert detail.json()["dataset_id"] == dataset_id


async def test_rest_training_on_an_ownerless_dataset(client: httpx.AsyncClient, factory: Factory):
    hr = await factory.hr_staff()
    dataset_id = await _upload(client, None)
    response = await client.post(
        "/api/training/train/",
        json={"dataset_id": dataset_id, "hyperparameters": {"n_estimators": 10}},
        headers=hr.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "COMPLETED"


async def test_someone_elses_dataset_is_forbidden_and_records_nothing(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    owner = await factory.account("owner")
    hr = await factory.hr_staff()
    dataset_id = await _upload(client, owner)
    body = await graphql(client, TRAIN, {"input": {"datasetId": dataset_id}}, headers=hr.headers)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["message"] == "You don't have permission to read this dataset"
    assert await training_run_count(services) == 0


async def test_unknown_dataset_and_ambiguous_source(client: httpx.AsyncClient, factory: Factory):
    hr = await factory.hr_staff()
    unknown = await graphql(
        client,
        TRAIN,
        {"input": {"datasetId": "00000000-0000-0000-0000-000000000000"}},
        headers=hr.headers,
    )
    assert error_codes(unknown) == ["NOT_FOUND"]

    both = await client.post(
        "/api/training/train/",
        json={"dataset_id": "00000000-0000-0000-0000-000000000000", "dataset_path": "x.csv"},
        headers=hr.headers,
    )
    assert both.status_code == 400
    assert both.json()["errors"] == {"dataset_id": ["Give dataset_id or dataset_path, not both."]}

    malformed = await client.post(
        "/api/training/train/", json={"dataset_id": "nope"}, headers=hr.headers
    )
    assert malformed.status_code == 400
    assert "UUID" in malformed.json()["errors"]["dataset_id"][0]
