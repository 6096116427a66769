"""A private PostgreSQL cluster that a test starts, stops and starts again: for outages.

The machine's shared server (127.0.0.1:5432) is never touched. The cluster lives in its own
temporary directory (owned by `postgres` when the tests run as root, as initdb requires),
listens on a spare loopback port with trust authentication, and is stopped and removed
when the context ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.live import free_port

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
COMMAND_TIMEOUT_S = 60


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory with initdb and pg_ctl."""
    found = sorted(
        (Path(d) for d in glob.glob(PG_BIN_GLOB) if (Path(d) / "initdb").is_file()),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


@dataclass
class PrivateCluster:
    bin_dir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{log}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options,
                  "-w", "-t", str(COMMAND_TIMEOUT_S), "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients disconnected, clean shutdown) or `immediate`
        (no shutdown checkpoint: the restart runs crash recovery, as after a crash)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


def _require(condition: bool, reason: str) -> None:
    if not condition:
        if in_ci():
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster; stopped (immediately) and removed afterwards."""
    bin_dir = postgres_bin_dir()
    _require(bin_dir is not None, f"no PostgreSQL server binaries under {PG_BIN_GLOB}")
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="trainql-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            _require(False, "running as root with no `postgres` user to run the cluster as")
            raise
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PrivateCluster(bin_dir=bin_dir, root=root, port=free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.is_running():
            with suppress(RuntimeError):
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
