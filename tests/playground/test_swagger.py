"""GET /api/docs: Swagger UI from our own assets when installed, FastAPI's CDN page if not,
each with its own Content-Security-Policy."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.http.test_security_headers import directives, inline_script_hashes
from trainql.config import Settings
from trainql.playground.assets import SWAGGER_PACKAGES, SWAGGER_UI, asset_paths
from trainql.playground.swagger import INIT_SCRIPT, PAGE_ASSETS


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The suite's settings with a playground directory of this test's own."""
    return settings.model_copy(update={"playground_dir": tmp_path / "playground"})


def install_fake_assets(settings: Settings) -> Path:
    root = settings.playground_path
    for asset in asset_paths(SWAGGER_PACKAGES):
        path = root / asset
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {asset} */")
    return root


class Scripts(HTMLParser):
    """The page's <script> elements: their src, and any inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.sources.append(dict(attrs).get("src"))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


async def test_without_installed_assets_the_docs_load_swagger_ui_from_the_cdn(
    client: httpx.AsyncClient,
):
    response = await client.get("/api/docs")

    # then: FastAPI's page, under a policy allowing its CDN and its one inline script
    assert response.status_code == 200
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in response.text
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


async def test_with_installed_assets_the_docs_load_nothing_from_elsewhere(
    client: httpx.AsyncClient, settings: Settings
):
    # given
    install_fake_assets(settings)

    # when
    response = await client.get("/api/docs")

    # then: every source is ours, no script is inline, and the CSP says so to the browser
    assert response.status_code == 200
    page = response.text
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sorted(sources) == sorted(
        ["data:,", *(f"/api/docs/_assets/{asset}" for asset in PAGE_ASSETS.values())]
    )
    scripts = Scripts()
    scripts.feed(page)
    assert scripts.inline == []
    assert None not in scripts.sources
    assert 'data-openapi-url="/api/openapi.json"' in page
    assert "{{" not in page
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_partial_install_still_gets_the_cdn_page(
    client: httpx.AsyncClient, settings: Settings
):
    root = install_fake_assets(settings)
    (root / SWAGGER_UI.asset("swagger-ui.css")).unlink()

    response = await client.get("/api/docs")

    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/" in response.text
    assert "https://cdn.jsdelivr.net" in response.headers["content-security-policy"]


async def test_the_assets_and_the_init_script_are_served_with_their_types(
    client: httpx.AsyncClient, settings: Settings
):
    install_fake_assets(settings)

    bundle = await client.get(f"/api/docs/_assets/{SWAGGER_UI.asset('swagger-ui-bundle.js')}")
    style = await client.get(f"/api/docs/_assets/{SWAGGER_UI.asset('swagger-ui.css')}")
    init = await client.get(f"/api/docs/_assets/{INIT_SCRIPT}")

    assert bundle.status_code == 200
    assert bundle.text == "/* swagger-ui-dist@5.35.0/swagger-ui-bundle.js */"
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert init.status_code == 200
    assert "SwaggerUIBundle(" in init.text
    assert "validatorUrl: null" in init.text  # the badge would ask validator.swagger.io
    assert init.headers["cache-control"] == "no-cache"


async def test_only_known_asset_paths_are_served(client: httpx.AsyncClient, settings: Settings):
    # given: the assets, an extra file beside them, and a secret next to the directory
    root = install_fake_assets(settings)
    (root / SWAGGER_UI.folder / "package.json").write_text("{}")
    (root.parent / "secret.txt").write_text("secret")

    # when
    paths = [
        f"/api/docs/_assets/{SWAGGER_UI.folder}/package.json",
        f"/api/docs/_assets/{SWAGGER_UI.folder}/../../secret.txt",
        f"/api/docs/_assets/{SWAGGER_UI.folder}/..%2f..%2fsecret.txt",
        "/api/docs/_assets/trainql/../swagger.py",
        "/api/docs/_assets/",
    ]
    responses = [await client.get(path) for path in paths]

    # then
    assert [r.status_code for r in responses] == [404] * len(paths)
    assert all("secret" not in r.text for r in responses)


async def test_the_openapi_document_is_still_served(client: httpx.AsyncClient):
    response = await client.get("/api/openapi.json")

    assert response.status_code == 200
    assert "/api/training/runs" in response.json()["paths"]
    assert "/api/docs" not in response.json()["paths"]
