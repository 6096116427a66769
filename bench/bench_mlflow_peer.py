"""trainql against its peer, the MLflow tracking server, on the same runs and the same machine.

    .venv/bin/python -m bench.bench_mlflow_peer        # ~10 min: setup, then 3 rounds
        [--runs 20000] [--rounds 3] [--requests 50] [--load-seconds 20] [--threads 8]
        [--workers 4] [--pg-server postgresql://postgres@127.0.0.1:5432/postgres]

The peer is MLflow 3.x (`mlflow server --workers 4`, its default uvicorn server) on
PostgreSQL, installed on first use in a bench-only venv, `bench/.venv-mlflow` (gitignored;
never a dependency of trainql). trainql is `trainql serve --workers 4` on the same server.
Each gets a database of its own, created here and dropped at the end
(`trainql_bench_peer`, `trainql_bench_peer_mlflow`); no other database is touched.

Both are loaded with the same `--runs` runs (bench/bench_runs.py's rows: one second apart,
five trainers, a quarter FAILED or RUNNING without metrics; in MLflow a run per row with the
same name, user, status, start time, five metrics and the hyperparameters as params), then
`ANALYZE`d (the machine's PostgreSQL runs with autovacuum off). The workload, each with
keep-alive and with fresh connections:

- first page: GraphQL `trainingRuns(first: 20)`, REST `/api/training/runs/?page_size=20`,
  MLflow `runs/search` with `max_results` 20;
- filtered page: status COMPLETED and trainer `trainer1` (REST `?status=COMPLETED&
  trained_by=trainer1`; MLflow `attributes.status = 'FINISHED' AND attributes.user_id =
  'trainer1'`);
- by accuracy: GraphQL `orderBy: {field: ACCURACY, direction: DESC}`, MLflow `order_by
  metrics.accuracy DESC` (REST has no order);
- run by id: GraphQL `trainingRun(id)` with metrics and hyperparameters, REST
  `/api/training/runs/{id}/`, MLflow `runs/get`;
- a 200-page walk: cursors, page numbers, page tokens;
- load: `--threads` clients for `--load-seconds` on the filtered page, each target in turn.

Targets alternate within every round (the order rotates from round to round), so load from
elsewhere on this shared machine falls on all of them alike. Before timing, the bench checks
that every target answers the same runs. Reported: per scenario the median over rounds of
each round's p50 (load: requests/s and p99), the ratios MLflow / trainql (how many times
faster trainql is; for load, trainql's requests/s over MLflow's), the servers' memory (RSS
of every process of each server) after the load, and the load average. JSON goes to
bench/results/mlflow_peer-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_runs import TRAINERS, fill
from bench.databases import admin_url, create_postgres, drop_postgres
from bench.load import Client, Request, concurrent_load, json_request, percentile
from bench.mlflow_env import mlflow_venv, mlflow_version, server_process
from tests.live import free_port, live_server, settings_env
from trainql.db import migrate

RESULTS = Path(__file__).with_name("results")
TRAINQL_DATABASE = "trainql_bench_peer"
MLFLOW_DATABASE = "trainql_bench_peer_mlflow"
PAGE = 20
WALK_PAGES = 200
TRAINER = "trainer1"
EXPERIMENT = "trainql-peer"
# bench_runs.fill's statuses, in MLflow's words.
MLFLOW_STATUS = (
    "CASE WHEN n % 8 = 0 THEN 'FAILED' WHEN n % 8 = 4 THEN 'RUNNING' ELSE 'FINISHED' END"
)
# The metrics bench_runs.fill writes (NULL when n % 4 = 0), by MLflow key.
MLFLOW_METRICS = {
    "accuracy": "(n % 1000) / 1000.0",
    "precision": "(n % 997) / 997.0",
    "recall": "(n % 991) / 991.0",
    "f1_score": "(n % 983) / 983.0",
    "training_duration_seconds": "0.25",
}
MLFLOW_PARAMS = {"n_estimators": "100", "max_depth": "None", "min_samples_split": "2"}
START_MS = "(extract(epoch from timestamptz '2024-01-01') * 1000)::bigint + n * 1000"

SUMMARY = "id modelVersion status accuracy f1Score runDate trainedBy { username }"
GRAPHQL_PAGE = f"""query Page($filter: TrainingRunFilter, $orderBy: TrainingRunOrder,
    $after: String) {{
  trainingRuns(filter: $filter, orderBy: $orderBy, first: {PAGE}, after: $after) {{
    edges {{ cursor node {{ {SUMMARY} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
GRAPHQL_RUN = """query Run($id: ID!) {
  trainingRun(id: $id) {
    id modelVersion status runDate notes
    metrics { accuracy precision recall f1Score trainingDurationSeconds }
    hyperparameters { nEstimators maxDepth minSamplesSplit }
    trainedBy { username }
  }
}"""
GRAPHQL_FILTER = {"status": ["COMPLETED"], "trainedBy": TRAINER}
GRAPHQL_BY_ACCURACY = {"field": "ACCURACY", "direction": "DESC"}
REST_PAGE = f"/api/training/runs/?page_size={PAGE}"
REST_FILTERED = f"{REST_PAGE}&status=COMPLETED&trained_by={TRAINER}"
MLFLOW_FILTER = f"attributes.status = 'FINISHED' AND attributes.user_id = '{TRAINER}'"
MLFLOW_SEARCH = "/api/2.0/mlflow/runs/search"
TARGETS = ("graphql", "rest", "mlflow")


# The peer: a venv, a database, a server ---------------------------------------------------


def mlflow_store_uri(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def load_mlflow(bin_dir: Path, url: str, runs: int, artifacts: Path) -> str:
    """MLflow's schema (its own migrations), then the runs as bulk SQL in MLflow's tables
    (the tracking API would take minutes for 20,000 runs); the experiment id."""
    subprocess.run(
        [str(bin_dir / "mlflow"), "db", "upgrade", mlflow_store_uri(url)],
        check=True,
        capture_output=True,
    )
    run_uuid = "md5('run-' || n)"

    def modulo(sql: str) -> str:  # `n % 8` in SQL, next to psycopg's %(name)s parameters
        return sql.replace(" % ", " %% ")

    with psycopg.connect(admin_url(url), autocommit=False) as conn:
        experiment_id = conn.execute(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time,"
            " last_update_time) VALUES (%s, %s, 'active', 0, 0) RETURNING experiment_id",
            (EXPERIMENT, artifacts.as_uri()),
        ).fetchone()[0]  # type: ignore[index]
        series = "FROM generate_series(1, %(runs)s) AS n"
        conn.execute(
            modulo(f"""INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,
                user_id, status, start_time, end_time, source_version, lifecycle_stage,
                artifact_uri, experiment_id)
            SELECT {run_uuid}, 'bench-' || n, 'LOCAL', 'trainql', '', 'trainer' || n % {TRAINERS},
                {MLFLOW_STATUS}, {START_MS},
                CASE WHEN n % 8 = 4 THEN NULL ELSE {START_MS} + 250 END, '', 'active',
                %(artifacts)s || '/' || {run_uuid}, %(experiment)s
            {series}"""),
            {"runs": runs, "artifacts": artifacts.as_uri(), "experiment": experiment_id},
        )
        for key, value in MLFLOW_METRICS.items():
            for table in ("metrics", "latest_metrics"):
                conn.execute(
                    modulo(f"""INSERT INTO {table} (key, value, timestamp, step, is_nan, run_uuid)
                    SELECT %(key)s, {value}, {START_MS} + 250, 0, false, {run_uuid}
                    {series} WHERE n % 4 <> 0"""),
                    {"runs": runs, "key": key},
                )
        params = {**MLFLOW_PARAMS, "test_split": "0.2"}
        for key, value in params.items():
            conn.execute(
                f"INSERT INTO params (key, value, run_uuid) SELECT %(key)s, %(value)s,"
                f" {run_uuid} {series}",
                {"runs": runs, "key": key, "value": value},
            )
        for key, value in {
            "mlflow.runName": "'bench-' || n",
            "mlflow.user": f"'trainer' || n % {TRAINERS}",
            "mlflow.source.type": "'LOCAL'",
        }.items():
            conn.execute(
                modulo(
                    f"INSERT INTO tags (key, value, run_uuid) SELECT %(key)s, {value},"
                    f" {run_uuid} {series}"
                ),
                {"runs": runs, "key": key},
            )
        conn.commit()
    return str(experiment_id)


def analyze(url: str) -> None:
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute("ANALYZE")


@contextmanager
def mlflow_server(
    bin_dir: Path, url: str, artifacts: Path, workers: int, log_path: Path
) -> Iterator[tuple[str, int]]:
    """`mlflow server` on a free loopback port until the block ends; its base URL and pid."""
    port = free_port()
    command = [
        str(bin_dir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--backend-store-uri", mlflow_store_uri(url),
        "--default-artifact-root", artifacts.as_uri(),
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with server_process(command, f"{base}/health", log_path, what="mlflow server") as process:
        yield base, process.pid


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants (/proc children lists), in MB."""
    total_kb, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)


# The workload -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: dict[str, Request]  # by target
    # How a target's answer names its runs, to check all targets answer the same.
    same: Callable[[str, Any], list[Any]] | None = None


def _graphql(query: str, variables: dict[str, Any], headers: dict[str, str]) -> Request:
    def check(body: Any) -> None:
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")

    return json_request(
        "POST", "/graphql", {"query": query, "variables": variables}, headers, check
    )


def _mlflow_search(experiment: str, **extra: Any) -> Request:
    return json_request(
        "POST", MLFLOW_SEARCH, {"experiment_ids": [experiment], "max_results": PAGE, **extra}
    )


def page_names(target: str, body: Any) -> list[str]:
    if target == "graphql":
        return [e["node"]["modelVersion"] for e in body["data"]["trainingRuns"]["edges"]]
    if target == "rest":
        return [r["model_version"] for r in body["results"]]
    return [r["info"]["run_name"] for r in body["runs"]]


def page_accuracies(target: str, body: Any) -> list[float]:
    if target == "graphql":
        return [e["node"]["accuracy"] for e in body["data"]["trainingRuns"]["edges"]]
    return [
        next(m["value"] for m in r["data"]["metrics"] if m["key"] == "accuracy")
        for r in body["runs"]
    ]


def run_name(target: str, body: Any) -> list[str]:
    if target == "graphql":
        return [body["data"]["trainingRun"]["modelVersion"]]
    if target == "rest":
        return [body["model_version"]]
    return [body["run"]["info"]["run_name"]]


def scenarios(
    headers: dict[str, str], experiment: str, run_id: int, run_uuid: str
) -> list[Scenario]:
    return [
        Scenario(
            "first page",
            {
                "graphql": _graphql(GRAPHQL_PAGE, {}, headers),
                "rest": json_request("GET", REST_PAGE, None, headers),
                "mlflow": _mlflow_search(experiment),
            },
            page_names,
        ),
        Scenario(
            "filtered page",
            {
                "graphql": _graphql(GRAPHQL_PAGE, {"filter": GRAPHQL_FILTER}, headers),
                "rest": json_request("GET", REST_FILTERED, None, headers),
                "mlflow": _mlflow_search(experiment, filter=MLFLOW_FILTER),
            },
            page_names,
        ),
        Scenario(
            "by accuracy",
            {
                "graphql": _graphql(GRAPHQL_PAGE, {"orderBy": GRAPHQL_BY_ACCURACY}, headers),
                "mlflow": _mlflow_search(experiment, order_by=["metrics.accuracy DESC"]),
            },
            page_accuracies,
        ),
        Scenario(
            "run by id",
            {
                "graphql": _graphql(GRAPHQL_RUN, {"id": str(run_id)}, headers),
                "rest": json_request("GET", f"/api/training/runs/{run_id}/", None, headers),
                "mlflow": json_request("GET", f"/api/2.0/mlflow/runs/get?run_id={run_uuid}"),
            },
            run_name,
        ),
    ]


def walk(client: Client, target: str, headers: dict[str, str], experiment: str) -> float:
    """Seconds to read WALK_PAGES pages one after the other, each from the previous one's
    cursor, page number or page token."""
    started = time.perf_counter()
    cursor: str | None = None
    for page in range(1, WALK_PAGES + 1):
        if target == "graphql":
            body = client.json(_graphql(GRAPHQL_PAGE, {"after": cursor}, headers))
            cursor = body["data"]["trainingRuns"]["pageInfo"]["endCursor"]
        elif target == "rest":
            client.json(json_request("GET", f"{REST_PAGE}&page={page}", None, headers))
        else:
            extra = {"page_token": cursor} if cursor else {}
            body = client.json(_mlflow_search(experiment, **extra))
            cursor = body["next_page_token"]
    return time.perf_counter() - started


@dataclass
class Row:
    scenario: str
    connection: str  # keep-alive or fresh
    target: str
    rounds: list[dict[str, float]]

    def median(self, key: str) -> float:
        return round(statistics.median(r[key] for r in self.rounds), 2)


def measure(
    bases: dict[str, str],
    cases: list[Scenario],
    headers: dict[str, str],
    experiment: str,
    args: argparse.Namespace,
) -> list[Row]:
    rows: dict[tuple[str, str, str], Row] = {}

    def record(scenario: str, connection: str, target: str, values: dict[str, float]) -> None:
        key = (scenario, connection, target)
        rows.setdefault(key, Row(scenario, connection, target, [])).rounds.append(values)

    for round_index in range(args.rounds):
        order = TARGETS[round_index % 3 :] + TARGETS[: round_index % 3]
        print(f"round {round_index + 1}/{args.rounds} (order {', '.join(order)})", flush=True)
        for connection in ("keep-alive", "fresh"):
            fresh = connection == "fresh"
            for case in cases:
                for target in order:
                    if target not in case.requests:
                        continue
                    client = Client(bases[target], fresh=fresh)
                    request = case.requests[target]
                    client.timed(request)
                    samples = [client.timed(request) * 1000 for _ in range(args.requests)]
                    client.close()
                    record(
                        case.name,
                        connection,
                        target,
                        {
                            "p50_ms": statistics.median(samples),
                            "p99_ms": percentile(samples, 0.99),
                        },
                    )
            for target in order:
                client = Client(bases[target], fresh=fresh)
                seconds = walk(client, target, headers, experiment)
                client.close()
                record(f"{WALK_PAGES}-page walk", connection, target, {"seconds": seconds})
            filtered = cases[1]
            for target in order:
                load = concurrent_load(
                    bases[target],
                    filtered.requests[target],
                    threads=args.threads,
                    seconds=args.load_seconds,
                    fresh=fresh,
                )
                print(
                    f"  load {connection:<10} {target:<8} {load.requests_per_s:>7.1f} req/s"
                    f"  p50 {load.p50_ms:>7.1f} ms  p99 {load.p99_ms:>7.1f} ms"
                    f"  errors {load.errors}  client {load.client_cores:.2f} cores",
                    flush=True,
                )
                record(
                    f"load {args.threads}x{args.load_seconds:g}s",
                    connection,
                    target,
                    {
                        "requests_per_s": load.requests_per_s,
                        "p50_ms": load.p50_ms,
                        "p99_ms": load.p99_ms,
                        "errors": load.errors,
                        "client_cores": load.client_cores,
                    },
                )
    return list(rows.values())


def check_same_answers(bases: dict[str, str], cases: list[Scenario]) -> None:
    """Every target answers each scenario with the same runs (names, or accuracies for the
    metric order, whose ties each server breaks its own way)."""
    for case in cases:
        seen = {}
        for target, request in case.requests.items():
            client = Client(bases[target], fresh=True)
            seen[target] = case.same(target, client.json(request)) if case.same else None
        values = list(seen.values())
        if any(v != values[0] for v in values) or not values[0]:
            raise AssertionError(f"{case.name}: the targets disagree: {seen}")


def warm_up(bases: dict[str, str], cases: list[Scenario], requests: int) -> None:
    """Each request of each scenario `requests` times on every target, on fresh connections
    (so every worker process of each server gets some), before anything is timed."""
    for case in cases:
        for target, request in case.requests.items():
            client = Client(bases[target], fresh=True)
            for _ in range(requests):
                client.timed(request)


# Report -------------------------------------------------------------------------------------


def ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """MLflow's median over trainql's (p50, walk seconds), or trainql's requests/s over
    MLflow's: how many times better trainql is."""
    by = {(r.scenario, r.connection, r.target): r for r in rows}
    out = []
    for (scenario, connection, target), row in by.items():
        if target == "mlflow" or (scenario, connection, "mlflow") not in by:
            continue
        peer = by[(scenario, connection, "mlflow")]
        if "requests_per_s" in row.rounds[0]:
            ratio = row.median("requests_per_s") / peer.median("requests_per_s")
            p99 = row.median("p99_ms")
        else:
            key = "seconds" if "seconds" in row.rounds[0] else "p50_ms"
            ratio = peer.median(key) / row.median(key)
            p99 = None
        out.append(
            {
                "scenario": scenario,
                "connection": connection,
                "target": target,
                "times_mlflow": round(ratio, 2),
                "p99_ms": p99,
            }
        )
    return out


def print_report(rows: list[Row], verdicts: list[dict[str, Any]], memory: dict[str, float]) -> None:
    print(f"\n{'scenario':<18}{'connection':<12}{'target':<9}{'median':>12}{'rounds':>40}")
    for r in rows:
        key = next(k for k in ("requests_per_s", "seconds", "p50_ms") if k in r.rounds[0])
        unit = {"requests_per_s": "req/s", "seconds": "s", "p50_ms": "ms p50"}[key]
        each = " ".join(f"{x[key]:.2f}" for x in r.rounds)
        extra = ""
        if key == "requests_per_s":
            errors = sum(int(x.get("errors", 0)) for x in r.rounds)
            extra = f"  p99 {r.median('p99_ms'):.1f} ms, {errors} errors"
        print(
            f"{r.scenario:<18}{r.connection:<12}{r.target:<9}{r.median(key):>8.2f} {unit:<6}"
            f"{each:>34}{extra}"
        )
    print("\ntrainql over MLflow (x times better; load: requests/s ratio)")
    for v in verdicts:
        p99 = f"  p99 {v['p99_ms']:.1f} ms" if v["p99_ms"] is not None else ""
        print(
            f"  {v['scenario']:<18}{v['connection']:<12}{v['target']:<9}"
            f"{v['times_mlflow']:>7.2f}x{p99}"
        )
    print("\nmemory after the load, RSS of each server's processes (MB):")
    for name, mb in memory.items():
        print(f"  {name:<8}{mb:>8.1f}")


# Main ---------------------------------------------------------------------------------------


async def _fill(url: str, runs: int) -> str:
    return await fill(url, runs)


def main(args: argparse.Namespace) -> None:
    bin_dir = mlflow_venv()
    version = mlflow_version(bin_dir)
    state = Path(tempfile.mkdtemp(prefix="trainql-peer-"))
    artifacts = state / "mlflow-artifacts"
    artifacts.mkdir()
    load_before = os.getloadavg()
    started = time.perf_counter()
    trainql_url = create_postgres(args.pg_server, TRAINQL_DATABASE)
    mlflow_url = create_postgres(args.pg_server, MLFLOW_DATABASE)
    try:
        migrate.upgrade(trainql_url)
        token = asyncio.run(_fill(trainql_url, args.runs))
        experiment = load_mlflow(bin_dir, mlflow_url, args.runs, artifacts)
        analyze(trainql_url)
        analyze(mlflow_url)
        with psycopg.connect(admin_url(trainql_url)) as conn:
            found = conn.execute(
                "SELECT id FROM training_runs WHERE model_version = 'bench-1'"
            ).fetchone()
        with psycopg.connect(admin_url(mlflow_url)) as conn:
            uuid_found = conn.execute("SELECT run_uuid FROM runs WHERE name = 'bench-1'").fetchone()
        assert found is not None and uuid_found is not None
        headers = {"Authorization": f"Token {token}"}
        cases = scenarios(headers, experiment, int(found[0]), str(uuid_found[0]))
        env = settings_env(
            database_url=trainql_url, state_dir=state, extra={"TRAINQL_LOG_LEVEL": "INFO"}
        )
        workers = ("--workers", str(args.workers))
        with (
            live_server(env, log_path=state / "trainql.log", args=workers) as trainql,
            mlflow_server(bin_dir, mlflow_url, artifacts, args.workers, state / "mlflow.log") as (
                mlflow_base,
                mlflow_pid,
            ),
        ):
            bases = {"graphql": trainql.base_url, "rest": trainql.base_url, "mlflow": mlflow_base}
            check_same_answers(bases, cases)
            warm_up(bases, cases, args.warmup)
            rows = measure(bases, cases, headers, experiment, args)
            memory = {
                "trainql": tree_rss_mb(trainql.process.pid),
                "mlflow": tree_rss_mb(mlflow_pid),
            }
    finally:
        drop_postgres(args.pg_server, TRAINQL_DATABASE)
        drop_postgres(args.pg_server, MLFLOW_DATABASE)
    verdicts = ratios(rows)
    print_report(rows, verdicts, memory)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"mlflow_peer-{stamp}.json"
    meta = {
        "when": stamp,
        "seconds": round(time.perf_counter() - started, 1),
        "mlflow": version,
        "runs": args.runs,
        "rounds": args.rounds,
        "requests": args.requests,
        "warmup": args.warmup,
        "threads": args.threads,
        "load_seconds": args.load_seconds,
        "workers": args.workers,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
    }
    out.write_text(
        json.dumps(
            {
                "meta": meta,
                "rows": [asdict(r) for r in rows],
                "ratios": verdicts,
                "memory_mb": memory,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nMLflow {version}; {meta['seconds']} s; load average before {load_before}, after ")
    print(f"{os.getloadavg()}; wrote {out}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per row")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per row")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="worker processes, each server")
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"PostgreSQL server; the bench creates and drops {TRAINQL_DATABASE!r} and "
        f"{MLFLOW_DATABASE!r} there",
    )
    args = parser.parse_args(argv)
    if args.runs < (WALK_PAGES + 1) * PAGE:
        parser.error(f"--runs must be at least {(WALK_PAGES + 1) * PAGE} for the walk")
    return args


if __name__ == "__main__":
    main(parse_args())
