"""The Dask executor against the local one: throughput, overhead, recovery.

    python -m bench.bench_cluster                  # everything, about 10 minutes on 2 cores
    python -m bench.bench_cluster --part throughput --runs 20

Every part runs real processes on loopback: `trainql serve` instances, a `dask scheduler`
and `dask worker` processes (two threads and one `training` slot each), on a fresh
PostgreSQL database (`trainql_bench_cluster`, created on --pg-server and dropped at the
end), with the data root and the model directory on a `file://` directory (one machine:
the workers share it).

- throughput: `--runs` background trainings of the default 357-row dataset (100 trees),
  submitted alternately to two API instances onto two workers, against the same through
  one API instance on the local executor. Runs per minute (first submit to last COMPLETED)
  and submit-to-COMPLETED p50/p95 (from the run rows: run_date to the COMPLETED write),
  plus the dispatch delay alone (run_date to the attempt's start) of `--probes` trainings
  sent one at a time to an idle cluster, each way. Every run must end COMPLETED.
- overhead: one `--rows`-row training (20 trees, depth 20, as bench_training) on the Dask
  executor with one worker against the local executor; ratio of the wall times.
- recovery: SIGKILL of the worker running a training to the run's next attempt starting
  (goal: under TRAINQL_TRAINING_LEASE_S + TRAINQL_RECONCILE_INTERVAL_S, the defaults), and
  SIGKILL of the API instance that submitted a training to that run's COMPLETED (it goes
  on: no wait beyond the training's own time).

Prints a table per part and writes JSON to bench/results/cluster-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.cluster import DaskCluster, dask_cluster
from tests.live import LiveServer, live_server, settings_env
from trainql.db import migrate
from trainql.ml.generator import write_future_skills_csv

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PASSWORD = "bench-cluster-pw"
DATABASE = "trainql_bench_cluster"
LEASE_S = 30.0  # the defaults: recovery is measured as an operator would see it
RECONCILE_S = 5.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class Bench:
    url: str
    directory: Path
    env: dict[str, str]

    def start(self, stack: ExitStack, name: str, **settings: str) -> LiveServer:
        extra = {f"TRAINQL_{k.upper()}": v for k, v in settings.items()}
        return stack.enter_context(
            live_server({**self.env, **extra}, log_path=self.directory / f"{name}.log")
        )

    def token(self, server: LiveServer) -> str:
        login = httpx.post(
            f"{server.base_url}/api-token-auth/",
            json={"username": "admin", "password": PASSWORD},
        )
        return str(login.json()["token"])

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conninfo = make_url(self.url).set(drivername="postgresql")
        with psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn:
            cursor = conn.execute(sql, args)
            return cursor.fetchall() if cursor.description is not None else []

    def reset(self) -> None:
        self.query("TRUNCATE training_runs RESTART IDENTITY CASCADE")

    def wait_all_final(self, count: int, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while True:
            [(done,)] = self.query(
                "SELECT count(*) FROM training_runs WHERE status IN ('COMPLETED', 'FAILED')"
            )
            if done >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {count} runs ended")
            time.sleep(0.05)

    def run_row(self, run_id: int) -> dict[str, Any]:
        [row] = self.query(
            "SELECT status, attempt, lease_owner, run_date, attempt_started_at, updated_at, "
            "error_message FROM training_runs WHERE id = %s",
            run_id,
        )
        keys = ("status", "attempt", "worker", "run_date", "started", "updated", "error")
        return dict(zip(keys, row, strict=True))

    def wait_for(self, run_id: int, predicate: Any, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            row = self.run_row(run_id)
            if predicate(row):
                return row
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} stuck: {row}")
            time.sleep(0.02)


def submit(server: LiveServer, token: str, **body: Any) -> int:
    response = httpx.post(
        f"{server.base_url}/api/training/train/",
        json=body,
        headers={"Authorization": f"Token {token}"},
        timeout=3600,
    )
    if response.status_code not in (201, 202):
        raise RuntimeError(f"{response.status_code} {response.text}")
    return int(response.json()["training_run_id"])


def throughput(
    bench: Bench, servers: list[LiveServer], runs: int, probes: int, *, slots: int
) -> dict[str, Any]:
    """`runs` background trainings spread over `servers`; then `probes` one at a time. A
    warm-up training per training slot first starts each fork server (as in a service
    that has been up a while)."""
    tokens = [bench.token(s) for s in servers]
    bench.reset()
    for _ in range(slots):
        submit(servers[0], tokens[0], async_training=True)
    bench.wait_all_final(slots)
    bench.reset()
    started = time.monotonic()
    for n in range(runs):
        submit(servers[n % len(servers)], tokens[n % len(servers)], async_training=True)
    bench.wait_all_final(runs)
    wall = time.monotonic() - started
    rows = bench.query(
        "SELECT status, EXTRACT(EPOCH FROM updated_at - run_date) FROM training_runs ORDER BY id"
    )
    latencies = [float(seconds) for _, seconds in rows]
    completed = sum(1 for status, _ in rows if status == "COMPLETED")
    delays = []
    for _ in range(probes):
        run_id = submit(servers[0], tokens[0])  # waits for the outcome: the cluster is idle
        row = bench.run_row(run_id)
        delays.append((row["started"] - row["run_date"]).total_seconds())
    return {
        "runs": runs,
        "completed": completed,
        "wall_s": round(wall, 2),
        "runs_per_min": round(runs / wall * 60, 1),
        "latency_p50_s": round(quantile(latencies, 0.5), 3),
        "latency_p95_s": round(quantile(latencies, 0.95), 3),
        "dispatch_p50_s": round(quantile(delays, 0.5), 3),
        "dispatch_max_s": round(max(delays), 3),
    }


def overhead_training(bench: Bench, server: LiveServer, rows: int) -> float:
    bench.reset()
    token = bench.token(server)
    submit(server, token, hyperparameters={"n_estimators": 2})  # warm the worker's fork server
    started = time.monotonic()
    submit(
        server,
        token,
        dataset_path=f"big-{rows}.csv",
        hyperparameters={"n_estimators": 20, "max_depth": 20},
    )
    return time.monotonic() - started


def recovery(bench: Bench, cluster: DaskCluster, servers: list[LiveServer]) -> dict[str, Any]:
    bench.reset()
    token = bench.token(servers[0])
    body = {"dataset_path": "big-recovery.csv", "hyperparameters": {"n_estimators": 300}}
    run_id = submit(servers[0], token, async_training=True, **body)
    running = bench.wait_for(run_id, lambda r: r["status"] == "RUNNING")
    found = re.search(r"\(pid (\d+)\)", running["worker"] or "")
    assert found, running
    os.kill(int(found.group(1)), signal.SIGKILL)
    killed = time.monotonic()
    bench.wait_for(run_id, lambda r: r["attempt"] == 2 and r["status"] == "RUNNING")
    redispatch = time.monotonic() - killed
    bench.wait_for(run_id, lambda r: r["status"] == "COMPLETED")
    cluster.wait_for_workers(2)

    # The API instance dies while its run trains: how long until the run ends anyway, and
    # how long the same training takes when nothing dies.
    timed_start = time.monotonic()
    baseline_id = submit(servers[1], bench.token(servers[1]), **body)
    baseline = time.monotonic() - timed_start
    submitted = time.monotonic()
    victim = submit(servers[0], token, async_training=True, **body)
    bench.wait_for(victim, lambda r: r["status"] == "RUNNING")
    os.killpg(servers[0].process.pid, signal.SIGKILL)
    api_killed = time.monotonic()
    row = bench.wait_for(victim, lambda r: r["status"] in ("COMPLETED", "FAILED"))
    return {
        "worker_kill_to_next_attempt_s": round(redispatch, 2),
        "goal_s": LEASE_S + RECONCILE_S,
        "api_kill_to_completed_s": round(time.monotonic() - api_killed, 2),
        "api_killed_run_submit_to_completed_s": round(time.monotonic() - submitted, 2),
        "same_training_undisturbed_s": round(baseline, 2),
        "api_killed_run": {"status": row["status"], "attempt": row["attempt"]},
        "baseline_run": bench.run_row(baseline_id)["status"],
    }


@contextmanager
def database(server_url: str) -> Iterator[str]:
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["throughput", "overhead", "recovery"], action="append")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    parts = args.part or ["throughput", "overhead", "recovery"]
    report: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "load": os.getloadavg()}
    with (
        tempfile.TemporaryDirectory(prefix="trainql-bench-cluster-") as tmp,
        database(args.pg_server) as url,
    ):
        directory = Path(tmp)
        shared = directory / "shared"
        env = settings_env(
            database_url=url,
            state_dir=directory / "state",
            extra={
                "TRAINQL_DATA_ROOT": f"file://{shared}/data",
                "TRAINQL_MODEL_DIR": f"file://{shared}/models",
                "TRAINQL_ADMIN_PASSWORD": PASSWORD,
                "TRAINQL_LOG_LEVEL": "WARNING",
                "TRAINQL_SUBSCRIPTION_POLL_INTERVAL_S": "0.05",
            },
        )
        bench = Bench(url=url, directory=directory, env=env)
        if "overhead" in parts:
            write_future_skills_csv(shared / "data" / f"big-{args.rows}.csv", args.rows)
        if "recovery" in parts:
            write_future_skills_csv(shared / "data" / "big-recovery.csv", 20_000)

        if "throughput" in parts:
            with ExitStack() as stack:
                local = bench.start(stack, "local")
                report["throughput_local"] = throughput(
                    bench, [local], args.runs, args.probes, slots=1
                )
            with dask_cluster(directory / "dask", env, workers=2) as cluster, ExitStack() as stack:
                executor = {"executor": cluster.executor_setting}
                servers = [bench.start(stack, f"dask-{n}", **executor) for n in "AB"]
                report["throughput_dask"] = throughput(
                    bench, servers, args.runs, args.probes, slots=2
                )
            local_rate = report["throughput_local"]["runs_per_min"]
            report["throughput_ratio"] = round(
                report["throughput_dask"]["runs_per_min"] / local_rate, 2
            )
            print_table("throughput", report, ["throughput_local", "throughput_dask"])
            print(f"runs/min ratio (goal >= 1.5): {report['throughput_ratio']}")

        if "overhead" in parts:
            with ExitStack() as stack:
                local = bench.start(stack, "overhead-local")
                local_s = overhead_training(bench, local, args.rows)
            with dask_cluster(directory / "dask1", env, workers=1) as cluster, ExitStack() as stack:
                server = bench.start(stack, "overhead-dask", executor=cluster.executor_setting)
                dask_s = overhead_training(bench, server, args.rows)
            report["overhead"] = {
                "rows": args.rows,
                "local_s": round(local_s, 2),
                "dask_one_worker_s": round(dask_s, 2),
                "ratio": round(dask_s / local_s, 3),
            }
            print(f"\n{args.rows:,}-row training: local {local_s:.2f} s, Dask (one worker) "
                  f"{dask_s:.2f} s, ratio {dask_s / local_s:.3f} (goal <= 1.15)")  # fmt: skip

        if "recovery" in parts:
            with dask_cluster(directory / "dask2", env, workers=2) as cluster, ExitStack() as stack:
                servers = [
                    bench.start(stack, f"recovery-{n}", executor=cluster.executor_setting)
                    for n in "AB"
                ]
                report["recovery"] = recovery(bench, cluster, servers)
            print("\nrecovery:", json.dumps(report["recovery"], indent=2))

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"cluster-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out}")


def print_table(title: str, report: dict[str, Any], keys: list[str]) -> None:
    columns = list(report[keys[0]])
    print(f"\n{title}")
    print(" | ".join(["executor", *columns]))
    for key in keys:
        print(" | ".join([key.split("_", 1)[1], *(str(report[key][c]) for c in columns)]))


if __name__ == "__main__":
    main()
