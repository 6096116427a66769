"""GET /api/docs: Swagger UI with a Content-Security-Policy that allows its CDN and its one
inline script, and nothing else inline."""

from __future__ import annotations

import httpx

from tests.http.test_security_headers import directives, inline_script_hashes


async def test_the_docs_page_has_its_own_policy(client: httpx.AsyncClient):
    response = await client.get("/api/docs")

    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.text
    assert "/api/openapi.json" in response.text
    policy = directives(response.headers["content-security-policy"])
    hashes = inline_script_hashes(response.text)
    assert len(hashes) == 1
    assert policy["script-src"] == ["'self'", *hashes, "https://cdn.jsdelivr.net"]
    assert policy["style-src"] == ["'self'", "https://cdn.jsdelivr.net"]
    assert policy["connect-src"] == ["'self'"]  # it fetches /api/openapi.json
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_openapi_document_is_served(client: httpx.AsyncClient):
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "/api/training/runs" in response.json()["paths"]
