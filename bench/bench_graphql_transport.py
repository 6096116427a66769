"""Time per GraphQL operation: plain POST, APQ hash-only GET, one batch of 10, against REST.

    .venv/bin/python -m bench.bench_graphql_transport [--iterations 200] [--mode inprocess live]
        [--document me run] [--database-url postgresql://...] [--workers 1]

For each document (a name below, or `@path/to/file.graphql` with `--variables` JSON) the
same operation is sent as
- `post`: one JSON POST per operation;
- `apq-get`: one GET carrying only the persisted query's hash (registered beforehand);
- `batch10`: one POST carrying 10 copies; the time is divided by 10;
- `rest`: for `run` only, `GET /api/training/runs/{id}/` for the same run.
Modes: `inprocess` (httpx over ASGI, no sockets), `live` (a real `trainql serve` under uvicorn,
one keep-alive connection) and `live-fresh` (a new TCP connection per request). Prints a table
and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from tests.live import live_server, settings_env
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import migrate
from trainql.db import training_runs as run_store
from trainql.db.engine import Database
from trainql.domain import Role
from trainql.resolvers.auth import issue_token
from trainql.resolvers.users import create_user
from trainql.schema.persisted_queries import query_hash

RESULTS = Path(__file__).with_name("results")
BATCH = 10

DOCUMENTS: dict[str, str] = {
    "me": "query Me { me { username } }",
    "run": """query Run($id: ID!) {
  trainingRun(id: $id) {
    id modelVersion status runDate
    metrics { accuracy precision recall f1Score trainingDurationSeconds }
    trainedBy { username }
  }
}""",
}

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def seed(database_url: str) -> tuple[str, int]:
    """A MANAGER's token and one COMPLETED run to read."""
    migrate.upgrade(database_url)
    db = Database(database_url)
    try:
        stamp = f"{time.time_ns():x}"
        user = await create_user(
            db=db,
            username=f"bench-{stamp}",
            password="bench-password-1",
            roles=frozenset({Role.MANAGER}),
        )
        token = await issue_token(db, user)
        async with db.session() as session:
            run = await run_store.insert_training_run(
                session,
                run_date=datetime.now(UTC),
                model_version=f"bench-{stamp}",
                model_path=f"models/bench-{stamp}.joblib",
                dataset_path="ml/data/future_skills_dataset.csv",
                status="COMPLETED",
                accuracy=0.9,
                precision=0.91,
                recall=0.9,
                f1_score=0.905,
                training_duration_seconds=0.25,
                total_samples=357,
                train_samples=285,
                test_samples=72,
                test_split=0.2,
                n_estimators=100,
                hyperparameters={"n_estimators": 100, "max_depth": None, "min_samples_split": 2},
                per_class_metrics={},
                features_used=["trend_score"],
                feature_importances={"trend_score": 1.0},
                trained_by_id=user.id,
            )
        return token, run.id
    finally:
        await db.dispose()


def variants(document: str, variables: dict[str, Any], run_id: int | None) -> dict[str, Send]:
    """The requests to time for one document; the per-request operation count is in OPS."""
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": query_hash(document)}}
    get_params = {"extensions": json.dumps(extensions), "variables": json.dumps(variables)}
    single = {"query": document, "variables": variables}
    sends: dict[str, Send] = {
        "post": lambda http: http.post("/graphql", json=single),
        "apq-get": lambda http: http.get("/graphql", params=get_params),
        "batch10": lambda http: http.post("/graphql", json=[single] * BATCH),
    }
    if run_id is not None:
        sends["rest"] = lambda http: http.get(f"/api/training/runs/{run_id}/")
    return sends


OPS = {"post": 1, "apq-get": 1, "batch10": BATCH, "rest": 1}


def check(name: str, response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    for answer in body if isinstance(body, list) else [body]:
        if isinstance(answer, dict) and answer.get("errors"):
            raise RuntimeError(f"{name}: {answer['errors']}")


async def register(http: httpx.AsyncClient, document: str, variables: dict[str, Any]) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": query_hash(document)}}
    response = await http.post(
        "/graphql", json={"query": document, "variables": variables, "extensions": extensions}
    )
    check("register", response)


async def timed(
    send: Send,
    http: httpx.AsyncClient,
    fresh: Callable[[], AsyncIterator[httpx.AsyncClient]] | None,
) -> tuple[float, httpx.Response]:
    """Seconds one request takes; with `fresh`, on a new client (a new TCP connection)."""
    if fresh is None:
        start = time.perf_counter()
        response = await send(http)
        return time.perf_counter() - start, response
    async with asynccontextmanager(fresh)() as client:
        start = time.perf_counter()
        response = await send(client)
        return time.perf_counter() - start, response


def summarize(samples: list[float], ops: int) -> dict[str, float]:
    per_op = [s / ops * 1000 for s in samples]
    ordered = sorted(per_op)
    return {
        "mean_ms_per_op": statistics.fmean(per_op),
        "p50_ms_per_op": statistics.median(per_op),
        "p95_ms_per_op": ordered[int(0.95 * (len(ordered) - 1))],
        "ops_per_s": 1000 / statistics.fmean(per_op),
    }


async def run_mode(
    mode: str,
    base: httpx.AsyncClient,
    *,
    fresh: Callable[[], AsyncIterator[httpx.AsyncClient]] | None,
    documents: dict[str, tuple[str, dict[str, Any]]],
    run_id: int,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for doc_name, (document, variables) in documents.items():
        await register(base, document, variables)
        rest_run = run_id if doc_name == "run" else None
        sends = variants(document, variables, rest_run)
        samples: dict[str, list[float]] = {variant: [] for variant in sends}
        # Round robin: every variant sees the same moments of machine load.
        for i in range(args.warmup + args.iterations):
            for variant, send in sends.items():
                elapsed, response = await timed(send, base, fresh)
                if i == 0:
                    check(f"{mode}/{doc_name}/{variant}", response)
                if i >= args.warmup:
                    samples[variant].append(elapsed)
        for variant, seconds in samples.items():
            rows.append(
                {
                    "mode": mode,
                    "document": doc_name,
                    "variant": variant,
                    "requests": len(seconds),
                    **summarize(seconds, OPS[variant]),
                }
            )
    return rows


def documents_from(args: argparse.Namespace, run_id: int) -> dict[str, tuple[str, dict[str, Any]]]:
    chosen: dict[str, tuple[str, dict[str, Any]]] = {}
    extra = json.loads(args.variables) if args.variables else {}
    for name in args.document:
        if name.startswith("@"):
            chosen[Path(name[1:]).stem] = (Path(name[1:]).read_text(), extra)
        elif name == "run":
            chosen[name] = (DOCUMENTS[name], {"id": str(run_id)})
        else:
            chosen[name] = (DOCUMENTS[name], extra)
    return chosen


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    state = Path(tempfile.mkdtemp(prefix="trainql-bench-"))
    database_url = args.database_url or f"sqlite:///{state / 'trainql.db'}"
    token, run_id = await seed(database_url)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    documents = documents_from(args, run_id)
    rows: list[dict[str, Any]] = []

    if "inprocess" in args.mode:
        settings = Settings(state_dir=state, database_url=database_url, log_level="WARNING")
        app = create_app(settings)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=headers
            ) as http:
                rows += await run_mode(
                    "inprocess", http, fresh=None, documents=documents, run_id=run_id, args=args
                )

    live_modes = [m for m in args.mode if m.startswith("live")]
    if live_modes:
        env = settings_env(
            database_url=database_url, state_dir=state, extra={"TRAINQL_LOG_LEVEL": "WARNING"}
        )
        workers = ("--workers", str(args.workers))
        with live_server(env, log_path=state / "serve.log", args=workers) as server:

            async def fresh_client() -> AsyncIterator[httpx.AsyncClient]:
                async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as c:
                    yield c

            async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
                if "live" in live_modes:
                    rows += await run_mode(
                        "live", http, fresh=None, documents=documents, run_id=run_id, args=args
                    )
                if "live-fresh" in live_modes:
                    rows += await run_mode(
                        "live-fresh",
                        http,
                        fresh=fresh_client,
                        documents=documents,
                        run_id=run_id,
                        args=args,
                    )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'mode':<11}{'document':<10}{'variant':<9}{'ms/op mean':>11}{'p50':>8}{'p95':>8}"
    header += f"{'ops/s':>9}{'vs post':>9}"
    print(header)
    print("-" * len(header))
    posts = {
        (r["mode"], r["document"]): r["mean_ms_per_op"] for r in rows if r["variant"] == "post"
    }
    for r in rows:
        ratio = r["mean_ms_per_op"] / posts[(r["mode"], r["document"])]
        print(
            f"{r['mode']:<11}{r['document']:<10}{r['variant']:<9}{r['mean_ms_per_op']:>11.3f}"
            f"{r['p50_ms_per_op']:>8.3f}{r['p95_ms_per_op']:>8.3f}{r['ops_per_s']:>9.0f}"
            f"{ratio:>8.2f}x"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed requests per row")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--mode",
        nargs="+",
        default=["inprocess", "live", "live-fresh"],
        choices=["inprocess", "live", "live-fresh"],
    )
    parser.add_argument(
        "--document",
        nargs="+",
        default=["me", "run"],
        help=f"{', '.join(DOCUMENTS)} or @file.graphql (with --variables)",
    )
    parser.add_argument("--variables", default="", help="JSON variables for @file documents")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (live modes)")
    parser.add_argument("--out", type=Path, default=None, help="JSON result path")
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = asyncio.run(main(args))
    print_table(rows)
    backend = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"graphql_transport-{backend}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": stamp,
        "backend": backend,
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "iterations": args.iterations,
        "warmup": args.warmup,
        "workers": args.workers,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    cli()
