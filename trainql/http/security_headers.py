"""Security headers: an ASGI middleware for every response, and page policies for our HTML.

Every response gets `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`
(GraphiQL keeps the query in its URL, which no other site needs to see). An HTML response
also gets `X-Frame-Options: DENY` and, when its route set none, a Content-Security-Policy
that allows nothing (`DEFAULT_PAGE_POLICY`). Pages that run scripts (GraphiQL, the API docs)
set their own policy, built by `page_policy` from the page's template, and the middleware
never replaces a policy a route set (the console sets a stricter one of its own).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "Content-Security-Policy"
# Nothing loads, nothing frames the page, no form posts anywhere.
DEFAULT_PAGE_POLICY = (
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HTML_RESPONSE = {"X-Frame-Options": "DENY"}


class SecurityHeaders:
    """Adds the headers the module docstring lists, never replacing one already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_RESPONSE.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in HTML_RESPONSE.items():
                        headers.setdefault(name, value)
                    headers.setdefault(CSP, DEFAULT_PAGE_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _InlineCode(HTMLParser):
    """Collects the text of inline <script> (without src) and <style> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._into: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self.scripts.append("")
            self._into = self.scripts
        elif tag == "style":
            self.styles.append("")
            self._into = self.styles

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data


def _sha256_source(code: str) -> str:
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def page_policy(template: str, sources: Mapping[str, Sequence[str]] | None = None) -> str:
    """The Content-Security-Policy of a page we serve from `template`, a trusted page whose
    inline scripts and styles never depend on the request: each is allowed by its hash
    (so an injected one is not), scripts, styles, images, fonts and fetches from this
    origin, plus `sources` per directive (e.g. a CDN for `script-src`); no frames, plugins,
    base URI or form posts. Callers compute it once per template."""
    inline = _InlineCode()
    inline.feed(template)
    inline.close()
    directives: dict[str, list[str]] = {
        "default-src": ["'none'"],
        "script-src": ["'self'", *map(_sha256_source, inline.scripts)],
        "style-src": ["'self'", *map(_sha256_source, inline.styles)],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    for directive, extra in (sources or {}).items():
        directives.setdefault(directive, []).extend(extra)
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())
