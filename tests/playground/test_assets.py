"""`trainql playground install` and the first `trainql serve`: GraphiQL's and Swagger UI's
assets from an npm registry, verified.

The registry here is a real HTTP server in the test serving real npm tarballs built in the
test; .ci/run installs the pinned packages from the npm registry itself before the
browser test (tests/playground/test_browser.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.live import free_port, live_server, settings_env
from trainql.playground.assets import (
    ALL_PACKAGES,
    PACKAGES,
    SWAGGER_PACKAGES,
    NpmPackage,
    PlaygroundInstallError,
    asset_paths,
    install,
    is_installed,
)


def npm_tarball(files: dict[str, bytes]) -> bytes:
    """A gzipped tarball laid out like npm's: every file under `package/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@dataclass
class FakeRegistry:
    """An npm registry over HTTP: version documents and tarballs, and the paths asked for."""

    url: str = ""
    tarballs: dict[str, bytes] = field(default_factory=dict)  # "name@version" -> tarball
    requests: list[str] = field(default_factory=list)

    def publish(self, name: str, version: str, files: dict[str, bytes]) -> NpmPackage:
        tarball = npm_tarball(files)
        self.tarballs[f"{name}@{version}"] = tarball
        return NpmPackage(name, version, integrity(tarball), tuple(files))


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urllib.parse.unquote(self.path)
            fake.requests.append(path)
            if path.startswith("/-/tarballs/"):
                body = fake.tarballs.get(path.removeprefix("/-/tarballs/"))
                content_type = "application/octet-stream"
            else:
                name, _, version = path.lstrip("/").rpartition("/")
                key = f"{name}@{version}"
                body = None
                if key in fake.tarballs:
                    tarball = f"{fake.url}/-/tarballs/{urllib.parse.quote(key)}"
                    document = {"name": name, "version": version, "dist": {"tarball": tarball}}
                    body = json.dumps(document).encode()
                content_type = "application/json"
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def test_install_extracts_only_the_named_files_of_each_verified_tarball(
    registry: FakeRegistry, tmp_path: Path
):
    # given: react's tarball holds two files, the page needs one
    published = registry.publish(
        "react",
        "18.2.0",
        {"umd/react.development.js": b"window.React = {};", "LICENSE": b"MIT"},
    )
    react = NpmPackage("react", "18.2.0", published.integrity, ("LICENSE",))
    explorer = registry.publish(
        "@graphiql/plugin-explorer", "1.0.2", {"dist/index.umd.js": b"explorer();"}
    )
    target = tmp_path / "playground"

    # when
    installed = install(target, registry=registry.url, packages=(react, explorer))

    # then
    assert installed == [react, explorer]
    assert (target / "react@18.2.0" / "LICENSE").read_bytes() == b"MIT"
    assert not (target / "react@18.2.0" / "umd").exists()
    assert (target / "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js").read_bytes() == (
        b"explorer();"
    )
    assert is_installed(target, (react, explorer))
    # npm's own escaping of a scoped name
    assert "/@graphiql/plugin-explorer/1.0.2" in registry.requests
    assert sorted(p.name for p in target.iterdir()) == ["@graphiql", "react@18.2.0"]


def test_install_skips_what_is_installed_unless_forced(registry: FakeRegistry, tmp_path: Path):
    # given
    react = registry.publish("react", "18.2.0", {"LICENSE": b"MIT"})
    target = tmp_path / "playground"
    install(target, registry=registry.url, packages=(react,))
    registry.requests.clear()

    # when / then
    assert install(target, registry=registry.url, packages=(react,)) == []
    assert registry.requests == []
    assert install(target, registry=registry.url, packages=(react,), force=True) == [react]
    assert (target / "react@18.2.0" / "LICENSE").read_bytes() == b"MIT"


def test_install_refuses_a_tarball_that_is_not_the_pinned_one(
    registry: FakeRegistry, tmp_path: Path
):
    # given: the registry (a compromised mirror, say) serves other code under the same version
    pinned = registry.publish("graphiql", "3.8.3", {"graphiql.min.js": b"GraphiQL();"})
    registry.publish("graphiql", "3.8.3", {"graphiql.min.js": b"steal(localStorage);"})
    target = tmp_path / "playground"

    # when
    with pytest.raises(PlaygroundInstallError) as raised:
        install(target, registry=registry.url, packages=(pinned,))

    # then
    assert "graphiql@3.8.3" in str(raised.value)
    assert f"is not the pinned {pinned.integrity}" in str(raised.value)
    assert not (target / "graphiql@3.8.3").exists()


def test_install_fails_on_a_tarball_without_a_needed_file_and_keeps_the_old_copy(
    registry: FakeRegistry, tmp_path: Path
):
    # given: a complete install, then a tarball lacking a file the page needs
    target = tmp_path / "playground"
    good = registry.publish("react", "18.2.0", {"LICENSE": b"MIT"})
    install(target, registry=registry.url, packages=(good,))
    incomplete = registry.publish("react", "18.2.0", {"README.md": b"no license"})
    broken = NpmPackage("react", "18.2.0", incomplete.integrity, ("LICENSE",))

    # when
    with pytest.raises(PlaygroundInstallError) as raised:
        install(target, registry=registry.url, packages=(broken,), force=True)

    # then
    assert str(raised.value) == "react@18.2.0's tarball has no file LICENSE"
    assert (target / "react@18.2.0" / "LICENSE").read_bytes() == b"MIT"
    assert [p.name for p in target.iterdir()] == ["react@18.2.0"]  # no staging left behind


def test_install_names_the_url_the_registry_refused(registry: FakeRegistry, tmp_path: Path):
    missing = NpmPackage("graphiql", "0.0.0", "sha512-x", ("graphiql.min.js",))

    with pytest.raises(PlaygroundInstallError) as raised:
        install(tmp_path / "playground", registry=registry.url + "/", packages=(missing,))

    assert str(raised.value) == f"GET {registry.url}/graphiql/0.0.0 answered 404 Not Found"


def test_pinned_packages_cover_react_react_dom_graphiql_and_its_explorer():
    assert {package.name for package in PACKAGES} == {
        "react",
        "react-dom",
        "graphiql",
        "@graphiql/plugin-explorer",
    }
    assert all(package.integrity.startswith("sha512-") for package in PACKAGES)


def test_swagger_ui_is_pinned_with_the_files_its_page_loads():
    assert [(p.name, p.version) for p in SWAGGER_PACKAGES] == [("swagger-ui-dist", "5.35.0")]
    assert set(SWAGGER_PACKAGES[0].files) >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    assert SWAGGER_PACKAGES[0].integrity.startswith("sha512-")
    assert ALL_PACKAGES == PACKAGES + SWAGGER_PACKAGES


def test_cli_install_uses_the_configured_registry_and_reports_a_refusal(
    registry: FakeRegistry, tmp_path: Path
):
    # given: a registry serving a react@18.2.0 that is not the pinned one
    registry.publish("react", "18.2.0", {"umd/react.production.min.js": b"x", "LICENSE": b"x"})
    env = settings_env(
        database_url=f"sqlite:///{tmp_path / 'trainql.db'}",
        state_dir=tmp_path / "state",
        extra={"TRAINQL_NPM_REGISTRY": registry.url},
    )

    # when
    done = subprocess.run(
        [sys.executable, "-m", "trainql", "playground", "install"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert done.returncode == 1
    assert "error: could not install the playground: react@18.2.0:" in done.stderr
    assert "refusing to install it" in done.stderr
    assert "/react/18.2.0" in registry.requests
    assert not (tmp_path / "state" / "playground" / "react@18.2.0").exists()


def serve_env(tmp_path: Path, registry_url: str, *, fetch: bool = True) -> dict[str, str]:
    return settings_env(
        database_url=f"sqlite:///{tmp_path / 'trainql.db'}",
        state_dir=tmp_path / "state",
        extra={
            "TRAINQL_NPM_REGISTRY": registry_url,
            "TRAINQL_FETCH_ASSETS": "true" if fetch else "false",
        },
    )


def install_fake_assets(directory: Path) -> None:
    for asset in asset_paths(ALL_PACKAGES):
        path = directory / asset
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {asset} */")


@pytest.mark.slow
def test_first_serve_fetches_the_missing_assets_and_says_so(registry: FakeRegistry, tmp_path: Path):
    # given: a registry whose react is not the pinned one, and nothing installed yet
    registry.publish("react", "18.2.0", {"umd/react.production.min.js": b"x", "LICENSE": b"x"})
    env = serve_env(tmp_path, registry.url)

    # when
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        console = httpx.get(f"{server.base_url}/console")
        docs = httpx.get(f"{server.base_url}/api/docs")
        output = server.output()

    # then: serve asked the registry, refused the tarball, said so, and served anyway
    assert "/react/18.2.0" in registry.requests
    assert (
        f"Fetching GraphiQL's and Swagger UI's assets once from {registry.url} into "
        f"{tmp_path / 'state' / 'playground'}"
    ) in output
    assert "could not fetch them (react@18.2.0: the downloaded tarball's integrity" in output
    assert "/console needs nothing from the internet" in output
    assert not (tmp_path / "state" / "playground" / "react@18.2.0").exists()
    assert console.status_code == 200
    assert "cdn.jsdelivr.net" in docs.text  # the fallback page


@pytest.mark.slow
def test_serve_offline_says_so_in_one_line_and_serves(tmp_path: Path):
    # given: a registry address nothing listens on (an offline machine's registry)
    env = serve_env(tmp_path, f"http://127.0.0.1:{free_port()}")

    # when
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        console = httpx.get(f"{server.base_url}/console")
        output = server.output()

    # then
    warnings = [line for line in output.splitlines() if "could not fetch them" in line]
    assert len(warnings) == 1
    assert "Connection refused" in warnings[0]
    assert "Traceback" not in output
    assert console.status_code == 200


@pytest.mark.slow
def test_serve_fetches_nothing_once_the_assets_are_installed_or_when_told_not_to(
    registry: FakeRegistry, tmp_path: Path
):
    # given: one state directory with every asset installed, one with none but the
    # fetch turned off
    install_fake_assets(tmp_path / "installed" / "state" / "playground")
    installed = serve_env(tmp_path / "installed", registry.url)
    turned_off = serve_env(tmp_path / "off", registry.url, fetch=False)

    # when
    for env, log in ((installed, "installed.log"), (turned_off, "off.log")):
        with live_server(env, log_path=tmp_path / log) as server:
            assert httpx.get(f"{server.base_url}/healthz").status_code == 200
            output = server.output()

        # then
        assert "Fetching" not in output
    assert registry.requests == []
