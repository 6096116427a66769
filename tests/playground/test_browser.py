"""GraphiQL in a real browser with no internet: Debian's chromium, driven by playwright.

Every request the page makes to a host other than the loopback is aborted and recorded; the
offline test requires that there was none. The assets come from TRAINQL_TEST_PLAYGROUND_DIR,
where .ci/run runs `trainql playground install` (a test-only name, so the app the other tests
build keeps its own, empty, playground directory). Outside CI the tests are skipped when chromium or
the assets are missing; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.conftest import in_ci
from tests.live import LiveServer, live_server, settings_env
from trainql.playground.assets import is_installed
from trainql.playground.page import PAGE_ASSETS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("TRAINQL_TEST_CHROMIUM", "/usr/bin/chromium"))
ADMIN_PASSWORD = "playground-admin-password"
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
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def csp_violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__cspViolations"))


def require(condition: bool, reason: str) -> None:
    if not condition:
        if in_ci():
            pytest.fail(f"{reason} (required under CI=true; .ci/run installs it)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require(CHROMIUM.is_file(), f"no chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def installed_playground() -> Path:
    configured = os.environ.get("TRAINQL_TEST_PLAYGROUND_DIR")
    require(bool(configured), "TRAINQL_TEST_PLAYGROUND_DIR is not set")
    directory = Path(str(configured))
    require(
        is_installed(directory),
        f"GraphiQL's assets are not installed in {directory}: run "
        f"`TRAINQL_PLAYGROUND_DIR={directory} trainql playground install`",
    )
    return directory


@contextmanager
def serve(tmp_path: Path, playground_dir: Path) -> Iterator[LiveServer]:
    env = settings_env(
        database_url=f"sqlite:///{tmp_path / 'trainql.db'}",
        state_dir=tmp_path / "state",
        extra={
            "TRAINQL_PLAYGROUND_DIR": str(playground_dir),
            "TRAINQL_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        yield server


@dataclass
class OfflinePage:
    """A page whose requests leave the machine only in `blocked` (aborted, never sent)."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    responses: dict[str, int] = field(default_factory=dict)  # URL path -> status
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline_page(chromium: Browser) -> Iterator[OfflinePage]:
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    offline = OfflinePage(page)

    def only_loopback(route: Route) -> None:
        if urllib.parse.urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            offline.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    # Whatever the page's Content-Security-Policy blocks is recorded, to be read afterwards.
    context.add_init_script(CSP_RECORDER)
    page.on("pageerror", lambda error: offline.errors.append(str(error)))
    page.on(
        "response",
        lambda response: offline.responses.update(
            {urllib.parse.unquote(urllib.parse.urlsplit(response.url).path): response.status}
        ),
    )
    yield offline
    context.close()


def test_graphiql_runs_an_authenticated_query_with_no_internet(
    offline_page: OfflinePage, installed_playground: Path, tmp_path: Path
):
    page = offline_page.page
    with serve(tmp_path, installed_playground) as server:
        # given: a token for admin, and the page with the query in its URL
        login = httpx.post(
            f"{server.base_url}/api-token-auth/",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        query = urllib.parse.quote("{ me { username } }")
        loaded = page.goto(f"{server.base_url}/graphql?q={query}")
        assert loaded is not None
        policy = loaded.headers["content-security-policy"]

        # when: the Authorization header goes in the headers editor, open on load, and Run
        headers_editor = page.locator(
            'section.graphiql-editor-tool[aria-label="Headers"] '
            ".graphiql-editor:not(.hidden) .CodeMirror"
        )
        headers_editor.click()
        page.keyboard.type(json.dumps({"Authorization": f"Token {token}"}))
        page.locator(".graphiql-execute-button").click()

        # then: the result pane shows admin's username, and nothing was fetched elsewhere
        result = page.locator(".graphiql-response .result-window")
        result.filter(has_text='"username"').wait_for()
        shown = result.inner_text().replace("\xa0", " ")  # CodeMirror's indentation
        assert json.loads(shown) == {"data": {"me": {"username": "admin"}}}
        assert offline_page.blocked == []
        assert offline_page.errors == []
        # under a policy that allows no inline code but the page's own, and no framing
        assert "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert "'unsafe-eval'" not in policy
        assert csp_violations(page) == []
        assets = {
            path: status for path, status in offline_page.responses.items() if "_playground" in path
        }
        assert assets == {f"/graphql/_playground/{asset}": 200 for asset in PAGE_ASSETS.values()}


def test_without_installed_assets_the_page_needs_the_cdn(offline_page: OfflinePage, tmp_path: Path):
    """The control: the same harness sees (and stops) the CDN page's requests."""
    page = offline_page.page
    with serve(tmp_path, tmp_path / "no-playground") as server:
        page.goto(f"{server.base_url}/graphql", wait_until="load")

        hosts = {urllib.parse.urlsplit(url).hostname for url in offline_page.blocked}
        assert hosts == {"unpkg.com"}
        assert page.locator(".graphiql-execute-button").count() == 0
