"""The console's HTTP side: its page at /console and its files under /console/static/.

The page (index.html) is rendered with two paths: where its files are and where the GraphQL
endpoint is, both under the request's own prefix (root_path), so the console works behind a
proxy's prefix. Its files are the ones in static/, read once: they are served from memory
(gzipped when the client accepts it) under a path holding a digest of all of them, so a
browser may keep them forever and a new trainql is fetched anew. Nothing else is served: a
path that is not one of those files is 404.

Every response carries the console's Content-Security-Policy, which allows scripts, styles,
images and connections (GraphQL over HTTP and WebSocket) from this origin only, no inline
script or style attribute, no framing, and no HTML injected from strings (Trusted Types).
"""

from __future__ import annotations

import gzip
import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).with_name("static")
INDEX = Path(__file__).with_name("index.html")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        # 'self' covers ws:/wss: to this host too (CSP level 3), which subscriptions use.
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
# The console's own: stricter than the policy http/security_headers.py gives other pages,
# which never replaces it (and adds nosniff, no-referrer and X-Frame-Options itself).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of static/, as served."""

    body: bytes
    gzipped: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class ConsoleFiles:
    """The console's files and `version`, a digest of their names and contents."""

    version: str
    files: Mapping[str, StaticFile]  # by path relative to static/, with '/'


@cache
def console_files() -> ConsoleFiles:
    """The files under static/ (read once per process)."""
    digest = hashlib.sha256()
    files: dict[str, StaticFile] = {}
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        name = path.relative_to(STATIC_DIR).as_posix()
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None:
            continue  # only what the page loads: no stray editor or cache files
        body = path.read_bytes()
        digest.update(name.encode() + b"\0" + body + b"\0")
        files[name] = StaticFile(body, gzip.compress(body, compresslevel=9, mtime=0), media_type)
    return ConsoleFiles(version=digest.hexdigest()[:16], files=files)


@cache
def _index_template() -> str:
    return INDEX.read_text(encoding="utf-8")


ENTRY_MODULE = "app.js"


def render_index(*, static_url: str, graphql_url: str) -> str:
    """The console's page, loading its files from `static_url` (no trailing slash) and
    talking to the GraphQL endpoint at `graphql_url`. Besides the entry module, every other
    module is named for preloading, so the browser fetches them in one round rather than
    one level of imports at a time."""
    entry = html.escape(f"{static_url}/{ENTRY_MODULE}")
    modules = [f'    <script type="module" src="{entry}"></script>']
    modules += [
        f'    <link rel="modulepreload" href="{html.escape(f"{static_url}/{name}")}" />'
        for name in console_files().files
        if name.endswith(".js") and name != ENTRY_MODULE
    ]
    page = _index_template().replace("{{MODULES}}", "\n".join(modules))
    for placeholder, value in {"STATIC": static_url, "GRAPHQL": graphql_url}.items():
        page = page.replace("{{" + placeholder + "}}", html.escape(value))
    return page


def _accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding gives gzip (or else `*`) a quality above 0."""
    qualities: dict[str, float] = {}
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.lower()] = quality
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


def _not_found() -> JSONResponse:
    return JSONResponse({"detail": "Not Found"}, status_code=404, headers=SECURITY_HEADERS)


def console_router() -> APIRouter:
    """GET /console (the page) and GET/HEAD /console/static/<version>/<file>."""
    router = APIRouter()

    @router.get(CONSOLE_PATH, include_in_schema=False)
    @router.get(CONSOLE_PATH + "/", include_in_schema=False)
    async def console_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = render_index(
            static_url=f"{root}{CONSOLE_PATH}/static/{console_files().version}",
            graphql_url=f"{root}/graphql",
        )
        # The page names the files' version: it must be asked for again each time.
        return HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @router.api_route(
        CONSOLE_PATH + "/static/{version}/{name:path}",
        methods=["GET", "HEAD"],
        include_in_schema=False,
    )
    async def console_static(request: Request, version: str, name: str) -> Response:
        files = console_files()
        found = files.files.get(name)
        if version != files.version or found is None:
            return _not_found()
        headers = {
            **SECURITY_HEADERS,
            # The path holds the digest of every file: this content never changes.
            "Cache-Control": "public, max-age=31536000, immutable",
            "Vary": "Accept-Encoding",
        }
        body = found.body
        if _accepts_gzip(request):
            body = found.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=found.media_type, headers=headers)

    return router
