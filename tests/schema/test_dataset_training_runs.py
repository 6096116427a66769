"""Dataset.trainingRuns: the runs trained on a dataset, as a cursor connection."""

from __future__ import annotations

import httpx

from tests.factories import Account, Factory, error_codes, graphql
from tests.statements import counted_statements, without_token_check
from trainql.services import Services

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


DATASETS_WITH_RUNS = """
query Page($runs: Int) {
  datasets(first: 20) {
    nodes {
      name
      trainingRuns(first: $runs) {
        totalCount
        nodes { modelVersion trainedBy { username } }
        pageInfo { hasNextPage hasPreviousPage }
      }
    }
  }
}
"""


async def _datasets_with_runs(
    factory: Factory, owner: Account, names: range
) -> dict[str, list[str]]:
    """A dataset per name, the n-th with n % 4 runs: each one's run versions, oldest first."""
    versions: dict[str, list[str]] = {}
    for n in names:
        dataset = await factory.dataset(owner=owner, name=f"d{n:02d}")
        made = [
            await factory.training_run(dataset_id=dataset.id, trained_by_id=owner.user.id)
            for _ in range(n % 4)
        ]
        versions[dataset.name] = [run.model_version for run in made]
    return versions


async def test_a_page_of_datasets_reads_all_their_runs_in_constant_statements(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: 2 datasets with their runs, and later 18 more
    hr = await factory.hr_staff()
    versions = await _datasets_with_runs(factory, hr, range(2))
    await graphql(client, "{ me { username } }", headers=hr.headers)  # the token's first use

    # when
    with counted_statements(services) as few:
        two = await graphql(client, DATASETS_WITH_RUNS, {"runs": 2}, hr.headers)
    versions |= await _datasets_with_runs(factory, hr, range(2, 20))
    with counted_statements(services) as many:
        twenty = await graphql(client, DATASETS_WITH_RUNS, {"runs": 2}, hr.headers)

    # then: as many statements for 20 datasets as for 2 (datasets, runs, counts; besides the
    # token check)
    assert "errors" not in two and "errors" not in twenty
    assert len(without_token_check(few)) == len(without_token_check(many)) == 3, many
    pages = {n["name"]: n["trainingRuns"] for n in twenty["data"]["datasets"]["nodes"]}
    assert set(pages) == set(versions)
    for name, made in versions.items():
        # each dataset's own runs, newest first, two at most
        assert pages[name] == {
            "totalCount": len(made),
            "nodes": [{"modelVersion": v, "trainedBy": {"username": "hr"}} for v in made[::-1][:2]],
            "pageInfo": {"hasNextPage": len(made) > 2, "hasPreviousPage": False},
        }, name
