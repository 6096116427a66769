"""Benchmark of the training run lists: GraphQL cursor pages against REST page numbers.

    python -m bench.bench_runs --backend postgresql --runs 1000000
    python -m bench.bench_runs --backend sqlite --runs 100000

Bulk-inserts the runs into a dedicated database (PostgreSQL: `trainql_bench_runs` on the
server, created and dropped here; SQLite: a file under a temporary directory), then sends
requests in-process (httpx over ASGI, one at a time) to the app and reports p50/p99 of the
first page and of a page 50,000 rows deep, by cursor (GraphQL) and by page number (REST),
with and without a filter. Prints a table and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from trainql.app import create_app
from trainql.config import Settings
from trainql.db import migrate
from trainql.db import training_runs as run_store
from trainql.db.engine import Database
from trainql.db.pagination import Position
from trainql.domain import Role, TrainingRunFilter, TrainingRunOrder, TrainingRunStatus
from trainql.resolvers.auth import issue_token
from trainql.resolvers.training_runs import CURSOR_CODECS
from trainql.resolvers.users import create_user

RESULTS = Path(__file__).with_name("results")
BENCH_DATABASE = "trainql_bench_runs"
PAGE = 20
DEPTH = 50_000
TRAINERS = 5

# Runs one second apart; a quarter FAILED or RUNNING (no metrics), the rest COMPLETED. Every
# row carries details of a real run's size (three classes, eleven features), so reading a
# page decodes what a real list would.
_CLASSES = ("HIGH", "LOW", "MEDIUM")
_FEATURES = (
    "job_role_name", "skill_name", "skill_category", "job_department", "trend_score",
    "internal_usage", "training_requests", "scarcity_index", "hiring_difficulty",
    "avg_salary_k", "economic_indicator",
)  # fmt: skip
_DETAILS = {
    "hyperparameters": {"n_estimators": 100, "max_depth": None, "min_samples_split": 2},
    "per_class_metrics": {
        c: {"accuracy": 0.9, "precision": 0.91, "recall": 0.9, "f1_score": 0.9, "support": 24000}
        for c in _CLASSES
    },
    "features_used": list(_FEATURES),
    "feature_importances": {f: round(1 / len(_FEATURES), 6) for f in _FEATURES},
    "confusion_matrix": {
        "labels": list(_CLASSES),
        "matrix": [[21600, 1200, 1200], [1200, 21600, 1200], [1200, 1200, 21600]],
    },
}
_DETAIL_VALUES = ", ".join(
    "'" + json.dumps(value) + "'"
    for value in (
        _DETAILS["hyperparameters"],
        _DETAILS["per_class_metrics"],
        _DETAILS["features_used"],
        _DETAILS["feature_importances"],
        _DETAILS["confusion_matrix"],
    )
)
_COLUMNS = (
    "run_date, model_version, dataset_path, status, accuracy, precision, recall, f1_score,"
    " training_duration_seconds, test_split, n_estimators, hyperparameters, per_class_metrics,"
    " features_used, feature_importances, confusion_matrix, trained_by_id, updated_at,"
    " lease_expires_at"
)
_STATUS = "CASE WHEN n % 8 = 0 THEN 'FAILED' WHEN n % 8 = 4 THEN 'RUNNING' ELSE 'COMPLETED' END"
# A RUNNING run holds a lease that outlives the bench: without one, the served instance's
# reconciler takes it for a run whose worker was lost and retries it, training (and failing)
# thousands of runs in the background of every measurement.
_LEASE = "CASE WHEN n % 8 = 4 THEN {far} END"
_METRIC = "CASE WHEN n % 4 = 0 THEN NULL ELSE ({expr}) END"
FILL_POSTGRES = f"""
INSERT INTO training_runs ({_COLUMNS})
SELECT timestamptz '2024-01-01' + n * interval '1 second', 'bench-' || n, 'd.csv', {_STATUS},
    {_METRIC.format(expr="(n % 1000) / 1000.0")}, {_METRIC.format(expr="(n % 997) / 997.0")},
    {_METRIC.format(expr="(n % 991) / 991.0")}, {_METRIC.format(expr="(n % 983) / 983.0")},
    0.25, 0.2, 100, {_DETAIL_VALUES},
    :first_user + n % {TRAINERS}, now(), {_LEASE.format(far="now() + interval '100 years'")}
FROM generate_series(1, :runs) AS n
"""
FILL_SQLITE = f"""
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :runs)
INSERT INTO training_runs ({_COLUMNS})
SELECT strftime('%Y-%m-%d %H:%M:%f000', '2024-01-01', '+' || n || ' seconds'), 'bench-' || n,
    'd.csv', {_STATUS},
    {_METRIC.format(expr="(n % 1000) / 1000.0")}, {_METRIC.format(expr="(n % 997) / 997.0")},
    {_METRIC.format(expr="(n % 991) / 991.0")}, {_METRIC.format(expr="(n % 983) / 983.0")},
    0.25, 0.2, 100, {_DETAIL_VALUES},
    :first_user + n % {TRAINERS}, '2024-01-01 00:00:00.000000',
    {_LEASE.format(far="'2124-01-01 00:00:00.000000'")}
FROM s
"""

GRAPHQL_PAGE = """
query Runs($filter: TrainingRunFilter, $after: String) {
  trainingRuns(filter: $filter, first: 20, after: $after) {
    nodes { id runDate modelVersion status accuracy precision recall f1Score
            trainingDurationSeconds trainedBy { username } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@dataclass
class Result:
    scenario: str
    transport: str
    depth: int
    filtered: bool
    requests: int
    p50_ms: float
    p99_ms: float
    mean_ms: float


def _admin_url(server: str) -> str:
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare_postgres(server: str) -> str:
    """A fresh, migrated bench database on `server`; its URL."""
    with psycopg.connect(_admin_url(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    url = make_url(server).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def drop_postgres(server: str) -> None:
    with psycopg.connect(_admin_url(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


async def fill(url: str, runs: int) -> str:
    """Insert the trainers, a MANAGER reader and `runs` runs; the reader's token."""
    db = Database(url)
    try:
        reader = await create_user(
            db=db, username="reader", password="bench-password", roles=frozenset({Role.MANAGER})
        )
        trainers = [
            await create_user(
                db=db, username=f"trainer{i}", password="bench-password", roles=frozenset()
            )
            for i in range(TRAINERS)
        ]
        token = await issue_token(db, reader)
        started = time.perf_counter()
        postgres = db.dialect == "postgresql"
        async with db.engine.begin() as conn:
            await conn.execute(
                text(FILL_POSTGRES if postgres else FILL_SQLITE),
                {"runs": runs, "first_user": min(t.id for t in trainers)},
            )
        async with db.engine.connect() as conn:
            if postgres:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("VACUUM ANALYZE training_runs"))
                # Write the bulk insert's dirty pages out now, not while requests are timed.
                await auto.execute(text("CHECKPOINT"))
            else:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
        print(f"inserted {runs:,} runs in {time.perf_counter() - started:.1f}s")
        return token
    finally:
        await db.dispose()


async def deep_cursor(url: str, run_filter: TrainingRunFilter, depth: int) -> str:
    """The cursor the service issues for the run `depth` rows into the default order (taken
    from the row at that offset, so the bench need not walk 2,500 pages to get it)."""
    db = Database(url)
    try:
        async with db.read() as conn:
            _, (run,) = await run_store.numbered_page(
                conn, run_filter, TrainingRunOrder(), offset=depth - 1, limit=1
            )
    finally:
        await db.dispose()
    codec = CURSOR_CODECS[TrainingRunOrder().field]
    return codec.encode(Position(key=run.run_date, id=run.id))


async def measure(
    calls: dict[str, Callable[[], Awaitable[httpx.Response]]], requests: int, warmup: int
) -> dict[str, list[float]]:
    """Timings of each call, in ms; the calls alternate so that load from elsewhere on the
    machine falls on all of them alike."""
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warmup + requests):
        for name, call in calls.items():
            started = time.perf_counter()
            response = await call()
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if i >= warmup:
                timings[name].append(elapsed)
    return timings


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_scenarios(url: str, token: str, requests: int, warmup: int) -> list[Result]:
    settings = Settings(database_url=url, state_dir=Path(tempfile.mkdtemp(prefix="bench-")))
    app = create_app(settings)
    headers = {"Authorization": f"Token {token}"}
    completed = TrainingRunFilter(statuses=frozenset({TrainingRunStatus.COMPLETED}))
    cursors = {
        False: await deep_cursor(url, TrainingRunFilter(), DEPTH),
        True: await deep_cursor(url, completed, DEPTH),
    }
    results: list[Result] = []
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for filtered in (False, True):
                gql_filter = {"status": ["COMPLETED"]} if filtered else None
                rest_filter = {"status": "COMPLETED"} if filtered else {}
                for depth in (0, DEPTH):
                    variables = {
                        "filter": gql_filter,
                        "after": cursors[filtered] if depth else None,
                    }
                    params = {**rest_filter, "page_size": str(PAGE)}
                    if depth:
                        params["page"] = str(depth // PAGE + 1)
                    calls: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                        "graphql": lambda v=variables: client.post(  # type: ignore[misc]
                            "/graphql",
                            json={"query": GRAPHQL_PAGE, "variables": v},
                            headers=headers,
                        ),
                        "rest": lambda p=params: client.get(  # type: ignore[misc]
                            "/api/training/runs/", params=p, headers=headers
                        ),
                    }
                    pages = {}
                    for transport_name, call in calls.items():
                        body = (await call()).json()
                        pages[transport_name] = (
                            [int(n["id"]) for n in body["data"]["trainingRuns"]["nodes"]]
                            if transport_name == "graphql"
                            else [r["id"] for r in body["results"]]
                        )
                    measured = await measure(calls, requests, warmup)
                    for transport_name, timings in measured.items():
                        results.append(
                            Result(
                                scenario=f"{'filtered' if filtered else 'all'}@{depth}",
                                transport=transport_name,
                                depth=depth,
                                filtered=filtered,
                                requests=requests,
                                p50_ms=round(statistics.median(timings), 3),
                                p99_ms=round(_percentile(timings, 0.99), 3),
                                mean_ms=round(statistics.fmean(timings), 3),
                            )
                        )
                    # The same 20 runs by both transports (a deep cursor page starts after
                    # row `depth`, the REST page at offset `depth`).
                    assert pages["graphql"] == pages["rest"], (filtered, depth)
    return results


def report(backend: str, runs: int, results: list[Result]) -> dict[str, Any]:
    print(f"\n{backend}, {runs:,} runs, {results[0].requests} requests per row (in-process)")
    print(f"{'scenario':<18}{'transport':<10}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for r in results:
        print(
            f"{r.scenario:<18}{r.transport:<10}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.mean_ms:>10.2f}"
        )
    by = {(r.transport, r.filtered, r.depth): r for r in results}
    ratios: dict[str, float] = {}
    for filtered in (False, True):
        tag = "filtered" if filtered else "all"
        first, deep = by["graphql", filtered, 0], by["graphql", filtered, DEPTH]
        ratios[f"graphql_deep_over_first_{tag}"] = round(deep.p50_ms / first.p50_ms, 2)
        for depth in (0, DEPTH):
            gql, rest = by["graphql", filtered, depth], by["rest", filtered, depth]
            ratios[f"graphql_over_rest_{tag}@{depth}"] = round(gql.p50_ms / rest.p50_ms, 2)
        ratios[f"rest_deep_over_first_{tag}"] = round(
            by["rest", filtered, DEPTH].p50_ms / by["rest", filtered, 0].p50_ms, 2
        )
    print("\np50 ratios:")
    for name, value in ratios.items():
        print(f"  {name:<40}{value:>6.2f}")
    return {
        "backend": backend,
        "runs": runs,
        "page_size": PAGE,
        "depth": DEPTH,
        "measured_at": datetime.now(UTC).isoformat(),
        "results": [asdict(r) for r in results],
        "p50_ratios": ratios,
    }


async def main(args: argparse.Namespace) -> None:
    if args.backend == "postgresql":
        url = prepare_postgres(args.pg_server)
    else:
        directory = Path(tempfile.mkdtemp(prefix="trainql-bench-"))
        url = f"sqlite:///{directory / 'bench.db'}"
        migrate.upgrade(url)
    try:
        token = await fill(url, args.runs)
        results = await run_scenarios(url, token, args.requests, args.warmup)
    finally:
        if args.backend == "postgresql" and not args.keep:
            drop_postgres(args.pg_server)
    summary = report(args.backend, args.runs, results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"runs-{args.backend}-{args.runs}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {out}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="sqlite")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per row")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"server URL; the bench creates and drops the database {BENCH_DATABASE!r} there",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL bench database")
    args = parser.parse_args()
    if args.runs < DEPTH + 100:
        parser.error(f"--runs must be at least {DEPTH + 100} for the deep page")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
