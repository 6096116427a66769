"""Dataset.trainingRuns: the runs trained on a dataset, as a cursor connection."""

from __future__ import annotations

import httpx

from tests.factories import Factory, error_codes, graphql

RUNS_OF = """
query Runs($id: UUID!, $first: Int, $after: String) {
  dataset(id: $id) {
    name
    trainingRuns(first: $first, after: $after) {
      totalCount
      nodes { modelVersion dataset { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_dataset_lists_its_runs_newest_first_page_by_page(
    client: httpx.AsyncClient, factory: Factory
):
    # given: three runs on the dataset, one on another
    hr = await factory.hr_staff()
    dataset = await factory.dataset(owner=hr)
    other = await factory.dataset(owner=hr, name="other")
    versions = []
    for _ in range(3):
        versions.append((await factory.training_run(dataset_id=dataset.id)).model_version)
    await factory.training_run(dataset_id=other.id)

    # when
    first = await graphql(client, RUNS_OF, {"id": str(dataset.id), "first": 2}, hr.headers)
    runs = first["data"]["dataset"]["trainingRuns"]
    second = await graphql(
        client,
        RUNS_OF,
        {"id": str(dataset.id), "first": 2, "after": runs["pageInfo"]["endCursor"]},
        hr.headers,
    )

    # then
    assert runs["totalCount"] == 3
    assert runs["pageInfo"]["hasNextPage"] is True
    later = second["data"]["dataset"]["trainingRuns"]
    listed = [n["modelVersion"] for n in runs["nodes"] + later["nodes"]]
    assert listed == list(reversed(versions))
    assert later["pageInfo"]["hasNextPage"] is False
    assert {n["dataset"]["id"] for n in runs["nodes"]} == {str(dataset.id)}


async def test_runs_of_a_dataset_need_a_role(client: httpx.AsyncClient, factory: Factory):
    owner = await factory.account("plain")
    dataset = await factory.dataset(owner=owner)
    await factory.training_run(dataset_id=dataset.id)
    body = await graphql(client, RUNS_OF, {"id": str(dataset.id)}, owner.headers)
    # trainingRuns is non-null, so the refusal nulls the (nullable) dataset
    assert body["data"] == {"dataset": None}
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["dataset", "trainingRuns"]
