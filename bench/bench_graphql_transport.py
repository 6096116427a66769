"""Time per GraphQL operation: plain POST, APQ hash-only GET, one batch of 10, against REST.

    .venv/bin/python -m bench.bench_graphql_transport            # the 20-run page, both databases
        [--backend sqlite postgresql] [--runs 200] [--iterations 100] [--warmup 10]
        [--mode inprocess live live-fresh] [--document page me run @file.graphql]
        [--pg-server postgresql://postgres@127.0.0.1:5432/postgres] [--workers 1]

Each backend gets a fresh database (SQLite: a temporary file; PostgreSQL: the database
`trainql_bench_transport`, created on `--pg-server` and dropped at the end), seeded with
`--runs` runs by five trainers (bulk-inserted rows, as in bench/bench_runs.py) and a MANAGER
reader. For each document the same operation is sent as
- `post`: one JSON POST per operation;
- `apq-get`: one GET carrying only the persisted query's hash (registered beforehand);
- `batch10`: one POST carrying 10 copies; the time is divided by 10;
- `rest`: the REST equivalent (`page`: `GET /api/training/runs/?page_size=20`;
  `run`: `GET /api/training/runs/{id}/`; none for `me`).
Modes: `inprocess` (httpx over ASGI, no sockets), `live` (a real `trainql serve` under uvicorn,
one keep-alive connection) and `live-fresh` (a new TCP connection per request). Variants run
round robin so that load from elsewhere falls on all alike. Prints a table, whether APQ and
batching are at least as fast per operation as a plain POST (by p50), and writes JSON under
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.bench_runs import fill
from tests.live import live_server, settings_env
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import migrate
from trainql.db.engine import Database
from trainql.schema.persisted_queries import query_hash

RESULTS = Path(__file__).with_name("results")
BENCH_DATABASE = "trainql_bench_transport"
BATCH = 10
PAGE = 20
# Two alternating timings of the same request on this shared machine differ by a few per cent;
# a ratio within this band of 1.0 is reported as a tie rather than a loss.
NOISE = 0.05

DOCUMENTS: dict[str, str] = {
    "page": f"""query Page {{
  trainingRuns(first: {PAGE}) {{
    edges {{
      cursor
      node {{ id modelVersion status accuracy f1Score runDate trainedBy {{ username }} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
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
Fresh = Callable[[], AsyncIterator[httpx.AsyncClient]]
OPS = {"post": 1, "apq-get": 1, "batch10": BATCH, "rest": 1}


@dataclass(frozen=True)
class Document:
    name: str
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    rest_path: str | None = None  # the REST request answering the same question, if any


# Databases ----------------------------------------------------------------------------------


def _admin_url(server: str) -> str:
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare_database(backend: str, pg_server: str, state: Path) -> str:
    """A fresh, migrated database for `backend`; its URL. PostgreSQL: only BENCH_DATABASE."""
    if backend == "sqlite":
        url = f"sqlite:///{state / 'bench.db'}"
    else:
        with psycopg.connect(_admin_url(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        url = make_url(pg_server).set(database=BENCH_DATABASE).render_as_string(False)
    migrate.upgrade(url)
    return url


def drop_database(backend: str, pg_server: str) -> None:
    if backend == "postgresql":
        with psycopg.connect(_admin_url(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


async def first_completed_run(url: str) -> int:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            result = await conn.execute(
                text("SELECT min(id) FROM training_runs WHERE status = 'COMPLETED'")
            )
            return int(result.scalar_one())
    finally:
        await db.dispose()


def documents_from(names: list[str], variables: str, run_id: int) -> list[Document]:
    """The documents to time: names from DOCUMENTS, or `@file.graphql` with `variables`."""
    chosen: list[Document] = []
    for name in names:
        if name.startswith("@"):
            path = Path(name[1:])
            chosen.append(Document(path.stem, path.read_text(), json.loads(variables or "{}")))
        elif name == "page":
            rest = f"/api/training/runs/?page_size={PAGE}"
            chosen.append(Document(name, DOCUMENTS[name], rest_path=rest))
        elif name == "run":
            rest = f"/api/training/runs/{run_id}/"
            chosen.append(Document(name, DOCUMENTS[name], {"id": str(run_id)}, rest))
        else:
            chosen.append(Document(name, DOCUMENTS[name]))
    return chosen


# Requests -----------------------------------------------------------------------------------


def apq_extensions(query: str) -> dict[str, Any]:
    """The `extensions` of an automatic persisted query for `query` (Apollo's shape)."""
    return {"persistedQuery": {"version": 1, "sha256Hash": query_hash(query)}}


def variants(doc: Document) -> dict[str, Send]:
    """The requests to time for one document; the operations per request are in OPS."""
    extensions = apq_extensions(doc.query)
    get_params = {"extensions": json.dumps(extensions)}
    if doc.variables:
        get_params["variables"] = json.dumps(doc.variables)
    single: dict[str, Any] = {"query": doc.query, "variables": doc.variables}
    sends: dict[str, Send] = {
        "post": lambda http: http.post("/graphql", json=single),
        "apq-get": lambda http: http.get("/graphql", params=get_params),
        "batch10": lambda http: http.post("/graphql", json=[single] * BATCH),
    }
    if doc.rest_path is not None:
        rest_path = doc.rest_path
        sends["rest"] = lambda http: http.get(rest_path)
    return sends


def check(name: str, response: httpx.Response) -> Any:
    """The JSON body of a 200 answer without GraphQL errors; raises otherwise."""
    if response.status_code != 200:
        raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    for answer in body if isinstance(body, list) else [body]:
        if isinstance(answer, dict) and answer.get("errors"):
            raise RuntimeError(f"{name}: {answer['errors']}")
    return body


def check_answers(doc: Document, bodies: dict[str, Any]) -> None:
    """Every variant answered the same question: equal GraphQL data, 10 answers per batch,
    and for the page the same 20 runs as the REST list."""
    data = bodies["post"]["data"]
    assert bodies["apq-get"]["data"] == data, doc.name
    assert [a["data"] for a in bodies["batch10"]] == [data] * BATCH, doc.name
    if doc.name == "page":
        ids = [int(e["node"]["id"]) for e in data["trainingRuns"]["edges"]]
        assert len(ids) == PAGE, ids
        assert ids == [r["id"] for r in bodies["rest"]["results"]], "GraphQL page != REST page"


async def register(http: httpx.AsyncClient, doc: Document) -> None:
    """Register the document as an automatic persisted query (Apollo's full-query retry)."""
    extensions = apq_extensions(doc.query)
    response = await http.post(
        "/graphql", json={"query": doc.query, "variables": doc.variables, "extensions": extensions}
    )
    check("register", response)


async def timed(
    send: Send, http: httpx.AsyncClient, fresh: Fresh | None
) -> tuple[float, httpx.Response]:
    """Seconds one request takes; with `fresh`, on a new client (a new TCP connection, whose
    connect is timed; building the client is not)."""
    if fresh is None:
        start = time.perf_counter()
        response = await send(http)
        return time.perf_counter() - start, response
    async with asynccontextmanager(fresh)() as client:
        start = time.perf_counter()
        response = await send(client)
        return time.perf_counter() - start, response


def summarize(samples: list[float], ops: int) -> dict[str, float]:
    """Milliseconds per operation of request timings (seconds) carrying `ops` operations."""
    per_op = [s / ops * 1000 for s in samples]
    ordered = sorted(per_op)
    return {
        "mean_ms_per_op": statistics.fmean(per_op),
        "p50_ms_per_op": statistics.median(per_op),
        "p95_ms_per_op": ordered[round(0.95 * (len(ordered) - 1))],
        "ops_per_s": 1000 / statistics.fmean(per_op),
    }


async def run_mode(
    mode: str,
    base: httpx.AsyncClient,
    *,
    fresh: Fresh | None,
    documents: list[Document],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for doc in documents:
        await register(base, doc)
        sends = variants(doc)
        bodies = {variant: check(variant, await send(base)) for variant, send in sends.items()}
        check_answers(doc, bodies)
        samples: dict[str, list[float]] = {variant: [] for variant in sends}
        for i in range(args.warmup + args.iterations):
            for variant, send in sends.items():
                elapsed, response = await timed(send, base, fresh)
                if response.status_code != 200:
                    check(f"{mode}/{doc.name}/{variant}", response)
                if i >= args.warmup:
                    samples[variant].append(elapsed)
        for variant, seconds in samples.items():
            rows.append(
                {
                    "mode": mode,
                    "document": doc.name,
                    "variant": variant,
                    "requests": len(seconds),
                    **summarize(seconds, OPS[variant]),
                }
            )
    return rows


async def bench_backend(backend: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every mode and document on one freshly seeded database."""
    state = Path(tempfile.mkdtemp(prefix="trainql-bench-"))
    url = prepare_database(backend, args.pg_server, state)
    try:
        token = await fill(url, args.runs)
        documents = documents_from(args.document, args.variables, await first_completed_run(url))
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        rows: list[dict[str, Any]] = []

        if "inprocess" in args.mode:
            settings = Settings(state_dir=state, database_url=url, log_level="WARNING")
            app = create_app(settings)
            async with LifespanManager(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench", headers=headers
                ) as http:
                    rows += await run_mode(
                        "inprocess", http, fresh=None, documents=documents, args=args
                    )

        live_modes = [m for m in args.mode if m.startswith("live")]
        if live_modes:
            env = settings_env(
                database_url=url, state_dir=state, extra={"TRAINQL_LOG_LEVEL": "WARNING"}
            )
            workers = ("--workers", str(args.workers))
            with live_server(env, log_path=state / "serve.log", args=workers) as server:

                async def fresh_client() -> AsyncIterator[httpx.AsyncClient]:
                    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as c:
                        yield c

                async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
                    for mode in live_modes:
                        fresh = fresh_client if mode == "live-fresh" else None
                        rows += await run_mode(
                            mode, http, fresh=fresh, documents=documents, args=args
                        )
        return [{"backend": backend, **row} for row in rows]
    finally:
        drop_database(backend, args.pg_server)


# Report -------------------------------------------------------------------------------------


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per backend, mode and document: is APQ / batch10 at least as fast per operation as a
    plain POST (p50 per operation <= the POST's)?"""
    by = {(r["backend"], r["mode"], r["document"], r["variant"]): r for r in rows}
    verdicts = []
    for (backend, mode, document, variant), row in by.items():
        if variant not in ("apq-get", "batch10"):
            continue
        post = by[(backend, mode, document, "post")]["p50_ms_per_op"]
        ratio = row["p50_ms_per_op"] / post
        verdicts.append(
            {
                "backend": backend,
                "mode": mode,
                "document": document,
                "variant": variant,
                "p50_over_post": round(ratio, 3),
                "met": ratio <= 1.0,
                "within_noise": 1.0 < ratio <= 1.0 + NOISE,
            }
        )
    return verdicts


def print_table(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> None:
    header = (
        f"{'backend':<11}{'mode':<11}{'document':<9}{'variant':<9}{'ms/op mean':>11}"
        f"{'p50':>8}{'p95':>8}{'ops/s':>8}{'p50/post':>10}{'p50/rest':>10}"
    )
    print(header)
    print("-" * len(header))
    p50 = {(r["backend"], r["mode"], r["document"], r["variant"]): r["p50_ms_per_op"] for r in rows}
    for r in rows:
        key = (r["backend"], r["mode"], r["document"])
        rest = p50.get((*key, "rest"))
        vs_rest = f"{r['p50_ms_per_op'] / rest:>9.2f}x" if rest else f"{'':>10}"
        print(
            f"{r['backend']:<11}{r['mode']:<11}{r['document']:<9}{r['variant']:<9}"
            f"{r['mean_ms_per_op']:>11.2f}{r['p50_ms_per_op']:>8.2f}{r['p95_ms_per_op']:>8.2f}"
            f"{r['ops_per_s']:>8.0f}{r['p50_ms_per_op'] / p50[(*key, 'post')]:>9.2f}x{vs_rest}"
        )
    print("\nGoal: APQ hash-only GET and batch of 10 at least as fast per operation as POST (p50)")
    for v in verdicts:
        verdict = (
            "met"
            if v["met"]
            else f"not met, within {NOISE:.0%} (a tie)"
            if v["within_noise"]
            else "NOT met"
        )
        print(
            f"  {v['backend']:<11}{v['mode']:<11}{v['document']:<9}{v['variant']:<9}"
            f"{v['p50_over_post']:>6.2f}x  {verdict}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--runs", type=int, default=200, help="runs seeded per database")
    parser.add_argument("--iterations", type=int, default=100, help="timed requests per row")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--mode",
        nargs="+",
        default=["inprocess", "live", "live-fresh"],
        choices=["inprocess", "live", "live-fresh"],
    )
    parser.add_argument(
        "--document",
        nargs="+",
        default=["page"],
        help=f"{', '.join(DOCUMENTS)} or @file.graphql (with --variables)",
    )
    parser.add_argument("--variables", default="", help="JSON variables for @file documents")
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"PostgreSQL server; the bench creates and drops the database {BENCH_DATABASE!r}",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (live modes)")
    parser.add_argument("--out", type=Path, default=None, help="JSON result path")
    args = parser.parse_args(argv)
    if "page" in args.document and args.runs < PAGE + 1:
        parser.error(f"--runs must be more than {PAGE} for a full page")
    return args


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for backend in args.backend:
        rows += await bench_backend(backend, args)
    return rows


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = asyncio.run(main(args))
    verdicts = goals(rows)
    print()
    print_table(rows, verdicts)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"graphql_transport-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": stamp,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "backends": args.backend,
        "runs": args.runs,
        "iterations": args.iterations,
        "warmup": args.warmup,
        "workers": args.workers,
        "documents": {name: DOCUMENTS.get(name, name) for name in args.document},
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows, "goals": verdicts}, indent=2) + "\n")
    print(f"\n{meta['seconds']} s; load average before {load_before}, after {os.getloadavg()}")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli()
