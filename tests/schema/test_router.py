"""The /graphql router's own refusals: in the GraphQL body shape, with a code and a message
saying what is allowed (Strawberry's are plain text otherwise)."""

from __future__ import annotations

import httpx
import pytest

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
