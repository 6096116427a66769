"""Limits on depth, aliases, tokens and root fields; introspection on by default, switchable."""

from __future__ import annotations

import httpx
from graphql import get_introspection_query

from tests.factories import error_codes, graphql
from tests.limits_support import app_with, refusal
from trainql.config import Settings


async def test_graphiql_introspection_passes_the_default_limits(client: httpx.AsyncClient):
    body = await graphql(client, get_introspection_query(descriptions=True))
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_depth_limit(settings: Settings):
    # Depth counts the levels of fields with selections: `me { username }` is 1.
    deep = "query Deep { trainingRun(id: 1) { trainedBy { username } } }"
    async with app_with(settings, graphql_max_depth=1) as http:
        body = await graphql(http, deep)
        shallow = await graphql(http, "{ me { username } }")

    error = refusal(body)
    assert error["message"] == (
        "'Deep' is nested 2 levels deep (limit TRAINQL_GRAPHQL_MAX_DEPTH = 1)."
    )
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "TRAINQL_GRAPHQL_MAX_DEPTH",
        "max": 1,
        "found": 2,
    }
    assert shallow == {"data": {"me": None}}


async def test_depth_counts_through_fragments(settings: Settings):
    query = """
    query Deep { ...Root }
    fragment Root on Query { trainingRun(id: 1) { ... on TrainingRun { trainedBy { id } } } }
    """
    async with app_with(settings, graphql_max_depth=1) as http:
        error = refusal(await graphql(http, query))
    assert error["extensions"]["found"] == 2


async def test_alias_limit(client: httpx.AsyncClient):
    fields = " ".join(f"a{i}: username" for i in range(31))

    error = refusal(await graphql(client, f"{{ me {{ {fields} }} }}"))

    assert error["message"] == (
        "The document uses 31 aliases (limit TRAINQL_GRAPHQL_MAX_ALIASES = 30)."
    )
    assert error["extensions"]["found"] == 31


async def test_token_limit(client: httpx.AsyncClient):
    query = "{ me { " + "username " * 2000 + "} }"

    error = refusal(await graphql(client, query))

    assert error["message"] == (
        "The document has more than 2000 tokens (limit TRAINQL_GRAPHQL_MAX_TOKENS = 2000)."
    )
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "TRAINQL_GRAPHQL_MAX_TOKENS",
        "max": 2000,
    }


async def test_other_syntax_errors_stay_parse_failures(client: httpx.AsyncClient):
    body = await graphql(client, "{ me { username ")
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]


async def test_root_field_limit(client: httpx.AsyncClient):
    fields = " ".join(f"m{i}: me {{ id }}" for i in range(21))

    error = refusal(await graphql(client, f"query Wide {{ __typename {fields} }}"))

    assert error["message"] == (
        "'Wide' selects 21 root fields (limit TRAINQL_GRAPHQL_MAX_ROOT_FIELDS = 20)."
    )
    assert error["extensions"]["found"] == 21


async def test_twenty_root_fields_pass(client: httpx.AsyncClient):
    fields = " ".join(f"m{i}: me {{ id }}" for i in range(20))
    body = await graphql(client, f"{{ {fields} }}")
    assert body == {"data": {f"m{i}": None for i in range(20)}}


async def test_limits_apply_to_persisted_queries_and_batches(client: httpx.AsyncClient):
    fields = " ".join(f"a{i}: username" for i in range(31))
    batch = [{"query": "{ me { username } }"}, {"query": f"{{ me {{ {fields} }} }}"}]

    response = await client.post("/graphql", json=batch)

    ok, refused = response.json()
    assert ok == {"data": {"me": None}}
    assert refusal(refused)["extensions"]["limit"] == "TRAINQL_GRAPHQL_MAX_ALIASES"


async def test_introspection_can_be_switched_off(settings: Settings):
    async with app_with(settings, graphql_introspection=False) as http:
        body = await graphql(http, "{ __schema { queryType { name } } }")
        typename = await graphql(http, "{ __typename me { id } }")

    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in body["errors"][0]["message"]
    assert typename == {"data": {"__typename": "Query", "me": None}}


async def test_an_int_literal_past_pythons_digit_limit_is_a_validation_error(
    client: httpx.AsyncClient,
):
    # graphql-core's int() of it raised a ValueError, answered as a masked server error
    body = await graphql(client, "{ trainingRuns(first: " + "1" * 5000 + ") { totalCount } }")
    assert body["errors"][0]["message"] == (
        "An integer literal has 5000 digits: a GraphQL Int has at most 10, and this server "
        "reads no integer of more than 4300."
    )
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
