"""A real Dask cluster for tests and benchmarks: `dask scheduler` and `dask worker`
processes on loopback ports, each in its own process group so that a test can SIGKILL one
(or all) by PID, and start them again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.live import free_port

DASK = str(Path(sys.executable).with_name("dask"))
# What a worker needs beyond the API's TRAINQL_* environment: to be allowed to start the
# process a training runs in (a nanny's worker is a daemon process otherwise).
WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__DAEMON": "False"}


@dataclass
class DaskProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group (a worker's nanny and its worker together)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@dataclass
class DaskCluster:
    """A scheduler and its workers; `env` is what each worker runs with."""

    directory: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    scheduler: DaskProcess | None = None
    workers: list[DaskProcess] = field(default_factory=list)
    _started: int = 0

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def executor_setting(self) -> str:
        """TRAINQL_EXECUTOR for this cluster."""
        return f"dask://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> DaskProcess:
        self._started += 1
        log_path = self.directory / f"{name}-{self._started}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [DASK, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.directory,
            )
        return DaskProcess(name, process, log_path)

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
            self.env,
        )

    def start_worker(self, name: str, *, nthreads: int = 2) -> DaskProcess:
        worker = self._spawn(
            name,
            [
                "worker",
                self.address,
                "--name",
                name,
                "--nthreads",
                str(nthreads),
                "--resources",
                "training=1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--local-directory",
                str(self.directory / f"{name}-space"),
            ],
            {**self.env, **WORKER_ENV},
        )
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count: int, *, timeout: float = 90.0) -> None:
        """Until `count` workers are connected to the scheduler."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=timeout, set_as_default=False) as client:
            while len(client.scheduler_info(n_workers=-1)["workers"]) < count:
                if time.monotonic() > deadline:
                    logs = "\n".join(w.output()[-2000:] for w in self.workers)
                    raise RuntimeError(f"{count} Dask workers did not connect:\n{logs}")
                time.sleep(0.2)

    def worker_pids(self) -> dict[str, int]:
        """Each connected worker's address and the pid of its worker process."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            pids: dict[str, int] = client.run(os.getpid)
        return {address: pids[address] for address in info}

    def kill_all(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.workers.clear()
        if self.scheduler is not None:
            self.scheduler.kill()
            self.scheduler = None


@contextmanager
def dask_cluster(
    directory: Path, env: dict[str, str], *, workers: int = 2, nthreads: int = 2
) -> Iterator[DaskCluster]:
    """A scheduler and `workers` workers (names w1, w2, ...), killed at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    cluster = DaskCluster(directory=directory, env=env)
    try:
        cluster.start_scheduler()
        for n in range(1, workers + 1):
            cluster.start_worker(f"w{n}", nthreads=nthreads)
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        cluster.kill_all()
