"""POST /api-token-auth/ and token authentication on the REST routes."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

from tests.auth_support import EXPIRED_MESSAGE, age_token, login, serving
from tests.factories import Factory, graphql
from trainql.config import Settings

ME = "{ me { username roles } }"


async def test_login_with_json_returns_a_working_token(client: httpx.AsyncClient, factory: Factory):
    # given
    account = await factory.hr_staff("jane")
    # when
    response = await client.post(
        "/api-token-auth/", json={"username": "jane", "password": account.password}
    )
    # then
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) == 40
    body = await graphql(client, ME, headers={"Authorization": f"Token {token}"})
    assert body["data"]["me"] == {"username": "jane", "roles": ["HR_STAFF"]}


async def test_login_with_form_body_and_without_trailing_slash(
    client: httpx.AsyncClient, factory: Factory
):
    account = await factory.manager("mo")
    response = await client.post(
        "/api-token-auth", data={"username": "mo", "password": account.password}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"token"}


@pytest.mark.parametrize(
    ("username", "password"), [("jane", "wrong-password"), ("nobody", "whatever-it-is")]
)
async def test_bad_credentials_are_400_non_field_errors(
    client: httpx.AsyncClient, factory: Factory, username: str, password: str
):
    await factory.hr_staff("jane")
    response = await client.post(
        "/api-token-auth/", json={"username": username, "password": password}
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


async def test_missing_field_and_broken_json_are_400_never_422(client: httpx.AsyncClient):
    missing = await client.post("/api-token-auth/", json={"username": "jane"})
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"password": ["This field is required."]}

    broken = await client.post(
        "/api-token-auth/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Token 0000000000000000000000000000000000000000", "Bearer nope", "Token", "Basic abc"],
)
async def test_wrong_or_malformed_header_is_401_not_anonymous(
    client: httpx.AsyncClient, factory: Factory, header: str
):
    account = await factory.hr_staff("jane")
    response = await client.post(
        "/api-token-auth/",
        json={"username": "jane", "password": account.password},
        headers={"Authorization": header},
    )
    assert response.status_code == 401
    assert response.json()["detail"] in {
        "Invalid token.",
        "Invalid Authorization header. Use 'Token <token>' or 'Bearer <token>'.",
    }


async def test_unknown_user_costs_the_same_hash_check_as_a_wrong_password(
    client: httpx.AsyncClient, factory: Factory
):
    # Without the dummy hash, an unknown user answers in ~1 ms against ~50 ms for a real
    # argon2 check; the ratio tells the two designs apart without a fixed time budget.
    await factory.hr_staff("jane")

    async def cost(username: str) -> float:
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            response = await client.post(
                "/api-token-auth/", json={"username": username, "password": "not-it-at-all"}
            )
            samples.append(time.perf_counter() - started)
            assert response.status_code == 400
        return sorted(samples)[1]

    wrong_password, unknown_user = await cost("jane"), await cost("ghost")
    assert unknown_user > 0.4 * wrong_password


async def test_an_expired_token_is_401_saying_it_expired(settings: Settings):
    async with serving(settings, token_ttl_hours=1.0) as served:
        # given: a token issued just over an hour ago, and one issued now
        old = await served.factory.manager("mo")
        await age_token(served.services, old.token, timedelta(hours=1, seconds=1))
        client = await served.client()
        fresh = await login(client, "mo", old.password)
        # when
        expired = await client.get("/api/training/runs/", headers=old.headers)
        valid = await client.get(
            "/api/training/runs/", headers={"Authorization": f"Token {fresh.json()['token']}"}
        )
    # then
    assert expired.status_code == 401
    assert expired.json() == {"detail": EXPIRED_MESSAGE}
    assert expired.headers["www-authenticate"] == "Token"
    assert valid.status_code == 200


async def test_without_a_lifetime_an_old_token_still_works(
    client: httpx.AsyncClient, factory: Factory
):
    # given: the default settings (no TRAINQL_TOKEN_TTL_HOURS) and a token issued years ago
    account = await factory.manager("mo")
    await age_token(factory.services, account.token, timedelta(days=3650))
    # when
    response = await client.get("/api/training/runs/", headers=account.headers)
    # then
    assert response.status_code == 200


async def test_the_api_docs_declare_the_refusals_sent_and_no_422(client: httpx.AsyncClient):
    document = (await client.get("/api/openapi.json")).json()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    rest = [op for op in operations if "4XX" in op["responses"] or "422" in op["responses"]]
    assert len(rest) >= 6
    for operation in rest:
        assert "422" not in operation["responses"], operation["operationId"]
        refusal = operation["responses"]["4XX"]["content"]["application/json"]["schema"]
        assert refusal == {"$ref": "#/components/schemas/ErrorBody"}
    # The 400 a validation error really answers, in the documented shape.
    answer = await client.post("/api-token-auth/", json={"username": "x"})
    assert answer.status_code == 400
    documented = set(document["components"]["schemas"]["ErrorBody"]["properties"])
    assert set(answer.json()) <= documented
