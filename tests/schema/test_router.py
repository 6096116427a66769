"""The /graphql router's own refusals: in the GraphQL body shape, with a code and a message
saying what is allowed (Strawberry's are plain text otherwise)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.datasets_support import dataset_files
from tests.factories import PREFLIGHT
from trainql.config import Settings

TOO_LONG = "1" * 5000


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (
            "application/json",
            b"{",
            'The request body is not valid JSON; send a JSON object {"query": ..., "variables": '
            '..., "operationName": ...} (or an array of them).',
        ),
        (
            "application/json",
            b'{"variables": {}}',
            "No GraphQL query found in the request: send `query` (or a persisted query's hash in "
            "`extensions`).",
        ),
        (
            "text/plain",
            b'{"query": "{ __typename }"}',
            "This Content-Type is not accepted for GraphQL: send application/json, "
            "multipart/form-data for uploads, or use GET for queries.",
        ),
    ],
)
async def test_what_strawberry_refuses_is_answered_in_the_graphql_shape(
    client: httpx.AsyncClient, content_type: str, body: bytes, message: str
):
    response = await client.post("/graphql", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"query": "{ __typename }", "variables": {"n": ' + TOO_LONG.encode() + b"}}",
            "The JSON holds a number of more than 4300 digits, which no field accepts.",
        ),
    ],
)
async def test_json_that_python_cannot_read_is_400_not_500(
    client: httpx.AsyncClient, body: bytes, message: str
):
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }


async def test_a_multipart_operations_field_nested_too_deeply_is_400(client: httpx.AsyncClient):
    # The request guard bounds JSON bodies; a multipart field is parsed by the router.
    operations = '{"query": "{ __typename }", "variables": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = await client.post(
        "/graphql",
        files={"operations": (None, operations), "map": (None, "{}")},
        headers={"Apollo-Require-Preflight": "true"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "The JSON is nested too deeply to be read; flatten it.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }


UPLOAD = 'mutation($f: Upload!) { createDataset(name: "x", file: $f) { id } }'
OPERATIONS = json.dumps({"query": UPLOAD, "variables": {"f": None}})
MAP_MESSAGE = (
    "The multipart `map` field must be a JSON object mapping each file part's name to a list "
    'of paths in `operations`, e.g. {"0": ["variables.file"]}.'
)
OPERATIONS_MESSAGE = (
    'The multipart `operations` field must be a JSON object {"query", "variables", ...} or an '
    "array of them."
)


@pytest.mark.parametrize(
    ("operations", "file_map", "message"),
    [
        (OPERATIONS, "[]", MAP_MESSAGE),
        (OPERATIONS, '{"0": "variables.f"}', MAP_MESSAGE),
        (OPERATIONS, '{"0": [1]}', MAP_MESSAGE),
        ('"text"', "{}", OPERATIONS_MESSAGE),
        ("[1, 2]", "{}", OPERATIONS_MESSAGE),
        (OPERATIONS, '{"0": ["nowhere.at.all"]}', "File(s) missing in form data"),
    ],
)
async def test_a_multipart_request_of_the_wrong_shape_is_400(
    client: httpx.AsyncClient, settings: Settings, operations: str, file_map: str, message: str
):
    response = await client.post(
        "/graphql",
        files=[
            ("operations", (None, operations)),
            ("map", (None, file_map)),
            ("0", ("a.csv", b"a,b\n1,2\n", "text/csv")),
        ],
        headers=PREFLIGHT,
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert dataset_files(settings) == []


async def test_a_multipart_body_without_a_boundary_is_400_in_the_graphql_shape(
    client: httpx.AsyncClient,
):
    response = await client.post(
        "/graphql", content=b"x", headers={**PREFLIGHT, "Content-Type": "multipart/form-data"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"message": "Missing boundary in multipart.", "extensions": {"code": "BAD_REQUEST"}}
        ]
    }


@pytest.mark.parametrize(
    ("method", "params", "body"),
    [
        ("POST", None, {"query": "{ __typename }"}),
        ("GET", {"query": "{ __typename }"}, None),
    ],
)
async def test_an_answer_carries_one_content_length_that_is_its_bodys(
    client: httpx.AsyncClient, method: str, params: dict[str, str] | None, body: object
):
    # The router builds each request's context itself (FastAPI's dependencies skipped); the
    # sub-response resolvers may set headers on must not add a second, empty length.
    response = await client.request(method, "/graphql", params=params, json=body)
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers.get_list("content-length") == [str(len(response.content))]
