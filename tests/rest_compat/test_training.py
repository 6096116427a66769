"""GET /api/training/runs/: the legacy page-number list, its filters and links, and its
agreement with the trainingRuns query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import Factory, graphql

BASE = datetime(2025, 11, 27, 16, 30, tzinfo=UTC)
LIST = "/api/training/runs/"
SUMMARY_FIELDS = {
    "id",
    "run_date",
    "model_version",
    "status",
    "accuracy",
    "precision",
    "recall",
    "f1_score",
    "training_duration_seconds",
    "trained_by_username",
}


async def _runs(factory: Factory, count: int, **values: Any) -> list[int]:
    return await factory.training_runs(
        [
            {
                "run_date": BASE + timedelta(minutes=i),
                "model_version": f"r{i:04d}-{values.get('status', 'COMPLETED')}",
                "status": "COMPLETED",
                **values,
            }
            for i in range(count)
        ]
    )


async def test_list_has_the_legacy_shape_newest_first(client: httpx.AsyncClient, factory: Factory):
    # given
    admin = await factory.hr_staff("admin")
    ids = await _runs(factory, 3, trained_by_id=admin.user.id, accuracy=0.9861)
    # when
    for path in (LIST, LIST.rstrip("/")):
        response = await client.get(path, headers=admin.headers)
        # then
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 3
        assert body["next"] is None and body["previous"] is None
        assert [r["id"] for r in body["results"]] == ids[::-1]
        first = body["results"][0]
        assert set(first) == SUMMARY_FIELDS
        assert first["run_date"] == "2025-11-27T16:32:00Z"
        assert first["accuracy"] == 0.9861
        assert first["trained_by_username"] == "admin"


async def test_pages_link_with_absolute_urls_that_keep_the_filters(
    client: httpx.AsyncClient, factory: Factory
):
    reader = await factory.manager()
    await _runs(factory, 45)
    await _runs(factory, 5, status="FAILED")

    first = (await client.get(LIST, params={"status": "COMPLETED"}, headers=reader.headers)).json()
    assert first["count"] == 45 and len(first["results"]) == 20
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/training/runs/?status=COMPLETED&page=2"

    second = (await client.get(first["next"], headers=reader.headers)).json()
    assert second["previous"] == "http://testserver/api/training/runs/?status=COMPLETED"
    third = (await client.get(second["next"], headers=reader.headers)).json()
    assert len(third["results"]) == 5 and third["next"] is None
    assert third["previous"] == "http://testserver/api/training/runs/?status=COMPLETED&page=2"
    seen = [r["id"] for page in (first, second, third) for r in page["results"]]
    assert len(set(seen)) == 45


@pytest.mark.parametrize(
    ("page_size", "expected"), [("50", 50), ("100", 100), ("1000", 100), (None, 20)]
)
async def test_page_size_defaults_to_20_and_is_clamped_at_100(
    client: httpx.AsyncClient, factory: Factory, page_size: str | None, expected: int
):
    reader = await factory.manager()
    await _runs(factory, 130)
    params = {} if page_size is None else {"page_size": page_size}
    body = (await client.get(LIST, params=params, headers=reader.headers)).json()
    assert len(body["results"]) == expected
    assert body["count"] == 130


@pytest.mark.parametrize("page_size", ["0", "-3", "ten"])
async def test_page_size_that_is_not_a_positive_integer_is_400(
    client: httpx.AsyncClient, factory: Factory, page_size: str
):
    reader = await factory.manager()
    response = await client.get(LIST, params={"page_size": page_size}, headers=reader.headers)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "page_size": ["A positive integer; default 20, at most 100."]
    }


@pytest.mark.parametrize("page", ["4", "0", "-1", "two", "9" * 30])
async def test_a_page_past_the_end_or_not_a_page_is_404(
    client: httpx.AsyncClient, factory: Factory, page: str
):
    reader = await factory.manager()
    await _runs(factory, 25)
    assert (await client.get(LIST, params={"page": "2"}, headers=reader.headers)).status_code == 200
    response = await client.get(
        LIST, params={"page": page, "page_size": "10"}, headers=reader.headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


async def test_a_repeated_parameter_counts_its_last_value_and_an_empty_one_none(
    client: httpx.AsyncClient, factory: Factory
):
    # given: 25 completed runs
    reader = await factory.manager()
    completed = await _runs(factory, 25)

    async def ids(query: str) -> list[int]:
        response = await client.get(f"{LIST}?{query}", headers=reader.headers)
        assert response.status_code == 200, response.text
        return [run["id"] for run in response.json()["results"]]

    # then: page and page_size take their last value
    assert await ids("page_size=50&page_size=10") == completed[::-1][:10]
    assert await ids("page=9&page=2&page_size=10") == completed[::-1][10:20]
    # and: empty filters filter nothing; an empty page_size is the default
    assert await ids("status=&trained_by=&page_size=") == completed[::-1][:20]
    # and: an unknown status among repeated ones is refused
    response = await client.get(f"{LIST}?status=COMPLETED&status=NOPE", headers=reader.headers)
    assert response.status_code == 400


async def test_page_one_of_an_empty_list_is_empty(client: httpx.AsyncClient, factory: Factory):
    reader = await factory.manager()
    response = await client.get(LIST, headers=reader.headers)
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert (await client.get(LIST, params={"page": 2}, headers=reader.headers)).status_code == 404


async def test_filter_by_status_and_trainer(client: httpx.AsyncClient, factory: Factory):
    reader = await factory.manager()
    admin = await factory.hr_staff("admin")
    other = await factory.hr_staff("other")
    failed = await _runs(factory, 2, status="FAILED", trained_by_id=admin.user.id)
    await _runs(factory, 3, trained_by_id=admin.user.id)
    running = await _runs(factory, 2, status="RUNNING", trained_by_id=other.user.id)

    def ids(body: dict[str, Any]) -> list[int]:
        return [r["id"] for r in body["results"]]

    async def get(**params: Any) -> dict[str, Any]:
        response = await client.get(LIST, params=params, headers=reader.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert ids(await get(status="FAILED")) == failed[::-1]
    assert ids(await get(status="failed", trained_by="admin")) == failed[::-1]
    # Each group starts at BASE: newest first, the later id first on equal run dates.
    both = [running[1], failed[1], running[0], failed[0]]
    assert ids(await get(status="RUNNING,FAILED")) == both
    assert ids(await get(status=["RUNNING", "FAILED"], trained_by="other")) == running[::-1]
    assert (await get(trained_by="admin"))["count"] == 5
    assert await get(trained_by="nobody") == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


async def test_an_unknown_status_is_400_naming_the_allowed_ones(
    client: httpx.AsyncClient, factory: Factory
):
    reader = await factory.manager()
    response = await client.get(LIST, params={"status": "DONE"}, headers=reader.headers)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Unknown status 'DONE'. Allowed: QUEUED, RUNNING, COMPLETED, FAILED."
    assert body["errors"] == {"status": ["Must be one of QUEUED, RUNNING, COMPLETED, FAILED."]}


async def test_listing_needs_hr_staff_or_manager(client: httpx.AsyncClient, factory: Factory):
    plain = await factory.account("plain")
    anonymous = await client.get(LIST)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    bad = await client.get(LIST, headers={"Authorization": "Token wrong"})
    assert bad.status_code == 401
    forbidden = await client.get(LIST, headers=plain.headers)
    assert forbidden.status_code == 403
    assert "HR_STAFF or MANAGER" in forbidden.json()["detail"]


RUNS = """
query Runs($filter: TrainingRunFilter, $first: Int, $after: String) {
  trainingRuns(filter: $filter, first: $first, after: $after) {
    totalCount
    nodes { id runDate modelVersion status accuracy f1Score trainedBy { username } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.mark.parametrize(
    ("params", "graphql_filter"),
    [
        ({}, None),
        ({"status": "COMPLETED"}, {"status": ["COMPLETED"]}),
        ({"trained_by": "admin", "status": "FAILED"}, {"trainedBy": "admin", "status": ["FAILED"]}),
    ],
)
async def test_rest_list_and_graphql_query_agree(
    client: httpx.AsyncClient,
    factory: Factory,
    params: dict[str, str],
    graphql_filter: dict[str, Any] | None,
):
    # given: runs sharing run dates, by two trainers, in several statuses
    admin = await factory.hr_staff("admin")
    other = await factory.manager("other")
    await factory.training_runs(
        [
            {
                "run_date": BASE + timedelta(minutes=i // 3),
                "model_version": f"a{i}",
                "status": ("COMPLETED", "FAILED", "RUNNING")[i % 3],
                "accuracy": 0.8 if i % 3 == 0 else None,
                "trained_by_id": (admin.user.id, other.user.id)[i % 2],
            }
            for i in range(57)
        ]
    )
    # when
    rest: list[dict[str, Any]] = []
    url: str | None = LIST
    query: dict[str, str] | None = {**params, "page_size": "7"}
    while url:
        body = (await client.get(url, params=query, headers=admin.headers)).json()
        query = None  # `next` carries the filters (httpx would drop them for params={})
        rest += body["results"]
        url = body["next"]
    nodes: list[dict[str, Any]] = []
    variables: dict[str, Any] = {"filter": graphql_filter, "first": 9}
    while True:
        page = (await graphql(client, RUNS, variables, headers=admin.headers))["data"]
        nodes += page["trainingRuns"]["nodes"]
        assert page["trainingRuns"]["totalCount"] == body["count"]
        if not page["trainingRuns"]["pageInfo"]["hasNextPage"]:
            break
        variables = {**variables, "after": page["trainingRuns"]["pageInfo"]["endCursor"]}
    # then
    assert len(rest) == body["count"] > 0
    assert [
        (
            str(r["id"]),
            datetime.fromisoformat(r["run_date"]),
            r["model_version"],
            r["status"],
            r["accuracy"],
            r["trained_by_username"],
        )
        for r in rest
    ] == [
        (
            n["id"],
            datetime.fromisoformat(n["runDate"]),
            n["modelVersion"],
            n["status"],
            n["accuracy"],
            n["trainedBy"]["username"],
        )
        for n in nodes
    ]


async def test_the_list_parameters_are_described_in_the_openapi_document(
    client: httpx.AsyncClient,
):
    document = (await client.get("/api/openapi.json")).json()
    parameters = document["paths"]["/api/training/runs"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in parameters] == [
        ("page", "query", False),
        ("page_size", "query", False),
        ("status", "query", False),
        ("trained_by", "query", False),
    ]
    status = parameters[2]["schema"]["anyOf"]
    assert status == [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
