"""Storage that is full or read-only, for real: a small tmpfs mounted for the test.

Mounting needs root (CI runs as root). Where it is impossible the tests skip, except under
CI=true, where they fail. The mount is always undone, lazily if a process still holds it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import in_ci
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.services import Services

FILLER = "filler.bin"


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def small_tmpfs(directory: Path, *, size_kb: int = 3072) -> Iterator[Path]:
    """`directory` as a tmpfs of `size_kb`, unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(directory))
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs at {directory}: {mounted.stderr.strip()}"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)], check=False, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(directory)], check=False, timeout=30)


def fill(directory: Path, *, leave_kb: int) -> None:
    """Write a file that leaves about `leave_kb` free on `directory`'s filesystem."""
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    with (directory / FILLER).open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave_kb * 1024))


def make_read_only(directory: Path) -> None:
    """Remount the tmpfs at `directory` read-only."""
    remounted = _mount("-o", "remount,ro", str(directory))
    assert remounted.returncode == 0, remounted.stderr


def files_under(directory: Path) -> list[str]:
    """Every file below `directory` (hidden temporary files too), relative to it."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A started app for `settings` and a client for it."""
    application = create_app(settings)
    async with app_lifespan(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, application.state.services
