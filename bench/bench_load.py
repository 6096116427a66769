"""Mixed load on a live `trainql serve`, then every acknowledged write checked in the database.

    .venv/bin/python -m bench.bench_load      # 8 clients, 60 s, PostgreSQL, --workers 2
        [--clients 8] [--seconds 60] [--workers 2] [--backend postgresql|sqlite]
        [--pg-server postgresql://postgres@127.0.0.1:5432/postgres] [--seed 42] [--out PATH]

A fresh database (PostgreSQL: `trainql_bench_load`, created on --pg-server and dropped at the
end), a real server with --workers processes, and --clients concurrent clients, each on its
own keep-alive connection, each drawing operations from a fixed mix (seeded):

| operation | what | weight |
|---|---|---|
| `list-graphql` | `trainingRuns(first: 20)` | 15 |
| `list-rest` | `GET /api/training/runs/?page_size=20` | 15 |
| `run-graphql` | `trainingRun(id)` of a known run | 12 |
| `run-rest` | `GET /api/training/runs/{id}/` | 12 |
| `me` | `{ me { username } }` | 20 |
| `flip-rest` | `PATCH /ai/dataset/{id}/training-status` on one of the client's datasets | 8 |
| `flip-graphql` | `setTrainingStatus` on one of the client's datasets | 8 |
| `upload` | `POST /ai/datasets`, a small CSV | 6 |
| `train` | `POST /api/training/train/` with 5 trees | 4 |

Every answer that is not the expected 2xx (or a GraphQL answer with errors) is an error.
Each client flips only datasets it uploaded, one request at a time, so writes to one dataset
never overlap: after the run, every acknowledged upload must exist with the status of its
last acknowledged flip, and every acknowledged training must be COMPLETED with the metrics
it was answered with. Prints p50/p99 per operation, the errors and the check, and writes JSON
under bench/results/. On this shared 2-core machine the load generator competes with the
server for CPU: the latencies are the machine's, not the service's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.live import live_server, settings_env
from trainql.db.engine import Database

RESULTS = Path(__file__).with_name("results")
BENCH_DATABASE = "trainql_bench_load"
ADMIN_PASSWORD = "bench-load-admin-password"
CSV = b"job_role_name,trend_score,future_need_level\nEngineer,0.8,HIGH\nClerk,0.2,LOW\n"
SEED_RUNS = 3

MIX = {
    "list-graphql": 15,
    "list-rest": 15,
    "run-graphql": 12,
    "run-rest": 12,
    "me": 20,
    "flip-rest": 8,
    "flip-graphql": 8,
    "upload": 6,
    "train": 4,
}
LIST = "query { trainingRuns(first: 20) { nodes { id status accuracy trainedBy { username } } } }"
RUN = "query Run($id: ID!) { trainingRun(id: $id) { id status metrics { accuracy } } }"
ME = "{ me { username } }"
SET_STATUS = """
mutation Set($id: UUID!, $status: DatasetTrainingStatus!) {
  setTrainingStatus(datasetId: $id, trainingStatus: $status) { trainingStatus }
}
"""


@dataclass
class Ledger:
    """What the server acknowledged: the expected state of the database afterwards."""

    datasets: dict[str, str] = field(default_factory=dict)  # id -> last acknowledged status
    runs: dict[int, float] = field(default_factory=dict)  # id -> acknowledged accuracy


@dataclass
class Sample:
    operation: str
    seconds: float
    error: str | None


class LoadClient:
    """One client: its own connection, its own datasets, its own random stream."""

    def __init__(self, number: int, base_url: str, token: str, seed: int, ledger: Ledger) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=120)
        self.auth = {"Authorization": f"Token {token}"}
        self.random = random.Random(seed * 1000 + number)
        self.ledger = ledger
        self.own: list[str] = []  # datasets this client uploaded
        self.samples: list[Sample] = []
        self.number = number

    async def close(self) -> None:
        await self.http.aclose()

    async def run(self, until: float) -> None:
        operations, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < until:
            operation = self.random.choices(operations, weights)[0]
            if operation.startswith("flip") and not self.own:
                operation = "upload"
            started = time.perf_counter()
            try:
                error = await getattr(self, operation.replace("-", "_"))()
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.samples.append(Sample(operation, time.perf_counter() - started, error))

    # Operations: each returns None, or what was wrong with the answer ---------------------

    async def _graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.auth
        )
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if response.status_code != 200 or not isinstance(body, dict) or body.get("errors"):
            raise _Refused(f"{response.status_code} {response.text[:300]}")
        return body["data"]

    def _run_id(self) -> int:
        return self.random.choice(sorted(self.ledger.runs))

    async def list_graphql(self) -> str | None:
        return await _checked(self._graphql(LIST))

    async def list_rest(self) -> str | None:
        response = await self.http.get("/api/training/runs/?page_size=20", headers=self.auth)
        return _status(response, 200)

    async def run_graphql(self) -> str | None:
        return await _checked(self._graphql(RUN, {"id": str(self._run_id())}))

    async def run_rest(self) -> str | None:
        response = await self.http.get(f"/api/training/runs/{self._run_id()}/", headers=self.auth)
        return _status(response, 200)

    async def me(self) -> str | None:
        return await _checked(self._graphql(ME))

    def _next_flip(self) -> tuple[str, str]:
        dataset_id = self.random.choice(self.own)
        current = self.ledger.datasets[dataset_id]
        return dataset_id, "trained" if current == "not_trained" else "not_trained"

    async def flip_rest(self) -> str | None:
        dataset_id, status = self._next_flip()
        response = await self.http.patch(
            f"/ai/dataset/{dataset_id}/training-status", data={"training_status": status}
        )
        error = _status(response, 200)
        if error is None:
            self.ledger.datasets[dataset_id] = status
        return error

    async def flip_graphql(self) -> str | None:
        dataset_id, status = self._next_flip()
        try:
            await self._graphql(SET_STATUS, {"id": dataset_id, "status": status.upper()})
        except _Refused as refused:
            return str(refused)
        self.ledger.datasets[dataset_id] = status
        return None

    async def upload(self) -> str | None:
        response = await self.http.post(
            "/ai/datasets", data={"name": f"client-{self.number}"}, files={"file": ("l.csv", CSV)}
        )
        error = _status(response, 201)
        if error is None:
            dataset_id = response.json()["id"]
            self.own.append(dataset_id)
            self.ledger.datasets[dataset_id] = "not_trained"
        return error

    async def train(self) -> str | None:
        response = await self.http.post(
            "/api/training/train/", json={"hyperparameters": {"n_estimators": 5}}, headers=self.auth
        )
        error = _status(response, 201)
        if error is None:
            body = response.json()
            self.ledger.runs[int(body["training_run_id"])] = float(body["metrics"]["accuracy"])
        return error


class _Refused(Exception):
    pass


async def _checked(call: Any) -> str | None:
    try:
        await call
    except _Refused as refused:
        return str(refused)
    return None


def _status(response: httpx.Response, expected: int) -> str | None:
    if response.status_code == expected:
        return None
    return f"{response.status_code} {response.text[:300]}"


# Set-up and the check -----------------------------------------------------------------------


def _admin_url(server: str) -> str:
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare_database(backend: str, pg_server: str, state: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{state / 'bench.db'}"
    with psycopg.connect(_admin_url(pg_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    return make_url(pg_server).set(database=BENCH_DATABASE).render_as_string(False)


def drop_database(backend: str, pg_server: str) -> None:
    if backend == "postgresql":
        with psycopg.connect(_admin_url(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


async def seed(base_url: str, ledger: Ledger) -> str:
    """admin's token, and SEED_RUNS trainings for the run reads to find."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        login = await http.post(
            "/api-token-auth/", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
        token = str(login.json()["token"])
        for _ in range(SEED_RUNS):
            trained = await http.post(
                "/api/training/train/",
                json={"hyperparameters": {"n_estimators": 5}},
                headers={"Authorization": f"Token {token}"},
            )
            trained.raise_for_status()
            body = trained.json()
            ledger.runs[int(body["training_run_id"])] = float(body["metrics"]["accuracy"])
    return token


async def check_ledger(url: str, ledger: Ledger, data_root: Path) -> dict[str, Any]:
    """Every acknowledged write, looked up in the database (and the dataset files on disk)."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            datasets = {
                str(row[0]).replace("-", ""): (row[1], row[2])
                for row in await conn.execute(
                    text("SELECT id, training_status, file_path FROM datasets")
                )
            }
            runs = {
                int(row[0]): (row[1], row[2])
                for row in await conn.execute(
                    text("SELECT id, status, accuracy FROM training_runs")
                )
            }
    finally:
        await db.dispose()
    lost_datasets = [d for d in ledger.datasets if d.replace("-", "") not in datasets]
    wrong_status = [
        d
        for d, status in ledger.datasets.items()
        if d.replace("-", "") in datasets and datasets[d.replace("-", "")][0] != status
    ]
    missing_files = [
        d
        for d in ledger.datasets
        if d.replace("-", "") in datasets
        and not (data_root / datasets[d.replace("-", "")][1]).is_file()
    ]
    lost_runs = [r for r in ledger.runs if r not in runs]
    wrong_runs = [
        r
        for r, accuracy in ledger.runs.items()
        if r in runs and (runs[r][0] != "COMPLETED" or abs(runs[r][1] - accuracy) > 1e-12)
    ]
    return {
        "acknowledged_datasets": len(ledger.datasets),
        "acknowledged_runs": len(ledger.runs),
        "lost_datasets": lost_datasets,
        "datasets_with_another_status": wrong_status,
        "datasets_without_their_file": missing_files,
        "lost_runs": lost_runs,
        "runs_not_as_acknowledged": wrong_runs,
        "ok": not (lost_datasets or wrong_status or missing_files or lost_runs or wrong_runs),
    }


def summarize(samples: list[Sample], seconds: float) -> list[dict[str, Any]]:
    by_operation: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_operation[sample.operation].append(sample)
    rows = []
    for operation in MIX:
        taken = by_operation.get(operation, [])
        times = sorted(s.seconds * 1000 for s in taken)
        errors = [s.error for s in taken if s.error]
        rows.append(
            {
                "operation": operation,
                "requests": len(taken),
                "per_second": round(len(taken) / seconds, 1),
                "p50_ms": round(statistics.median(times), 1) if times else None,
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1)
                if times
                else None,
                "errors": len(errors),
                "first_errors": errors[:3],
            }
        )
    return rows


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trainql-load-") as temp:
        state = Path(temp) / "state"
        url = prepare_database(args.backend, args.pg_server, Path(temp))
        env = settings_env(
            database_url=url, state_dir=state, extra={"TRAINQL_ADMIN_PASSWORD": ADMIN_PASSWORD}
        )
        try:
            with live_server(
                env, log_path=Path(temp) / "serve.log", args=("--workers", str(args.workers))
            ) as server:
                ledger = Ledger()
                token = await seed(server.base_url, ledger)
                clients = [
                    LoadClient(n, server.base_url, token, args.seed, ledger)
                    for n in range(args.clients)
                ]
                started = time.monotonic()
                until = started + args.seconds
                try:
                    await asyncio.gather(*(client.run(until) for client in clients))
                finally:
                    for client in clients:
                        await client.close()
                elapsed = time.monotonic() - started
                log = server.output()
            check = await check_ledger(url, ledger, state / "data")
        finally:
            drop_database(args.backend, args.pg_server)
    samples = [sample for client in clients for sample in client.samples]
    return {
        "rows": summarize(samples, elapsed),
        "check": check,
        "seconds": round(elapsed, 1),
        "server_logged_tracebacks": log.count("Traceback"),
    }


def print_report(result: dict[str, Any]) -> None:
    print(
        f"{'operation':<14} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    for row in result["rows"]:
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.1f}"
        p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.1f}"
        print(
            f"{row['operation']:<14} {row['requests']:>8} {row['per_second']:>7} "
            f"{p50:>8} {p99:>8} {row['errors']:>6}"
        )
        for error in row["first_errors"]:
            print(f"    {error}")
    total = sum(row["requests"] for row in result["rows"])
    errors = sum(row["errors"] for row in result["rows"])
    check = result["check"]
    print(f"{'all':<14} {total:>8} {total / result['seconds']:>7.1f} {'':>8} {'':>8} {errors:>6}")
    print(
        f"acknowledged: {check['acknowledged_datasets']} datasets, {check['acknowledged_runs']} "
        f"runs; lost {len(check['lost_datasets'])} datasets, {len(check['lost_runs'])} runs; "
        f"{len(check['datasets_with_another_status'])} datasets not at their last acknowledged "
        f"status; {len(check['datasets_without_their_file'])} without their file; "
        f"{len(check['runs_not_as_acknowledged'])} runs not as acknowledged"
    )
    print(f"server tracebacks logged: {result['server_logged_tracebacks']}")
    goal = errors == 0 and check["ok"] and result["server_logged_tracebacks"] == 0
    print(f"goal (0 errors, no write lost or changed): {'met' if goal else 'NOT met'}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"PostgreSQL server; the bench creates and drops the database {BENCH_DATABASE!r}",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="JSON result path")
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()
    result = asyncio.run(run_load(args))
    print()
    print_report(result)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"load-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": stamp,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "backend": args.backend,
        "clients": args.clients,
        "seconds": args.seconds,
        "workers": args.workers,
        "seed": args.seed,
        "mix": MIX,
    }
    out.write_text(json.dumps({"meta": meta, **result}, indent=2) + "\n")
    print(f"load average before {load_before}, after {os.getloadavg()}; wrote {out}")


if __name__ == "__main__":
    cli()
