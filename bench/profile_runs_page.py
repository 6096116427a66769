"""Where a live server's CPU goes on the filtered 20-run page, by py-spy.

    .venv/bin/pip install -e '.[bench]'        # py-spy
    .venv/bin/python -m bench.profile_runs_page [--backend postgresql] [--runs 20000]
        [--seconds 20] [--threads 8] [--rate 250] [--top 15]

Seeds a database of its own (`trainql_bench_profile` on `--pg-server`, dropped at the end)
with `--runs` runs (bench/bench_runs.py's rows), starts `trainql serve` (one uvicorn worker,
so one process holds every sample), and for each transport (GraphQL `trainingRuns` and REST
`/api/training/runs/`, both filtered by trainer and status) drives `--threads` keep-alive
clients for `--seconds` while `py-spy record` samples the server. Idle time (waiting on
sockets and the database) is not sampled: the shares are of CPU time.

Prints, per transport: requests/s, the share of samples by area of the work (the flame
summary: token check, statements, rows to objects, GraphQL execution, HTTP ...) and by
package, and the top frames by self time and by inclusive time; writes the raw collapsed stacks
(`flamegraph.pl`-ready) and a JSON summary under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_runs import fill
from bench.databases import drop_postgres, fresh_trainql_database
from bench.load import Client, LoadResult, concurrent_load, json_request
from tests.live import live_server, settings_env

RESULTS = Path(__file__).with_name("results")
BENCH_DATABASE = "trainql_bench_profile"
TRAINER = "trainer1"
PAGE = 20

FILTERED_PAGE = """query FilteredPage($trainer: String!) {
  trainingRuns(filter: {status: [COMPLETED], trainedBy: $trainer}, first: 20) {
    edges {
      cursor
      node { id modelVersion status accuracy f1Score runDate trainedBy { username } }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
REST_FILTERED = f"/api/training/runs/?status=COMPLETED&trained_by={TRAINER}&page_size={PAGE}"

# py-spy's raw frames: "function (path/to/file.py:123)".
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
PACKAGES = (
    "trainql",
    "strawberry",
    "graphql",
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "aiosqlite",
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic_core",
    "uvicorn",
    "httptools",
    "anyio",
    "h11",
)


# Frames under every sample (the process's entry, the event loop turning): left out of the
# inclusive ranking, where they would fill the top with 100 % each.
PLUMBING = (
    "<frozen runpy>",
    "trainql/__main__.py",
    "trainql/cli.py",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
)


def _package(file: str) -> str:
    parts = Path(file).parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0].removesuffix(".py") if rest else "?"
    for name in PACKAGES:
        if name in parts:
            return name
    if "python3.11" in parts or "lib" in parts:
        index = parts.index("python3.11") if "python3.11" in parts else parts.index("lib")
        rest = parts[index + 1 :]
        return f"stdlib:{rest[0].removesuffix('.py')}" if rest else "stdlib"
    return "other"


def _frame_key(frame: str) -> tuple[str, str]:
    """(function, file without line number) of a raw frame, so lines of one function add up."""
    match = _FRAME.match(frame)
    if not match:
        return frame, "?"
    file = match["file"]
    if "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    elif "/trainql/" in file:
        file = "trainql/" + file.split("/trainql/", 1)[1]
    return match["function"], file


def _in_driver(stack: str) -> bool:
    return "sqlalchemy/" in stack or "psycopg/" in stack


def _converting(stack: str) -> bool:
    return any(name in stack for name in ("run_to_domain", "user_from_columns", "_to_domain"))


# The areas of the work, first match wins. SQLAlchemy's async layer runs the driver work in
# greenlets, whose stacks py-spy shows on their own: statements cannot be told apart there.
AREAS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    (
        "database: token check",
        lambda s: _in_driver(s) and ("authenticate (" in s or "get_user_by_token_digest" in s),
    ),
    ("database: rows to domain objects", lambda s: _converting(s.rsplit(";", 1)[-1])),
    ("database: statements (SQLAlchemy, psycopg)", _in_driver),
    ("database: rows to domain objects", _converting),
    (
        "GraphQL: parse, validate, execute, serialize",
        lambda s: "strawberry/" in s or "graphql/" in s,
    ),
    ("logging (uvicorn's access log)", lambda s: "logging/" in s),
    ("REST view and serializers", lambda s: "trainql/rest_compat" in s),
    (
        "FastAPI: dependencies and response validation",
        lambda s: "fastapi/" in s and ("solve_dependencies" in s or "serialize_response" in s),
    ),
    (
        "HTTP: uvicorn, Starlette/FastAPI routing and middleware",
        lambda s: any(n in s for n in ("uvicorn/", "starlette/", "fastapi/", "httptools")),
    ),
)


def _area(stack: str) -> str:
    """Which part of serving a request a sampled stack belongs to (the flame summary)."""
    return next((name for name, test in AREAS if test(stack)), "other (event loop, stdlib)")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    share: float


def summarize(raw: str, top: int) -> dict[str, Any]:
    """Package shares (by the leaf frame's file), top frames by self and inclusive share."""
    leaf: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    packages: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # The first frame is py-spy's "process ..." / thread label when present.
        frames = [f for f in frames if _FRAME.match(f)]
        if not frames:
            continue
        total += count
        areas[_area(stack)] += count
        keys = [_frame_key(f) for f in frames]
        leaf[keys[-1]] += count
        for key in set(keys):
            if not key[1].endswith(PLUMBING) and not key[1].startswith(("typer/", "click/")):
                inclusive[key] += count
        packages[_package(keys[-1][1])] += count

    def frames_of(counter: Counter[tuple[str, str]]) -> list[Frame]:
        return [
            Frame(function, file, round(100 * n / total, 1))
            for (function, file), n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "areas": {name: round(100 * n / total, 1) for name, n in areas.most_common()},
        "packages": {name: round(100 * n / total, 1) for name, n in packages.most_common()},
        "self": [asdict(f) for f in frames_of(leaf)],
        "inclusive": [asdict(f) for f in frames_of(inclusive)],
    }


def print_summary(name: str, load: LoadResult, summary: dict[str, Any]) -> None:
    print(f"\n== {name}: {load.requests_per_s} requests/s, p50 {load.p50_ms} ms, ", end="")
    print(f"p99 {load.p99_ms} ms ({summary['samples']} samples)")
    print("share of CPU samples by area (the flame summary):")
    for area, share in summary["areas"].items():
        print(f"  {share:5.1f} %  {area}")
    print("share of CPU samples by package (leaf frame):")
    for package, share in summary["packages"].items():
        if share >= 0.5:
            print(f"  {share:5.1f} %  {package}")
    for kind in ("self", "inclusive"):
        print(f"top frames, {kind}:")
        for frame in summary[kind]:
            print(f"  {frame['share']:5.1f} %  {frame['function']}  ({frame['file']})")


def profile(
    pid: int, base_url: str, request: Any, args: argparse.Namespace, out: Path
) -> tuple[LoadResult, str]:
    """Drive the load while py-spy samples `pid`; the load result and the raw stacks."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    warm = Client(base_url, fresh=False)
    for _ in range(50):
        warm.json(request)
    warm.close()
    command = [
        spy, "record", "--pid", str(pid), "--rate", str(args.rate), "--format", "raw",
        "--duration", str(int(args.seconds)), "--nonblocking", "--output", str(out),
    ]  # fmt: skip
    recorder = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)  # py-spy attaches
    load = concurrent_load(
        base_url, request, threads=args.threads, seconds=args.seconds - 1, fresh=False
    )
    _, stderr = recorder.communicate(timeout=args.seconds + 60)
    if recorder.returncode != 0:
        raise RuntimeError(f"py-spy failed: {stderr.decode(errors='replace')}")
    return load, out.read_text()


async def seed(url: str, runs: int) -> str:
    return await fill(url, runs)


def main(args: argparse.Namespace) -> None:
    state = Path(tempfile.mkdtemp(prefix="trainql-profile-"))
    url = fresh_trainql_database(args.backend, args.pg_server, BENCH_DATABASE, state)
    load_before = os.getloadavg()
    report: dict[str, Any] = {}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    try:
        token = asyncio.run(seed(url, args.runs))
        headers = {"Authorization": f"Token {token}"}

        def check_page(body: Any) -> None:
            data = body["data"]["trainingRuns"] if "data" in body else body
            rows = data["edges"] if "edges" in data else data["results"]
            assert len(rows) == PAGE, body

        requests = {
            "graphql": json_request(
                "POST",
                "/graphql",
                {"query": FILTERED_PAGE, "variables": {"trainer": TRAINER}},
                headers,
                check_page,
            ),
            "rest": json_request("GET", REST_FILTERED, None, headers, check_page),
        }
        env = settings_env(
            database_url=url, state_dir=state, extra={"TRAINQL_LOG_LEVEL": args.log_level}
        )
        with live_server(env, log_path=state / "serve.log") as server:
            for name, request in requests.items():
                raw_path = RESULTS / f"profile-{name}-{args.backend}-{stamp}.txt"
                load, raw = profile(server.process.pid, server.base_url, request, args, raw_path)
                summary = summarize(raw, args.top)
                print_summary(name, load, summary)
                report[name] = {"load": asdict(load), "profile": summary, "raw": str(raw_path)}
    finally:
        if args.backend == "postgresql":
            drop_postgres(args.pg_server, BENCH_DATABASE)
    out = RESULTS / f"profile-{args.backend}-{stamp}.json"
    meta = {
        "when": stamp,
        "backend": args.backend,
        "runs": args.runs,
        "threads": args.threads,
        "seconds": args.seconds,
        "rate": args.rate,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    out.write_text(json.dumps({"meta": meta, **report}, indent=2) + "\n")
    print(f"\nload average before {load_before}, after {os.getloadavg()}; wrote {out}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per transport")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--log-level", default="INFO", help="the server's TRAINQL_LOG_LEVEL")
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"PostgreSQL server; the bench creates and drops the database {BENCH_DATABASE!r}",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
