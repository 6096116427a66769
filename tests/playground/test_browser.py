"""GraphiQL and Swagger UI in a real browser with no internet (tests/browser.py).

Every request the page makes to a host other than the loopback is aborted and recorded; the
offline tests require that there was none. The assets come from TRAINQL_TEST_PLAYGROUND_DIR,
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
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser import OfflinePage, launch_chromium, offline_page, require
from tests.live import LiveServer, live_server, settings_env
from trainql.playground.assets import SWAGGER_PACKAGES, is_installed
from trainql.playground.page import PAGE_ASSETS
from trainql.playground.swagger import PAGE_ASSETS as SWAGGER_PAGE_ASSETS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PASSWORD = "playground-admin-password"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
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


@pytest.fixture(name="offline_page")
def offline_page_fixture(chromium: Browser) -> Iterator[OfflinePage]:
    with offline_page(chromium) as page:
        yield page


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
        assert offline_page.csp_violations() == []
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


def test_swagger_ui_works_with_no_internet_under_its_csp(
    offline_page: OfflinePage, installed_playground: Path, tmp_path: Path
):
    page = offline_page.page
    require(
        is_installed(installed_playground, SWAGGER_PACKAGES),
        f"Swagger UI's assets are not installed in {installed_playground}: run "
        f"`TRAINQL_PLAYGROUND_DIR={installed_playground} trainql playground install`",
    )
    with serve(tmp_path, installed_playground) as server:
        # when: the docs open, and one operation is tried out against the server
        page.goto(f"{server.base_url}/api/docs")
        operation = page.locator(".opblock", has_text="/api/training/runs/{run_id}").first
        operation.wait_for()
        runs = page.locator(".opblock-summary", has_text="/api/training/runs").first
        runs.click()
        page.locator(".try-out__btn").first.click()
        page.locator(".execute").first.click()
        response = page.locator(".responses-inner .response .response-col_status").first
        response.wait_for()

        # then: the operations are listed, the call answered (401 without a token), and
        # nothing came from elsewhere or broke the page's CSP
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api-token-auth" in [path.replace("\u200b", "") for path in paths]
        assert response.inner_text().split()[0] == "401"
        assert offline_page.blocked == []
        assert offline_page.errors == []
        assert offline_page.csp_violations() == []
        assets = {
            path: status
            for path, status in offline_page.responses.items()
            if path.startswith("/api/docs/_assets/")
        }
        assert assets == {
            f"/api/docs/_assets/{asset}": 200 for asset in SWAGGER_PAGE_ASSETS.values()
        }


def test_without_installed_assets_swagger_ui_needs_the_cdn(
    offline_page: OfflinePage, tmp_path: Path
):
    """The control: FastAPI's own page, whose requests the harness sees and stops."""
    with serve(tmp_path, tmp_path / "no-playground") as server:
        offline_page.page.goto(f"{server.base_url}/api/docs", wait_until="load")

        hosts = {urllib.parse.urlsplit(url).hostname for url in offline_page.blocked}
        assert hosts == {"cdn.jsdelivr.net"}
