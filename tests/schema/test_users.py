"""The `me` query and the `obtainToken` mutation."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Factory, error_codes, graphql
from trainql.domain import Role

ME = "{ me { id username roles } }"
OBTAIN = """
mutation Login($u: String!, $p: String!) {
  obtainToken(username: $u, password: $p) { token user { username roles } }
}
"""


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
async def test_me_with_either_scheme(client: httpx.AsyncClient, factory: Factory, scheme: str):
    account = await factory.account("both", *Role)
    body = await graphql(client, ME, headers={"Authorization": f"{scheme} {account.token}"})
    assert body["data"]["me"] == {
        "id": str(account.user.id),
        "username": "both",
        "roles": ["HR_STAFF", "MANAGER"],
    }


async def test_anonymous_me_is_null(client: httpx.AsyncClient):
    body = await graphql(client, ME)
    assert body == {"data": {"me": None}}


async def test_me_over_get(client: httpx.AsyncClient, factory: Factory):
    account = await factory.hr_staff()
    response = await client.get("/graphql", params={"query": ME}, headers=account.bearer)
    assert response.status_code == 200
    assert response.json()["data"]["me"]["username"] == "hr"


@pytest.mark.parametrize("header", ["Token deadbeef", "Bearer", "Basic dXNlcjpwYXNz"])
async def test_bad_token_is_unauthenticated(client: httpx.AsyncClient, header: str):
    body = await graphql(client, ME, headers={"Authorization": header})
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_obtain_token_returns_a_token_that_authenticates(
    client: httpx.AsyncClient, factory: Factory
):
    account = await factory.manager("mia")
    body = await graphql(client, OBTAIN, {"u": "mia", "p": account.password})
    payload = body["data"]["obtainToken"]
    assert payload["user"] == {"username": "mia", "roles": ["MANAGER"]}
    me = await graphql(client, ME, headers={"Authorization": f"Token {payload['token']}"})
    assert me["data"]["me"]["username"] == "mia"


async def test_obtain_token_with_bad_credentials_is_bad_user_input(
    client: httpx.AsyncClient, factory: Factory
):
    await factory.manager("mia")
    body = await graphql(client, OBTAIN, {"u": "mia", "p": "not-the-password"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "Unable to log in with provided credentials."


async def test_syntax_and_validation_errors_carry_codes(client: httpx.AsyncClient):
    parse = await graphql(client, "{ me { username ")
    assert error_codes(parse) == ["GRAPHQL_PARSE_FAILED"]
    invalid = await graphql(client, "{ mee }")
    assert error_codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean 'me'" in invalid["errors"][0]["message"]
