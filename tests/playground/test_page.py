"""GET /graphql: GraphiQL from our own assets when installed, Strawberry's CDN page if not."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest

from trainql.config import Settings
from trainql.playground.assets import GRAPHIQL, asset_paths
from trainql.playground.page import PAGE_ASSETS

HTML = {"Accept": "text/html"}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The suite's settings with a playground directory of this test's own, whatever
    TRAINQL_PLAYGROUND_DIR says (these tests write fake assets into it)."""
    return settings.model_copy(update={"playground_dir": tmp_path / "playground"})


def install_fake_assets(settings: Settings) -> Path:
    """Every asset file present (their content does not matter to the server)."""
    root = settings.playground_path
    for asset in asset_paths():
        path = root / asset
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {asset} */")
    return root


async def test_without_installed_assets_the_page_loads_graphiql_from_the_cdn(
    client: httpx.AsyncClient,
):
    response = await client.get("/graphql", headers=HTML)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "https://unpkg.com/graphiql@" in response.text
    assert "/graphql/_playground/" not in response.text


async def test_with_installed_assets_the_page_loads_nothing_from_elsewhere(
    client: httpx.AsyncClient, settings: Settings
):
    # given
    install_fake_assets(settings)

    # when
    response = await client.get("/graphql", headers=HTML)

    # then
    assert response.status_code == 200
    page = response.text
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sorted(sources) == sorted(
        ["data:,", *(f"/graphql/_playground/{asset}" for asset in PAGE_ASSETS.values())]
    )
    assert "{{" not in page
    assert "isHeadersEditorEnabled: true" in page
    assert 'defaultEditorToolsVisibility: "headers"' in page


async def test_a_partial_install_still_gets_the_cdn_page(
    client: httpx.AsyncClient, settings: Settings
):
    root = install_fake_assets(settings)
    (root / GRAPHIQL.asset("graphiql.min.css")).unlink()

    response = await client.get("/graphql", headers=HTML)

    assert "https://unpkg.com/graphiql@" in response.text


async def test_installed_assets_are_served_with_their_content_type(
    client: httpx.AsyncClient, settings: Settings
):
    install_fake_assets(settings)

    script = await client.get("/graphql/_playground/graphiql@3.8.3/graphiql.min.js")
    style = await client.get("/graphql/_playground/@graphiql/plugin-explorer@1.0.2/dist/style.css")
    head = await client.head("/graphql/_playground/react@18.2.0/umd/react.production.min.js")

    assert script.status_code == 200
    assert script.text == "/* graphiql@3.8.3/graphiql.min.js */"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert style.status_code == 200
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert head.status_code == 200
    assert head.content == b""


async def test_only_known_asset_paths_are_served(client: httpx.AsyncClient, settings: Settings):
    # given: the assets, an extra file beside them, and a secret next to the directory
    root = install_fake_assets(settings)
    (root / "graphiql@3.8.3" / "package.json").write_text("{}")
    (root.parent / "secret.txt").write_text("secret")

    # when
    paths = [
        "/graphql/_playground/graphiql@3.8.3/package.json",
        "/graphql/_playground/graphiql@3.8.3/../../secret.txt",
        "/graphql/_playground/graphiql@3.8.3/..%2f..%2fsecret.txt",
        "/graphql/_playground/%2e%2e/secret.txt",
        "/graphql/_playground/",
    ]
    responses = [await client.get(path) for path in paths]

    # then
    assert [r.status_code for r in responses] == [404] * len(paths)
    assert all("secret" not in r.text for r in responses)


async def test_assets_are_404_until_installed(client: httpx.AsyncClient):
    response = await client.get("/graphql/_playground/graphiql@3.8.3/graphiql.min.js")

    assert response.status_code == 404


async def test_a_query_in_the_url_still_runs_instead_of_showing_the_page(
    client: httpx.AsyncClient, settings: Settings
):
    install_fake_assets(settings)

    response = await client.get("/graphql", params={"query": "{ __typename }"}, headers=HTML)

    assert response.json() == {"data": {"__typename": "Query"}}


async def test_our_page_allows_only_its_own_origin_and_inline_code_by_hash(
    client: httpx.AsyncClient, settings: Settings
):
    # given
    install_fake_assets(settings)
    # when
    response = await client.get("/graphql", headers=HTML)
    # then: scripts and styles from this origin, the page's inline ones by hash, no CDN
    policy = dict(
        (words[0], words[1:])
        for words in (
            part.split() for part in response.headers["content-security-policy"].split(";")
        )
    )
    scripts = re.findall(r"<script>(.*?)</script>", response.text, flags=re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", response.text, flags=re.DOTALL)
    assert (len(scripts), len(styles)) == (1, 1)
    assert policy["script-src"] == ["'self'", sha256_source(scripts[0])]
    assert policy["style-src"] == ["'self'", sha256_source(styles[0])]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unpkg" not in response.headers["content-security-policy"]


def sha256_source(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
