"""The `me` query and the `obtainToken` mutation."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.auth_support import EXPIRED_MESSAGE, age_token, login, serving, throttle_clock
from tests.factories import Factory, error_codes, graphql
from trainql.config import Settings
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


REVOKE = "mutation { revokeToken }"


async def test_a_throttled_obtain_token_is_too_many_requests_with_the_wait(settings: Settings):
    # given: one free failure, then a 30 s wait
    async with serving(
        settings, login_free_failures=1, login_delay_s=30.0, login_max_delay_s=60.0
    ) as served:
        # the waits measured exactly, however slow the machine
        throttle_clock(served)
        account = await served.factory.manager("mia")
        client = await served.client()
        failed = await graphql(client, OBTAIN, {"u": "mia", "p": "not-the-password"})
        # when: the right password during the wait
        body = await graphql(client, OBTAIN, {"u": "mia", "p": account.password})
    # then
    assert error_codes(failed) == ["BAD_USER_INPUT"]
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "Too many failed login attempts for this username; "
                "try again in 30 seconds.",
                "locations": [{"line": 3, "column": 3}],
                "path": ["obtainToken"],
                "extensions": {"code": "TOO_MANY_REQUESTS", "retryAfterSeconds": 30},
            }
        ],
    }


async def test_obtain_token_and_the_rest_login_share_one_count(settings: Settings):
    async with serving(
        settings, login_free_failures=2, login_delay_s=30.0, login_max_delay_s=60.0
    ) as served:
        # the waits measured exactly, however slow the machine
        throttle_clock(served)
        # given: one failure over each transport
        await served.factory.manager("mia")
        client = await served.client()
        await graphql(client, OBTAIN, {"u": "mia", "p": "not-the-password"})
        await login(client, "mia", "not-the-password")
        # when
        rest = await login(client, "mia", "not-the-password")
        body = await graphql(client, OBTAIN, {"u": "mia", "p": "not-the-password"})
    # then
    assert rest.status_code == 429
    assert error_codes(body) == ["TOO_MANY_REQUESTS"]


async def test_revoke_token_revokes_only_the_token_of_the_request(
    client: httpx.AsyncClient, factory: Factory
):
    # given: one user holding two tokens
    account = await factory.hr_staff("ravi")
    other = await graphql(client, OBTAIN, {"u": "ravi", "p": account.password})
    other_headers = {"Authorization": f"Token {other['data']['obtainToken']['token']}"}
    # when
    body = await graphql(client, REVOKE, headers=account.headers)
    # then
    assert body == {"data": {"revokeToken": True}}
    again = await graphql(client, ME, headers=account.headers)
    assert again["data"] is None
    assert again["errors"][0]["message"] == "Invalid token."
    assert error_codes(again) == ["UNAUTHENTICATED"]
    rest = await client.get("/api/training/runs/", headers=account.bearer)
    assert rest.status_code == 401
    assert rest.json() == {"detail": "Invalid token."}
    still = await graphql(client, ME, headers=other_headers)
    assert still["data"]["me"]["username"] == "ravi"


async def test_revoke_token_anonymously_is_unauthenticated(client: httpx.AsyncClient):
    body = await graphql(client, REVOKE)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["message"] == "Authentication credentials were not provided."


async def test_an_expired_token_is_unauthenticated_saying_it_expired(settings: Settings):
    async with serving(settings, token_ttl_hours=1.0) as served:
        # given: a token issued just over an hour ago
        account = await served.factory.manager("mia")
        await age_token(served.services, account.token, timedelta(hours=1, seconds=1))
        client = await served.client()
        # when
        body = await graphql(client, ME, headers=account.headers)
    # then
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["message"] == EXPIRED_MESSAGE
