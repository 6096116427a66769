"""A real `trainql serve` in a subprocess, for tests that need uvicorn and separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def settings_env(
    *, database_url: str, state_dir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a child process configured like the test's Settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINQL_")}
    env.update(
        TRAINQL_DATABASE_URL=database_url,
        TRAINQL_STATE_DIR=str(state_dir),
        TRAINQL_DATA_ROOT=str(state_dir / "data"),
        TRAINQL_MODEL_DIR=str(state_dir / "models"),
        # A test server never downloads from the npm registry on start.
        TRAINQL_FETCH_ASSETS="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


@contextmanager
def live_server(
    env: dict[str, str], *, log_path: Path, args: tuple[str, ...] = (), timeout: float = 60.0
) -> Iterator[LiveServer]:
    """Start `python -m trainql serve` and wait until /healthz answers; stop it afterwards."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "trainql", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", log_path, process)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"trainql serve exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"trainql serve did not start:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
