"""createDataset (GraphQL multipart), setTrainingStatus, dataset and datasets."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.datasets_support import (
    REFUSED_UPLOADS,
    SKILLS_CSV,
    SmallLimitClient,
    chunked,
    chunked_headers,
    dataset_files,
    dataset_row_count,
    multipart_body,
    oversized_csv,
)
from tests.factories import PREFLIGHT, Account, Factory, error_codes, graphql, graphql_upload
from tests.storage_support import app_client, files_under, fill, small_tmpfs
from trainql.config import Settings
from trainql.services import Services

CREATE = """
mutation Create($name: String!, $file: Upload!) {
  createDataset(name: $name, file: $file) {
    id name trainingStatus rowCount columns createdAt updatedAt owner { username }
  }
}
"""

SET_STATUS = """
mutation Set($id: UUID!, $status: DatasetTrainingStatus!) {
  setTrainingStatus(datasetId: $id, trainingStatus: $status) {
    success datasetId trainingStatus message dataset { id trainingStatus updatedAt }
  }
}
"""

DATASET = """
query One($id: UUID!) { dataset(id: $id) { id name trainingStatus owner { username } } }
"""

DATASETS = """
query Mine($status: DatasetTrainingStatus, $first: Int, $after: String) {
  datasets(trainingStatus: $status, first: $first, after: $after) {
    edges { cursor node { id name } }
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

COUNT = "query { datasets { totalCount } }"


async def upload(
    client: httpx.AsyncClient,
    content: bytes = SKILLS_CSV,
    *,
    name: str = "skills",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await graphql_upload(
        client,
        CREATE,
        {"name": name, "file": None},
        {"variables.file": ("skills.csv", content)},
        headers=headers,
    )


# --- createDataset


async def test_anonymous_create_dataset_through_a_multipart_request(
    client: httpx.AsyncClient, settings: Settings
):
    # when
    response = await upload(client)
    # then
    assert response.status_code == 200, response.text
    created = response.json()["data"]["createDataset"]
    assert created["name"] == "skills"
    assert created["trainingStatus"] == "NOT_TRAINED"
    assert created["rowCount"] == 2
    assert created["columns"] == ["job_role_name", "trend_score", "future_need_level"]
    assert created["owner"] is None
    stored = Path(settings.data_path) / "datasets" / f"{created['id']}.csv"
    assert stored.read_bytes() == SKILLS_CSV


async def test_authenticated_create_dataset_is_owned(client: httpx.AsyncClient, factory: Factory):
    alice = await factory.account("alice")
    response = await upload(client, headers={**PREFLIGHT, **alice.bearer})
    assert response.json()["data"]["createDataset"]["owner"] == {"username": "alice"}


async def test_operation_name_header_also_allows_an_upload(client: httpx.AsyncClient):
    response = await upload(client, headers={"X-Apollo-Operation-Name": "Create"})
    assert response.status_code == 200
    assert response.json()["data"]["createDataset"]["name"] == "skills"


@pytest.mark.parametrize("headers", [{}, {"Apollo-Require-Preflight": ""}])
async def test_multipart_without_a_preflight_header_is_refused(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    headers: dict[str, str],
):
    response = await upload(client, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "Apollo-Require-Preflight" in body["errors"][0]["message"]
    assert dataset_files(settings) == []
    assert await dataset_row_count(services) == 0


@pytest.mark.parametrize("kind", sorted(REFUSED_UPLOADS))
async def test_unusable_uploads_are_dataset_invalid_and_leave_nothing(
    client: httpx.AsyncClient, services: Services, settings: Settings, kind: str
):
    content, message = REFUSED_UPLOADS[kind]
    body = (await upload(client, content)).json()
    assert body["data"] is None
    assert error_codes(body) == ["DATASET_INVALID"]
    assert message in body["errors"][0]["message"]
    assert dataset_files(settings) == []
    assert await dataset_row_count(services) == 0


async def test_create_dataset_onto_a_full_data_root_is_insufficient_storage_with_507(
    settings: Settings, tmp_path: Path
):
    # given: a data root with about 1 MB free
    with small_tmpfs(tmp_path / "small") as data_root:
        async with app_client(settings.model_copy(update={"data_root": data_root})) as (
            client,
            services,
        ):
            fill(data_root, leave_kb=1024)
            before = files_under(data_root)
            # when: a 4 MB upload
            response = await upload(client, oversized_csv(4))
            # then: the GraphQL error, in a GraphQL body, with the HTTP status 507
            assert response.status_code == 507, response.text
            body = response.json()
            assert body["data"] is None
            assert error_codes(body) == ["INSUFFICIENT_STORAGE"]
            assert body["errors"][0]["message"] == (
                "Could not keep the uploaded dataset in the data root (TRAINQL_DATA_ROOT): there "
                "is no space left on its storage. Nothing was kept; free space (or make the "
                "storage writable) and try again."
            )
            assert files_under(data_root) == before
            assert await dataset_row_count(services) == 0


async def test_a_file_variable_that_is_no_file_part_is_bad_user_input(
    client: httpx.AsyncClient, services: Services, settings: Settings
):
    # given: the Upload variable filled in with a string instead of mapped to a file part
    response = await client.post(
        "/graphql",
        files=[
            (
                "operations",
                (None, json.dumps({"query": CREATE, "variables": {"name": "x", "file": "x"}})),
            ),
            ("map", (None, "{}")),
        ],
        headers=PREFLIGHT,
    )
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == (
        "file must be a file part of the request (in GraphQL, mapped by `map`)."
    )
    assert body["errors"][0]["extensions"]["fields"] == {
        "file": ["file must be a file part of the request (in GraphQL, mapped by `map`)."]
    }
    assert dataset_files(settings) == []
    assert await dataset_row_count(services) == 0


async def test_blank_name_is_bad_user_input(client: httpx.AsyncClient, settings: Settings):
    body = (await upload(client, name=" ")).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["fields"] == {
        "name": ["name must be 1 to 255 characters, not blank."]
    }
    assert dataset_files(settings) == []


async def test_upload_over_the_limit_is_413_with_a_content_length(settings: Settings):
    async with SmallLimitClient(settings) as (client, services):
        response = await upload(client, oversized_csv(1.1))
        assert response.status_code == 413
        body = response.json()
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["message"] == (
            "The upload is larger than the limit of 1 MB (TRAINQL_MAX_UPLOAD_MB)."
        )
        assert dataset_files(settings) == []
        assert await dataset_row_count(services) == 0


async def test_upload_over_the_limit_is_413_while_streaming_without_a_content_length(
    settings: Settings,
):
    operations = json.dumps({"query": CREATE, "variables": {"name": "big", "file": None}})
    body = multipart_body(
        {"operations": operations, "map": json.dumps({"0": ["variables.file"]})},
        {"0": ("big.csv", oversized_csv(3))},
    )
    async with SmallLimitClient(settings) as (client, services):
        response = await client.post(
            "/graphql", content=chunked(body), headers=chunked_headers(PREFLIGHT)
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        assert dataset_files(settings) == []
        assert await dataset_row_count(services) == 0


# --- setTrainingStatus


async def set_status(
    client: httpx.AsyncClient, dataset_id: object, status: str, account: Account | None = None
) -> dict[str, Any]:
    return await graphql(
        client,
        SET_STATUS,
        {"id": str(dataset_id), "status": status},
        headers=account.headers if account else None,
    )


async def test_set_training_status_returns_the_payload(client: httpx.AsyncClient, factory: Factory):
    dataset = await factory.dataset()
    body = await set_status(client, dataset.id, "TRAINED")
    assert "errors" not in body
    payload = body["data"]["setTrainingStatus"]
    assert payload["dataset"]["updatedAt"] > dataset.updated_at.isoformat()
    del payload["dataset"]["updatedAt"]
    assert payload == {
        "success": True,
        "datasetId": str(dataset.id),
        "trainingStatus": "TRAINED",
        "message": "Dataset training status updated to 'trained'",
        "dataset": {"id": str(dataset.id), "trainingStatus": "TRAINED"},
    }


async def test_set_training_status_codes(client: httpx.AsyncClient, factory: Factory):
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    owned = await factory.dataset(owner=alice)

    unknown = await set_status(client, uuid.uuid4(), "TRAINED", alice)
    assert error_codes(unknown) == ["NOT_FOUND"]
    assert unknown["errors"][0]["message"] == "Dataset not found"

    anonymous = await set_status(client, owned.id, "TRAINED")
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]

    other = await set_status(client, owned.id, "TRAINED", bob)
    assert error_codes(other) == ["FORBIDDEN"]
    assert other["errors"][0]["message"] == "You don't have permission to update this dataset"

    owner = await set_status(client, owned.id, "TRAINED", alice)
    assert owner["data"]["setTrainingStatus"]["trainingStatus"] == "TRAINED"

    bad_token = await graphql(
        client,
        SET_STATUS,
        {"id": str(owned.id), "status": "TRAINED"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert error_codes(bad_token) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"id": "not-a-uuid", "status": "TRAINED"}, "BAD_USER_INPUT"),
        ({"status": "DONE"}, "BAD_USER_INPUT"),
        ({"status": "trained"}, "BAD_USER_INPUT"),
    ],
)
async def test_set_training_status_refuses_bad_variables(
    client: httpx.AsyncClient, factory: Factory, variables: dict[str, str], code: str
):
    dataset = await factory.dataset()
    body = await graphql(client, SET_STATUS, {"id": str(dataset.id), **variables})
    assert error_codes(body) == [code]


async def test_concurrent_set_training_status_ends_with_the_last_committed_write(
    client: httpx.AsyncClient, factory: Factory
):
    # given: 20 concurrent clients alternating the two values on one dataset
    dataset = await factory.dataset()
    statuses = ["TRAINED" if i % 2 else "NOT_TRAINED" for i in range(20)]
    # when
    bodies = await asyncio.gather(*(set_status(client, dataset.id, s) for s in statuses))
    # then: no errors, and updated_at (stamped under the row lock) orders the commits
    assert all("errors" not in body for body in bodies)
    written = [body["data"]["setTrainingStatus"]["dataset"] for body in bodies]
    assert len({w["updatedAt"] for w in written}) == 20
    last = max(written, key=lambda w: w["updatedAt"])
    final = (await graphql(client, DATASET, {"id": str(dataset.id)}))["data"]["dataset"]
    assert final["trainingStatus"] == last["trainingStatus"]


# --- dataset and datasets


async def test_dataset_query_follows_ownership(client: httpx.AsyncClient, factory: Factory):
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    owned = await factory.dataset(owner=alice, name="alice's")
    ownerless = await factory.dataset(name="anyone's")

    mine = await graphql(client, DATASET, {"id": str(owned.id)}, headers=alice.headers)
    assert mine["data"]["dataset"]["owner"] == {"username": "alice"}
    for headers in (None, bob.headers):
        shared = await graphql(client, DATASET, {"id": str(ownerless.id)}, headers=headers)
        assert shared["data"]["dataset"]["name"] == "anyone's"

    other = await graphql(client, DATASET, {"id": str(owned.id)}, headers=bob.headers)
    assert other["data"] == {"dataset": None}
    assert error_codes(other) == ["FORBIDDEN"]
    anonymous = await graphql(client, DATASET, {"id": str(owned.id)})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    missing = await graphql(client, DATASET, {"id": str(uuid.uuid4())}, headers=alice.headers)
    assert error_codes(missing) == ["NOT_FOUND"]


async def test_datasets_pages_through_the_callers_own_newest_first(
    client: httpx.AsyncClient, factory: Factory
):
    # given: five of alice's, one of bob's, one ownerless
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    for i in range(5):
        await factory.dataset(owner=alice, name=f"a{i}")
    await factory.dataset(owner=bob, name="b")
    await factory.dataset(name="nobody")
    # when
    names: list[str] = []
    after = None
    pages = []
    while True:
        body = await graphql(client, DATASETS, {"first": 2, "after": after}, headers=alice.headers)
        page = body["data"]["datasets"]
        pages.append(page)
        names += [node["name"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert names == ["a4", "a3", "a2", "a1", "a0"]
    assert [len(p["edges"]) for p in pages] == [2, 2, 1]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert pages[0]["pageInfo"]["startCursor"] == pages[0]["edges"][0]["cursor"]
    count = await graphql(client, COUNT, headers=alice.headers)
    assert count["data"]["datasets"]["totalCount"] == 5


async def test_walking_every_page_returns_each_own_dataset_once_and_no_one_elses(
    client: httpx.AsyncClient, factory: Factory
):
    # given: seven of alice's, interleaved with bob's and ownerless ones
    alice = await factory.account("alice")
    bob = await factory.account("bob")
    mine: set[str] = set()
    for i in range(7):
        mine.add(str((await factory.dataset(owner=alice, name=f"a{i}")).id))
        await factory.dataset(owner=bob, name=f"b{i}")
        await factory.dataset(name=f"n{i}")
    # when
    seen: list[str] = []
    after = None
    pages = []
    while True:
        body = await graphql(client, DATASETS, {"first": 3, "after": after}, headers=alice.headers)
        assert "errors" not in body, body
        page = body["data"]["datasets"]
        pages.append(page)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == mine
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]


async def test_datasets_filters_on_training_status(client: httpx.AsyncClient, factory: Factory):
    alice = await factory.account("alice")
    trained = await factory.dataset(owner=alice, name="done")
    await factory.dataset(owner=alice, name="todo")
    await set_status(client, trained.id, "TRAINED", alice)

    body = await graphql(client, DATASETS, {"status": "TRAINED"}, headers=alice.headers)
    assert body["data"]["datasets"]["nodes"] == [{"name": "done"}]
    body = await graphql(client, DATASETS, {"status": "NOT_TRAINED"}, headers=alice.headers)
    assert body["data"]["datasets"]["nodes"] == [{"name": "todo"}]
    counted = await graphql(
        client,
        "query { datasets(trainingStatus: TRAINED) { totalCount } }",
        headers=alice.headers,
    )
    assert counted["data"]["datasets"]["totalCount"] == 1


async def test_datasets_of_a_user_without_any_is_an_empty_page(
    client: httpx.AsyncClient, factory: Factory
):
    alice = await factory.account("alice")
    body = await graphql(client, DATASETS, headers=alice.headers)
    assert body["data"]["datasets"] == {
        "edges": [],
        "nodes": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 0},
        {"first": 101},
        {"after": "garbage!"},
        {"after": "WzEsMl0"},  # base64 of [1,2]: not one of our cursors
        {"after": "WyJub3QgYSBkYXRlIiwgIngiXQ"},
    ],
)
async def test_datasets_refuses_bad_arguments(
    client: httpx.AsyncClient, factory: Factory, variables: dict[str, Any]
):
    alice = await factory.account("alice")
    body = await graphql(client, DATASETS, variables, headers=alice.headers)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    field = next(iter(variables))
    assert field in body["errors"][0]["extensions"]["fields"]


async def test_malformed_uuid_literal_or_variable_is_a_client_error(client: httpx.AsyncClient):
    variable = await graphql(client, DATASET, {"id": "not-a-uuid"})
    assert error_codes(variable) == ["BAD_USER_INPUT"]
    assert "not-a-uuid" in variable["errors"][0]["message"]
    literal = await graphql(client, '{ dataset(id: "not-a-uuid") { id } }')
    assert error_codes(literal) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_datasets_needs_authentication(client: httpx.AsyncClient):
    body = await graphql(client, DATASETS)
    assert error_codes(body) == ["UNAUTHENTICATED"]
