"""The trainingRuns query: the connection shape, cursors over HTTP, errors, permissions, the
COUNT only when selected and a constant number of SQL statements per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import Account, Factory, error_codes, graphql
from tests.statements import counted_statements, without_token_check
from trainql.services import Services

RUNS = """
query Runs($filter: TrainingRunFilter, $orderBy: TrainingRunOrder, $first: Int, $after: String,
           $last: Int, $before: String) {
  trainingRuns(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last,
               before: $before) {
    edges { cursor node { id modelVersion } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

RUNS_WITH_COUNT = """
query Runs($filter: TrainingRunFilter) {
  trainingRuns(filter: $filter, first: 5) { totalCount nodes { id } }
}
"""

RUNS_WITH_RELATIONS = """
query Runs($first: Int) {
  trainingRuns(first: $first) {
    nodes { id status accuracy trainedBy { id username } dataset { id name } }
  }
}
"""

BASE = datetime(2025, 6, 1, tzinfo=UTC)


async def _runs(factory: Factory, count: int, **values: Any) -> list[int]:
    return await factory.training_runs(
        [
            {
                "run_date": BASE + timedelta(minutes=i),
                "model_version": f"g{i:04d}",
                "status": "COMPLETED",
                "accuracy": round(0.5 + (i % 7) / 20, 2),
                **values,
            }
            for i in range(count)
        ]
    )


async def test_connection_has_edges_nodes_and_page_info(
    client: httpx.AsyncClient, factory: Factory
):
    # given
    reader = await factory.manager()
    ids = await _runs(factory, 5)
    # when
    body = await graphql(client, RUNS, {"first": 3}, headers=reader.headers)
    # then
    runs = body["data"]["trainingRuns"]
    assert [edge["node"]["id"] for edge in runs["edges"]] == [str(i) for i in ids[::-1][:3]]
    assert runs["nodes"] == [{"id": edge["node"]["id"]} for edge in runs["edges"]]
    assert runs["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": runs["edges"][0]["cursor"],
        "endCursor": runs["edges"][-1]["cursor"],
    }


async def test_walking_forward_and_backward_over_http(client: httpx.AsyncClient, factory: Factory):
    reader = await factory.hr_staff()
    ids = await _runs(factory, 23)
    order = {"field": "ACCURACY", "direction": "ASC"}
    want = [i for _, i in sorted(((round(0.5 + (n % 7) / 20, 2), i) for n, i in enumerate(ids)))]

    forward: list[str] = []
    variables: dict[str, Any] = {"orderBy": order, "first": 5}
    while True:
        page = (await graphql(client, RUNS, variables, headers=reader.headers))["data"]
        forward += [n["id"] for n in page["trainingRuns"]["nodes"]]
        info = page["trainingRuns"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        variables = {"orderBy": order, "first": 5, "after": info["endCursor"]}

    backward: list[str] = []
    variables = {"orderBy": order, "last": 4}
    while True:
        page = (await graphql(client, RUNS, variables, headers=reader.headers))["data"]
        backward = [n["id"] for n in page["trainingRuns"]["nodes"]] + backward
        info = page["trainingRuns"]["pageInfo"]
        if not info["hasPreviousPage"]:
            break
        variables = {"orderBy": order, "last": 4, "before": info["startCursor"]}

    assert forward == backward == [str(i) for i in want]


async def test_filter_by_status_trainer_and_accuracy(client: httpx.AsyncClient, factory: Factory):
    reader = await factory.manager()
    hr = await factory.hr_staff("carol")
    mine = await _runs(factory, 4, trained_by_id=hr.user.id)
    await factory.training_runs(
        [{"run_date": BASE, "model_version": "q1", "status": "QUEUED", "trained_by_id": hr.user.id}]
    )
    body = await graphql(
        client,
        RUNS,
        {
            "filter": {"status": ["COMPLETED"], "trainedBy": "carol", "minAccuracy": 0.55},
            "first": 10,
        },
        headers=reader.headers,
    )
    got = [n["id"] for n in body["data"]["trainingRuns"]["nodes"]]
    assert got == [str(i) for i in mine[::-1] if i != mine[0]]


async def test_bad_page_arguments_are_bad_user_input(client: httpx.AsyncClient, factory: Factory):
    reader = await factory.manager()
    for variables, field in (
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"last": 500}, "last"),
        ({"after": "Zm9yZ2Vk"}, "after"),
        ({"before": "!!"}, "before"),
        ({"filter": {"minAccuracy": 2}}, "minAccuracy"),
    ):
        body = await graphql(client, RUNS, variables, headers=reader.headers)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert list(body["errors"][0]["extensions"]["fields"]) == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [("runDateFrom", "0001-01-01T00:00:00+01:00"), ("runDateTo", "9999-12-31T23:59:59-01:00")],
)
async def test_a_date_outside_the_utc_range_is_bad_user_input(
    client: httpx.AsyncClient, factory: Factory, field: str, value: str
):
    # Converted to UTC it would fall in year 0 or 10000: it was a masked server error.
    reader = await factory.manager()
    body = await graphql(client, RUNS, {"filter": {field: value}}, headers=reader.headers)
    message = f"{field} is outside the dates that can be compared: years 1 to 9999 in UTC."
    assert body["errors"][0]["message"] == message
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["fields"] == {field: [message]}


async def test_a_cursor_of_another_order_is_bad_user_input(
    client: httpx.AsyncClient, factory: Factory
):
    reader = await factory.manager()
    await _runs(factory, 3)
    first = await graphql(client, RUNS, {"first": 1}, headers=reader.headers)
    cursor = first["data"]["trainingRuns"]["pageInfo"]["endCursor"]
    body = await graphql(
        client,
        RUNS,
        {"orderBy": {"field": "F1_SCORE"}, "after": cursor},
        headers=reader.headers,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "belongs to the order 'RUN_DATE'" in body["errors"][0]["message"]


async def test_listing_runs_needs_hr_staff_or_manager(client: httpx.AsyncClient, factory: Factory):
    plain = await factory.account("plain")
    await _runs(factory, 2)
    assert error_codes(await graphql(client, RUNS)) == ["UNAUTHENTICATED"]
    forbidden = await graphql(client, RUNS, headers=plain.headers)
    assert error_codes(forbidden) == ["FORBIDDEN"]
    assert "HR_STAFF or MANAGER" in forbidden["errors"][0]["message"]
    bad_token = await graphql(client, RUNS, headers={"Authorization": "Token nope"})
    assert error_codes(bad_token) == ["UNAUTHENTICATED"]
    for account in (await factory.hr_staff(), await factory.manager()):
        body = await graphql(client, RUNS, headers=account.bearer)
        assert len(body["data"]["trainingRuns"]["nodes"]) == 2


async def test_total_count_is_counted_only_when_selected(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    reader = await factory.manager()
    await _runs(factory, 12)
    variables = {"filter": {"status": ["COMPLETED"]}}
    await graphql(client, RUNS, variables, headers=reader.headers)  # warm up the pool

    with counted_statements(services) as without:
        await graphql(client, RUNS, {**variables, "first": 5}, headers=reader.headers)
    with counted_statements(services) as with_count:
        body = await graphql(client, RUNS_WITH_COUNT, variables, headers=reader.headers)

    def counts(statements: list[str]) -> list[str]:
        # A COUNT(*), or (for status and trainer filters) a sum over the kept count rows.
        return [s for s in statements if "count(" in s.lower() or "_counts" in s]

    assert body["data"]["trainingRuns"]["totalCount"] == 12
    assert not counts(without)
    assert len(counts(with_count)) == 1


async def _page_statements(
    client: httpx.AsyncClient, services: Services, reader: Account, first: int
) -> tuple[int, list[dict[str, Any]]]:
    with counted_statements(services) as statements:
        body = await graphql(client, RUNS_WITH_RELATIONS, {"first": first}, headers=reader.headers)
    return len(without_token_check(statements)), body["data"]["trainingRuns"]["nodes"]


async def test_a_page_with_users_and_datasets_costs_constant_statements(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: 120 runs by 6 trainers over 3 datasets
    reader = await factory.manager()
    trainers = [(await factory.hr_staff(f"t{i}")).user.id for i in range(6)]
    datasets = [await factory.dataset_row(f"ds{i}") for i in range(3)]
    await factory.training_runs(
        [
            {
                "run_date": BASE + timedelta(seconds=i),
                "model_version": f"s{i}",
                "status": "COMPLETED",
                "trained_by_id": trainers[i % 6],
                "dataset_id": datasets[i % 3],
            }
            for i in range(120)
        ]
    )
    await _page_statements(client, services, reader, 1)  # warm up connections and caches

    # when
    small, few = await _page_statements(client, services, reader, 10)
    large, many = await _page_statements(client, services, reader, 100)

    # then: the same statements whatever the page size: the page (its trainers joined), the
    # datasets (one dataloader batch), besides the token check
    assert len(few) == 10 and len(many) == 100
    assert {n["trainedBy"]["username"] for n in many} == {f"t{i}" for i in range(6)}
    assert {n["dataset"]["name"] for n in many} == {"ds0", "ds1", "ds2"}
    assert small == large == 2


RUNS_WITH_DETAILS = """
query Runs($first: Int) {
  trainingRuns(first: $first) {
    nodes {
      id
      ... on TrainingRun { hyperparameters { nEstimators maxDepth minSamplesSplit } }
      ...Details
    }
  }
}
fragment Details on TrainingRun {
  featuresUsed
  perClassMetrics { label precision support }
  featureImportances { feature importance }
  confusionMatrix { labels matrix }
}
"""
RUN_DETAILS = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    id
    hyperparameters { nEstimators maxDepth minSamplesSplit }
    featuresUsed
    perClassMetrics { label precision support }
    featureImportances { feature importance }
    confusionMatrix { labels matrix }
  }
}
"""


async def test_a_page_selecting_run_details_reads_them_in_one_batch(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: 60 runs, each with its own details
    reader = await factory.manager()
    await factory.training_runs(
        [
            {
                "run_date": BASE + timedelta(seconds=i),
                "model_version": f"d{i}",
                "status": "COMPLETED",
                "hyperparameters": {"n_estimators": 10 + i, "max_depth": i or None},
                "features_used": [f"f{i}", "shared"],
                "per_class_metrics": {
                    "A": {
                        "accuracy": 0.5,
                        "precision": i / 100,
                        "recall": 0.5,
                        "f1_score": 0.5,
                        "support": i,
                    }
                },
                "feature_importances": {f"f{i}": 0.25, "shared": 0.75},
                "confusion_matrix": {"labels": ["A", "B"], "matrix": [[i, 1], [2, 3]]},
            }
            for i in range(60)
        ]
    )
    await graphql(client, RUNS_WITH_DETAILS, {"first": 1}, headers=reader.headers)  # warm up

    # when: pages of 10 and 50 select the details, through an inline fragment and a named one
    with counted_statements(services) as small:
        few = await graphql(client, RUNS_WITH_DETAILS, {"first": 10}, headers=reader.headers)
    with counted_statements(services) as large:
        many = await graphql(client, RUNS_WITH_DETAILS, {"first": 50}, headers=reader.headers)

    # then: every run's own details, as reading the run alone gives them, for the same
    # statements whatever the page size: the page, one batch of details (besides the token
    # check)
    nodes = many["data"]["trainingRuns"]["nodes"]
    assert len(few["data"]["trainingRuns"]["nodes"]) == 10 and len(nodes) == 50
    assert len(without_token_check(small)) == len(without_token_check(large)) == 2
    for node in nodes[::7]:
        alone = await graphql(client, RUN_DETAILS, {"id": node["id"]}, headers=reader.headers)
        assert alone["data"]["trainingRun"] == node
    i = 59  # newest first: the first node is run d59
    assert nodes[0]["hyperparameters"] == {
        "nEstimators": 10 + i,
        "maxDepth": i,
        "minSamplesSplit": 2,
    }
    assert nodes[0]["featuresUsed"] == [f"f{i}", "shared"]
    assert nodes[0]["perClassMetrics"] == [{"label": "A", "precision": i / 100, "support": i}]
    assert nodes[0]["featureImportances"] == [
        {"feature": "shared", "importance": 0.75},
        {"feature": f"f{i}", "importance": 0.25},
    ]
    assert nodes[0]["confusionMatrix"] == {"labels": ["A", "B"], "matrix": [[i, 1], [2, 3]]}
