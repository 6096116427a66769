"""The REST API's documentation page (Swagger UI) at /api/docs, with its own
Content-Security-Policy: FastAPI's page loads Swagger UI from a CDN and configures it in an
inline script, which the policy allows by its hash and nothing else inline."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from trainql.http.security_headers import CSP, page_policy

DOCS_PATH = "/api/docs"
# Where FastAPI's page loads Swagger UI and its icon from.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
FASTAPI_ICON_ORIGIN = "https://fastapi.tiangolo.com"


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI for `app.openapi_url` at DOCS_PATH (create the app with docs_url=None)."""
    assert app.openapi_url is not None
    page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI")
    html = bytes(page.body).decode()
    policy = page_policy(
        html,
        {
            "script-src": [SWAGGER_CDN],
            "style-src": [SWAGGER_CDN],
            "img-src": [FASTAPI_ICON_ORIGIN],
        },
    )

    @app.get(DOCS_PATH, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(html, headers={CSP: policy})
