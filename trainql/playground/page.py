"""GraphiQL at GET /graphql, from our own files when they are installed.

With the assets of `trainql.playground.assets` installed, the page (playground.html) loads React,
GraphiQL and the explorer plugin from `/graphql/_playground/<name>@<version>/<path>`, which
this module serves, so the playground works on a machine with no internet. Without them
/graphql answers Strawberry's page, which loads the same versions from a CDN.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse

from trainql.http.security_headers import CSP, page_policy
from trainql.playground.assets import (
    EXPLORER,
    GRAPHIQL,
    REACT,
    REACT_DOM,
    asset_paths,
    is_installed,
)

ASSET_PREFIX = "/_playground"  # under the GraphQL router's /graphql
# Where Strawberry's own GraphiQL page loads React and GraphiQL from.
CDN_ORIGIN = "https://unpkg.com"

# The page's placeholders and the installed file each one stands for.
PAGE_ASSETS = {
    "REACT_JS": REACT.asset("umd/react.production.min.js"),
    "REACT_DOM_JS": REACT_DOM.asset("umd/react-dom.production.min.js"),
    "GRAPHIQL_JS": GRAPHIQL.asset("graphiql.min.js"),
    "GRAPHIQL_CSS": GRAPHIQL.asset("graphiql.min.css"),
    "EXPLORER_JS": EXPLORER.asset("dist/index.umd.js"),
    "EXPLORER_CSS": EXPLORER.asset("dist/style.css"),
}

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


@cache
def _template() -> str:
    return (Path(__file__).parent / "playground.html").read_text(encoding="utf-8")


def render_page(assets_url: str) -> str:
    """The GraphiQL page with its assets under `assets_url` (no trailing slash)."""
    page = _template()
    for placeholder, asset in PAGE_ASSETS.items():
        page = page.replace("{{" + placeholder + "}}", html.escape(f"{assets_url}/{asset}"))
    return page


@cache
def local_page_policy() -> str:
    """The Content-Security-Policy of our page: everything from this origin, its inline
    script and style by hash (the asset URLs filled in are attributes, not inline code)."""
    return page_policy(_template())


@cache
def cdn_page_policy(cdn_page: str) -> str:
    """The Content-Security-Policy of Strawberry's page, which loads its code from a CDN."""
    return page_policy(cdn_page, {"script-src": [CDN_ORIGIN], "style-src": [CDN_ORIGIN]})


def playground_response(request: Request, directory: Path, cdn_page: str) -> HTMLResponse:
    """Our page when the assets are installed in `directory` (checked on each request, so
    an install takes effect without a restart), else `cdn_page`; each with its
    Content-Security-Policy."""
    if not is_installed(directory):
        return HTMLResponse(cdn_page, headers={CSP: cdn_page_policy(cdn_page)})
    # The page's own path, so the assets resolve under a proxy's prefix (root_path) too.
    assets_url = request.url.path.rstrip("/") + ASSET_PREFIX
    return HTMLResponse(render_page(assets_url), headers={CSP: local_page_policy()})


def assets_router(directory: Path) -> APIRouter:
    """Serves the installed assets. Only the known asset paths are looked up, so no request
    path can reach another file."""
    router = APIRouter()
    known = asset_paths()

    @router.api_route(
        ASSET_PREFIX + "/{asset:path}", methods=["GET", "HEAD"], include_in_schema=False
    )
    async def playground_asset(asset: str) -> FileResponse:
        path = directory / asset
        if asset not in known or not path.is_file():
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(
            path,
            media_type=MEDIA_TYPES.get(path.suffix, "text/plain; charset=utf-8"),
            # The path names the package version: its content never changes.
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router
