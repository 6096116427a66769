"""Swagger UI at GET /api/docs, from our own files when they are installed.

With swagger-ui-dist installed by `trainql playground install` (or the first `trainql serve`),
the page (swagger.html) loads Swagger UI from `/api/docs/_assets/<name>@<version>/<path>` and
starts it with swagger-init.js, both served here: the docs work on a machine with no internet,
under a Content-Security-Policy that allows this origin only (the page has no inline code).
Without the files /api/docs answers FastAPI's own page, which loads Swagger UI from a CDN and
configures it in an inline script: its policy allows that CDN and that one script by its hash.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from trainql.http.security_headers import CSP, page_policy
from trainql.playground.assets import SWAGGER_PACKAGES, SWAGGER_UI, asset_paths, is_installed

DOCS_PATH = "/api/docs"
ASSET_PREFIX = DOCS_PATH + "/_assets"
INIT_SCRIPT = "trainql/swagger-init.js"  # ours, from the package, next to the npm files

PAGE_ASSETS = {
    "SWAGGER_JS": SWAGGER_UI.asset("swagger-ui-bundle.js"),
    "SWAGGER_CSS": SWAGGER_UI.asset("swagger-ui.css"),
    "INIT_JS": INIT_SCRIPT,
}

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

# Where FastAPI's page loads Swagger UI and its icon from.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
FASTAPI_ICON_ORIGIN = "https://fastapi.tiangolo.com"
# Our page changes with each release, FastAPI's page with the request's prefix.
PAGE_HEADERS = {"Cache-Control": "no-cache"}


@cache
def _template() -> str:
    return (Path(__file__).parent / "swagger.html").read_text(encoding="utf-8")


def render_page(*, assets_url: str, openapi_url: str, title: str) -> str:
    """Our Swagger UI page: its assets under `assets_url`, the document at `openapi_url`."""
    page = _template()
    values = {name: f"{assets_url}/{asset}" for name, asset in PAGE_ASSETS.items()}
    values |= {"OPENAPI_URL": openapi_url, "TITLE": title}
    for placeholder, value in values.items():
        page = page.replace("{{" + placeholder + "}}", html.escape(value))
    return page


@cache
def local_page_policy() -> str:
    """The Content-Security-Policy of our page: everything from this origin, nothing inline
    (the template has no inline script or style; the URLs filled in are attributes)."""
    return page_policy(_template())


@cache
def cdn_page_policy(cdn_page: str) -> str:
    """The Content-Security-Policy of FastAPI's page: its CDN, its icon's origin, and its one
    inline script by hash."""
    return page_policy(
        cdn_page,
        {
            "script-src": [SWAGGER_CDN],
            "style-src": [SWAGGER_CDN],
            "img-src": [FASTAPI_ICON_ORIGIN],
        },
    )


def docs_router(directory: Path, *, openapi_url: str, title: str) -> APIRouter:
    """GET /api/docs and the files its page loads. Only the known asset paths are looked up,
    so no request path can reach another file. The install is checked on each request, so
    it takes effect without a restart."""
    router = APIRouter()
    known = asset_paths(SWAGGER_PACKAGES)
    init_script = Path(__file__).with_name("swagger-init.js")

    @router.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        # The app's own prefix (root_path) too, so the page works under a proxy's prefix.
        root = request.scope.get("root_path", "").rstrip("/")
        if not is_installed(directory, SWAGGER_PACKAGES):
            cdn_page = bytes(
                get_swagger_ui_html(openapi_url=root + openapi_url, title=title).body
            ).decode()
            return HTMLResponse(cdn_page, headers={CSP: cdn_page_policy(cdn_page)})
        page = render_page(
            assets_url=root + ASSET_PREFIX, openapi_url=root + openapi_url, title=title
        )
        return HTMLResponse(page, headers={**PAGE_HEADERS, CSP: local_page_policy()})

    @router.api_route(
        ASSET_PREFIX + "/{asset:path}", methods=["GET", "HEAD"], include_in_schema=False
    )
    async def swagger_asset(asset: str) -> Response:
        path = init_script if asset == INIT_SCRIPT else directory / asset
        if (asset != INIT_SCRIPT and asset not in known) or not path.is_file():
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        # npm files are named by version and never change; our script may change on upgrade.
        cache_control = (
            "no-cache" if asset == INIT_SCRIPT else "public, max-age=31536000, immutable"
        )
        return FileResponse(
            path,
            media_type=MEDIA_TYPES.get(path.suffix, "text/plain; charset=utf-8"),
            headers={"Cache-Control": cache_control},
        )

    return router
