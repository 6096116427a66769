"""A real browser with no internet, for the browser tests (GraphiQL, Swagger UI, the console).

Debian's chromium, driven by the `playwright` Python package (never `playwright install`).
Every request a page makes to a host other than the loopback is aborted and recorded, and
no name but the loopback resolves either. Outside CI a test is skipped when chromium is
missing; under CI=true it fails instead.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

from tests.conftest import in_ci

CHROMIUM = Path(os.environ.get("TRAINQL_TEST_CHROMIUM", "/usr/bin/chromium"))
LOOPBACK = {"127.0.0.1", "localhost"}
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Below the interception, too: no name but the loopback resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
TIMEOUT_MS = 60_000

# Records, in the page, every Content-Security-Policy violation (a refused script, style,
# image or connection), which the browser reports only as an event.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def require(condition: bool, reason: str) -> None:
    """Skip (fail under CI=true) when something the browser test needs is missing."""
    if not condition:
        if in_ci():
            pytest.fail(f"{reason} (required under CI=true; .ci/run installs it)")
        pytest.skip(reason)


def launch_chromium(playwright: Playwright) -> Browser:
    require(CHROMIUM.is_file(), f"no chromium at {CHROMIUM}")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class OfflinePage:
    """A page whose requests leave the machine only in `blocked` (aborted, never sent)."""

    page: Page
    context: BrowserContext
    blocked: list[str] = field(default_factory=list)
    responses: dict[str, int] = field(default_factory=dict)  # URL path -> status
    errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    console_errors: list[str] = field(default_factory=list)
    transferred: list[tuple[str, int]] = field(default_factory=list)  # (URL, bytes)

    def csp_violations(self) -> list[str]:
        """What the page's Content-Security-Policy refused since the last navigation."""
        found: Any = self.page.evaluate("window.__cspViolations ?? []")
        return [str(item) for item in found]


@contextmanager
def offline_page(browser: Browser, **context_options: Any) -> Iterator[OfflinePage]:
    """A fresh browser context and page, every non-loopback request aborted."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(CSP_RECORDER)
    page = context.new_page()
    offline = OfflinePage(page, context)

    def only_loopback(route: Route) -> None:
        if urllib.parse.urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            offline.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def finished(request: Any) -> None:
        sizes = request.sizes()
        offline.transferred.append(
            (request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"])
        )

    context.route("**/*", only_loopback)
    page.on("pageerror", lambda error: offline.errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            offline.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("requestfinished", finished)
    page.on(
        "response",
        lambda response: offline.responses.update(
            {urllib.parse.unquote(urllib.parse.urlsplit(response.url).path): response.status}
        ),
    )
    try:
        yield offline
    finally:
        context.close()
