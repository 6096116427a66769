"""The MLflow side of the peer benches: its bench-only venv, and a server process in it.

MLflow is never a dependency of trainql: it lives in `bench/.venv-mlflow` (gitignored),
created on first use. Used by bench_mlflow_peer.py (the tracking server) and
bench_predict.py (`mlflow models serve`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

MLFLOW_VENV = Path(__file__).with_name(".venv-mlflow")
MLFLOW_REQUIREMENTS = ("mlflow>=3.0,<4", "psycopg2-binary>=2.9")


def mlflow_venv(pins: Sequence[str] = ()) -> Path:
    """The bench-only venv with MLflow, created on first use; its bin directory.

    `pins` are exact requirements (`name==version`) the venv must also satisfy, such as
    the scikit-learn that wrote a pickle the venv has to read; installed when missing or
    at another version."""
    bin_dir = MLFLOW_VENV / "bin"
    if not (bin_dir / "mlflow").exists():
        print(f"creating {MLFLOW_VENV} with {', '.join(MLFLOW_REQUIREMENTS)} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run(
            [str(bin_dir / "pip"), "install", "-q", *MLFLOW_REQUIREMENTS, *pins], check=True
        )
    missing = [pin for pin in pins if installed_version(bin_dir, pin.split("==")[0]) != pin]
    if missing:
        print(f"installing {', '.join(missing)} into {MLFLOW_VENV}")
        subprocess.run([str(bin_dir / "pip"), "install", "-q", *missing], check=True)
    return bin_dir


def installed_version(bin_dir: Path, distribution: str) -> str | None:
    """`distribution==version` as installed in the venv, or None."""
    out = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: pass",
            distribution,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    version = out.stdout.strip()
    return f"{distribution}=={version}" if version else None


def mlflow_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "mlflow"), "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().rsplit(" ", 1)[-1]


@contextmanager
def server_process(
    command: Sequence[str],
    health_url: str,
    log_path: Path,
    *,
    what: str = "mlflow",
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (a server, in a session of its own) until the block ends, once
    `health_url` answers 200; then SIGTERM its process group (SIGKILL after 20 s)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            env=full_env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
