"""The GraphQL fuzzing check fails on server errors only, by our error codes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import print_ast

from tests.fuzz.hooks import _json_node, no_server_error


def answer(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"me": None}},
        {"data": None, "errors": [{"message": "Not found.", "extensions": {"code": "NOT_FOUND"}}]},
        {"errors": [{"message": "x", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]},
        [{"data": {"a": 1}}, {"errors": [{"message": "x", "extensions": {"code": "FORBIDDEN"}}]}],
    ],
)
def test_client_errors_pass(body: Any):
    assert no_server_error(None, answer(200, body), None) is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"detail": "Internal server error"}),
        (200, {"errors": [{"message": "Internal server error",
                           "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}),
        (200, {"errors": [{"message": "no code at all"}]}),
        (200, [{"data": {}}, {"errors": [{"message": "x", "extensions": {}}]}]),
    ],
)  # fmt: skip
def test_server_errors_fail(status: int, body: Any):
    with pytest.raises(AssertionError):
        no_server_error(None, answer(status, body), None)


def test_json_values_become_graphql_literals():
    node = _json_node({"a": [1, 2.5, True, None, "x"]})
    assert print_ast(node) == '{ a: [1, 2.5, true, null, "x"] }'
