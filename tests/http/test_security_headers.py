"""Security headers on every response, and a Content-Security-Policy on every HTML page
that the middleware never replaces when a route set its own."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from trainql.http.security_headers import DEFAULT_PAGE_POLICY

HTML = {"Accept": "text/html"}


def inline_script_hashes(page: str) -> list[str]:
    """The CSP hash sources of a page's inline scripts (a regex, not the code under test)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
        for code in re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    ]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


async def test_every_response_says_nosniff_and_no_referrer(client: httpx.AsyncClient):
    # given: a JSON answer, a REST error, a GraphQL answer and a request-guard refusal
    responses = [
        await client.get("/healthz"),
        await client.get("/api/training/runs/"),
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post(
            "/graphql", content=b"[" * 100, headers={"Content-Type": "application/json"}
        ),
    ]
    # then
    assert [r.status_code for r in responses] == [200, 401, 200, 400]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "x-frame-options" not in response.headers  # a JSON body is no page to frame


async def test_graphiql_from_the_cdn_allows_its_inline_code_by_hash_and_no_framing(
    client: httpx.AsyncClient,
):
    response = await client.get("/graphql", headers=HTML)

    assert response.status_code == 200
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == [
        "'self'",
        *inline_script_hashes(response.text),
        "https://unpkg.com",
    ]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_an_html_page_without_a_policy_gets_the_deny_all_one(
    app: FastAPI, client: httpx.AsyncClient
):
    @app.get("/plain-page")
    async def plain_page() -> HTMLResponse:
        return HTMLResponse("<p>hello</p>")

    response = await client.get("/plain-page")
    assert response.headers["content-security-policy"] == DEFAULT_PAGE_POLICY
    assert "frame-ancestors 'none'" in DEFAULT_PAGE_POLICY
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_policy_set_by_a_route_is_never_replaced(app: FastAPI, client: httpx.AsyncClient):
    # given: a page with its own, stricter headers (as the console sets them)
    own = "default-src 'none'; script-src 'self'; frame-ancestors 'none'"

    @app.get("/own-policy")
    async def own_policy() -> HTMLResponse:
        return HTMLResponse(
            "<p>console</p>",
            headers={
                "Content-Security-Policy": own,
                "Referrer-Policy": "same-origin",
                "X-Frame-Options": "SAMEORIGIN",
            },
        )

    # when
    response = await client.get("/own-policy")
    # then: each header once, the route's value
    assert response.headers.get_list("content-security-policy") == [own]
    assert response.headers.get_list("referrer-policy") == ["same-origin"]
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["x-content-type-options"] == "nosniff"
