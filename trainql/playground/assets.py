"""GraphiQL's and Swagger UI's browser assets, installed from the npm registry so /graphql
and /api/docs work offline.

`trainql playground install` (and `trainql serve`, once, when they are missing) downloads the
pinned npm tarballs below, checks each against the sha512 integrity pinned here (a mirror
cannot substitute other code), and extracts only the files the pages load into
`<playground_dir>/<name>@<version>/<path>`, the layout of the CDN URLs.
`trainql.playground.page` serves GraphiQL's and renders its page when they are all present
(otherwise /graphql falls back to Strawberry's CDN page); `trainql.playground.swagger` does
the same for Swagger UI at /api/docs (falling back to FastAPI's CDN page).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class NpmPackage:
    """One npm package version and the files of its tarball the page needs."""

    name: str
    version: str
    integrity: str  # the registry's `dist.integrity`: "sha512-<base64>"
    files: tuple[str, ...]  # paths inside the tarball's `package/` folder

    @property
    def folder(self) -> str:
        """Where its files go under the playground directory (and under the asset URL)."""
        return f"{self.name}@{self.version}"

    def asset(self, file: str) -> str:
        """The asset path of one of its files, relative to the playground directory."""
        return f"{self.folder}/{file}"


# The versions Strawberry's own GraphiQL page loads from the CDN (strawberry/static/graphiql.html).
REACT = NpmPackage(
    "react",
    "18.2.0",
    "sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==",
    ("umd/react.production.min.js", "LICENSE"),
)
REACT_DOM = NpmPackage(
    "react-dom",
    "18.2.0",
    "sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g==",
    ("umd/react-dom.production.min.js", "LICENSE"),
)
GRAPHIQL = NpmPackage(
    "graphiql",
    "3.8.3",
    "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
    ("graphiql.min.js", "graphiql.min.css", "LICENSE"),
)
EXPLORER = NpmPackage(
    "@graphiql/plugin-explorer",
    "1.0.2",
    "sha512-9j+kg2UjtLZD5EBmGjeWHkoVVxtbShYg2DzbUVebibnZYZM/iMBEF4vaccXJIAm5KaomIPLx0aoNs4LbODyc3Q==",
    ("dist/index.umd.js", "dist/style.css"),
)
PACKAGES: tuple[NpmPackage, ...] = (REACT, REACT_DOM, GRAPHIQL, EXPLORER)

# FastAPI's page loads `swagger-ui-dist@5` (the newest 5.x) from jsDelivr; this is the 5.x
# pinned here. The bundle carries its presets, so the standalone preset file is not needed.
SWAGGER_UI = NpmPackage(
    "swagger-ui-dist",
    "5.35.0",
    "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
    ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"),
)
SWAGGER_PACKAGES: tuple[NpmPackage, ...] = (SWAGGER_UI,)
# What `trainql playground install` and the first `trainql serve` install.
ALL_PACKAGES: tuple[NpmPackage, ...] = PACKAGES + SWAGGER_PACKAGES


class PlaygroundInstallError(Exception):
    """The assets could not be downloaded, verified or written; the message says which."""


def asset_paths(packages: tuple[NpmPackage, ...] = PACKAGES) -> frozenset[str]:
    """Every asset path the page may load (the only paths the server will serve)."""
    return frozenset(package.asset(file) for package in packages for file in package.files)


def is_installed(directory: Path, packages: tuple[NpmPackage, ...] = PACKAGES) -> bool:
    """Whether every file of every package is present under `directory`."""
    return all((directory / path).is_file() for path in asset_paths(packages))


def _get(url: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise PlaygroundInstallError(f"GET {url} answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PlaygroundInstallError(f"GET {url} failed: {reason}") from exc


def _sha512_integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _tarball_url(registry: str, package: NpmPackage, timeout: float) -> str:
    # npm's own client escapes the scope's slash: /@graphiql%2fplugin-explorer/1.0.2
    name = urllib.parse.quote(package.name, safe="@")
    url = f"{registry.rstrip('/')}/{name}/{package.version}"
    try:
        metadata = json.loads(_get(url, timeout))
        tarball = metadata["dist"]["tarball"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PlaygroundInstallError(f"{url} is not an npm version document") from exc
    if not isinstance(tarball, str) or urllib.parse.urlsplit(tarball).scheme not in {
        "http",
        "https",
    }:
        raise PlaygroundInstallError(f"{url} names no http(s) tarball")
    return tarball


def _read_files(package: NpmPackage, tarball: bytes) -> dict[str, bytes]:
    """The contents of the package's files, read from its tarball's `package/` folder."""
    contents = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for file in package.files:
                try:
                    member = archive.extractfile(f"package/{file}")
                except KeyError:
                    member = None
                if member is None:
                    raise PlaygroundInstallError(f"{package.folder}'s tarball has no file {file}")
                contents[file] = member.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PlaygroundInstallError(f"{package.folder}'s tarball is unreadable: {exc}") from exc
    return contents


def install_package(
    package: NpmPackage, directory: Path, registry: str, timeout: float = DOWNLOAD_TIMEOUT_S
) -> None:
    """Download, verify and extract one package into `directory/<name>@<version>/`,
    replacing what was there only once the new copy is complete. `timeout` bounds each
    network wait (connecting, each read), not the whole download."""
    tarball = _get(_tarball_url(registry, package, timeout), timeout)
    actual = _sha512_integrity(tarball)
    if actual != package.integrity:
        raise PlaygroundInstallError(
            f"{package.folder}: the downloaded tarball's integrity {actual} is not the "
            f"pinned {package.integrity}; refusing to install it"
        )
    final = directory / package.folder
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=final.parent))
    try:
        # Only the named members are read, and written to paths we build ourselves:
        # nothing in the archive chooses where a file lands.
        for file, content in _read_files(package, tarball).items():
            target = staging / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install(
    directory: Path,
    *,
    registry: str,
    packages: tuple[NpmPackage, ...] = PACKAGES,
    force: bool = False,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> list[NpmPackage]:
    """Install every package not yet complete under `directory` (all of them with `force`);
    return the ones installed. Stops at the first failure (PlaygroundInstallError or
    OSError), keeping the packages completed before it."""
    installed = []
    for package in packages:
        if not force and is_installed(directory, (package,)):
            continue
        install_package(package, directory, registry, timeout)
        installed.append(package)
    return installed
