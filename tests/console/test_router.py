"""GET /console and its files: the page, its Content-Security-Policy, and nothing else served."""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx

from trainql.console.router import CONTENT_SECURITY_POLICY, STATIC_DIR, console_files

FIRST_LOAD_LIMIT = 300 * 1024


class PageParts(HTMLParser):
    """Every URL the page names, its scripts (inline code included) and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_code: list[str] = []
        self.attributes: list[str] = []
        self.meta: dict[str, str] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.attributes += [name for name, _ in attrs]
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "script":
            self.scripts.append(found)
            self._in_script = True
        if tag == "meta" and found.get("name"):
            self.meta[str(found["name"])] = str(found.get("content"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(data)


def parse(page: str) -> PageParts:
    parts = PageParts()
    parts.feed(page)
    return parts


def static_prefix() -> str:
    return f"/console/static/{console_files().version}/"


async def test_the_page_forbids_inline_scripts_and_every_other_origin(client: httpx.AsyncClient):
    # when
    response = await client.get("/console")

    # then: the CSP allows this origin only, and the page needs nothing else
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    parts = parse(response.text)
    assert parts.inline_code == []
    assert all(script.get("src") for script in parts.scripts)
    assert not [name for name in parts.attributes if name == "style" or name.startswith("on")]
    assert parts.meta["trainql-graphql"] == "/graphql"
    external = [url for url in parts.urls if not url.startswith((static_prefix(), "#"))]
    assert external == []
    assert "{{" not in response.text


async def test_the_page_is_served_with_and_without_the_trailing_slash(
    client: httpx.AsyncClient,
):
    with_slash = await client.get("/console/")
    without = await client.get("/console")

    assert with_slash.status_code == without.status_code == 200
    assert with_slash.text == without.text
    assert with_slash.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_the_page_preloads_every_module_so_none_waits_for_its_importer(
    client: httpx.AsyncClient,
):
    page = (await client.get("/console")).text

    named = set(re.findall(rf'"{re.escape(static_prefix())}([^"]+\.js)"', page))

    modules = {name for name in console_files().files if name.endswith(".js")}
    assert modules >= {"app.js", "api.js", "live.js", "views/runs.js"}
    assert named == modules


async def test_every_file_is_served_with_its_type_compressed_and_cached_forever(
    client: httpx.AsyncClient,
):
    for name, expected in console_files().files.items():
        # when
        response = await client.get(static_prefix() + name, headers={"Accept-Encoding": "gzip"})

        # then (httpx decodes the gzip body; the file on disk is what arrives)
        assert response.status_code == 200, name
        assert response.headers["content-type"] == expected.media_type
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.content == (STATIC_DIR / name).read_bytes()


async def test_a_client_refusing_gzip_gets_the_plain_file(client: httpx.AsyncClient):
    for accept in ("identity", "gzip;q=0", "br"):
        response = await client.get(static_prefix() + "app.js", headers={"Accept-Encoding": accept})

        assert response.status_code == 200
        assert "content-encoding" not in response.headers, accept
        assert response.content == (STATIC_DIR / "app.js").read_bytes()


async def test_only_the_consoles_own_files_are_served(client: httpx.AsyncClient, tmp_path: Path):
    version = console_files().version
    paths = [
        f"/console/static/{'0' * len(version)}/app.js",  # another version
        f"/console/static/{version}/missing.js",
        f"/console/static/{version}/../router.py",
        f"/console/static/{version}/..%2frouter.py",
        f"/console/static/{version}/%2e%2e/index.html",
        f"/console/static/{version}/",
        "/console/index.html",
        "/console/static/app.js",
        "/console/runs",
    ]

    responses = [await client.get(path) for path in paths]

    assert [r.status_code for r in responses] == [404] * len(paths)
    assert all("import" not in r.text and "def " not in r.text for r in responses)


async def test_the_console_is_not_part_of_the_api_document(client: httpx.AsyncClient):
    document = (await client.get("/api/openapi.json")).json()

    assert not [path for path in document["paths"] if path.startswith("/console")]


# The DOM sinks that turn strings into HTML or code: the console builds nodes instead
# (dom.js), which is what lets its CSP forbid them (Trusted Types, no 'unsafe-eval').
HTML_SINKS = re.compile(
    r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\("
    r"|setAttribute\(\s*[\"']style|setAttribute\(\s*[\"']on"
)


def test_the_scripts_use_no_html_or_code_sinks():
    offenders = {
        name: HTML_SINKS.findall((STATIC_DIR / name).read_text(encoding="utf-8"))
        for name in console_files().files
        if name.endswith(".js")
    }

    assert {name: found for name, found in offenders.items() if found} == {}


async def test_the_first_load_is_well_under_300_kb_compressed(client: httpx.AsyncClient):
    # given: the page and every file it names (all of them, whichever view opens first)
    page = await client.get("/console")
    names = list(console_files().files)

    # when
    sizes = [len(gzip.compress(page.content))]
    for name in names:
        response = await client.get(static_prefix() + name, headers={"Accept-Encoding": "gzip"})
        sizes.append(int(response.headers["content-length"]))

    # then (what a browser transfers adds headers and the GraphQL answers: see the browser
    # test and bench/bench_console.py for the measured total)
    assert sum(sizes) < FIRST_LOAD_LIMIT / 3
