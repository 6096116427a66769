"""One change measured alone: a tree against an earlier commit, in alternating rounds.

    .venv/bin/python -m bench.bench_ab --base HEAD~1      # ~4 min
        [--rounds 5] [--requests 100] [--load-seconds 10] [--threads 8] [--workers 4]
        [--runs 20000] [--pg-server postgresql://postgres@127.0.0.1:5432/postgres]

The `trainql` package of `--base` (and of `--new`, when given) is exported (`git archive`)
to a temporary directory and served from there (PYTHONPATH comes before the editable
install); without `--new` the working tree's is served as it is. Each side gets a database
of its own on the server (`trainql_bench_ab_base`, `trainql_bench_ab_new`, migrated by its
own code, created and dropped here), the same bench_runs.fill rows, and `ANALYZE`. Both
servers run `trainql serve --workers N` at once
(the idle one costs nothing); every round times both, in alternating order:

- single requests, keep-alive and fresh connections (p50): the filtered page (status
  COMPLETED, trainer1) and the first page on GraphQL and REST, a run by id on both;
- `--threads` keep-alive clients for `--load-seconds` on the filtered page, each transport.

Besides the client's timings, each series reads the server's CPU time (every process of it,
from /proc) before and after: CPU ms per request is what a change saves, and it moves far
less with other load on the machine than wall-clock times do. (PostgreSQL's own CPU is not
in it.) `--inprocess N` measures instead each side's app in a process of its own (httpx over ASGI,
bench/request_cost.py): CPU ms per request over N requests of each kind, the sides
alternating, a fresh process per side and round. `--instructions N` runs that process under
callgrind and counts millions of instructions per request instead (bench/callgrind_marks.py):
the same count for the same code whatever the machine's load, so the one measure that shows
a step of a few per cent on a shared machine; about 50 times slower (N of 20, `--rounds 2`).
Prints medians over rounds and new / base ratios (below 1 is faster for times, above 1 for
requests/s); writes bench/results/ab-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_mlflow_peer import (
    GRAPHQL_FILTER,
    GRAPHQL_PAGE,
    GRAPHQL_RUN,
    REST_FILTERED,
    REST_PAGE,
    analyze,
)
from bench.bench_runs import fill
from bench.callgrind_marks import ENVIRONMENT, build_library, callgrind_command, dumped_totals
from bench.databases import admin_url, create_postgres, drop_postgres
from bench.load import (
    Client,
    Request,
    concurrent_load,
    json_request,
    percentile,
    tree_cpu_seconds,
)
from tests.live import live_server, settings_env

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
SIDES = ("base", "new")


def export_package(rev: str, target: Path) -> str:
    """The `trainql` package as of `rev`, unpacked under `target`; the commit's short hash."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "trainql"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return commit


def requests_for(headers: dict[str, str], run_id: int) -> dict[str, Request]:
    def graphql(query: str, variables: dict[str, Any]) -> Request:
        def check(body: Any) -> None:
            if body.get("errors"):
                raise RuntimeError(f"GraphQL errors: {body['errors']}")

        return json_request(
            "POST", "/graphql", {"query": query, "variables": variables}, headers, check
        )

    return {
        "graphql filtered page": graphql(GRAPHQL_PAGE, {"filter": GRAPHQL_FILTER}),
        "rest filtered page": json_request("GET", REST_FILTERED, None, headers),
        "graphql first page": graphql(GRAPHQL_PAGE, {}),
        "rest first page": json_request("GET", REST_PAGE, None, headers),
        "graphql run by id": graphql(GRAPHQL_RUN, {"id": str(run_id)}),
        "rest run by id": json_request("GET", f"/api/training/runs/{run_id}/", None, headers),
    }


@dataclass
class Sides:
    """Each side's server environment, token and requests; the run read by id."""

    envs: dict[str, dict[str, str]]
    tokens: dict[str, str]
    requests: dict[str, dict[str, Request]]
    run_id: int


def prepare(
    args: argparse.Namespace, state: Path, trees: dict[str, Path | None], urls: dict[str, str]
) -> Sides:
    """Each side's database migrated by its own code and filled; the servers' environments
    and each side's requests."""
    envs, tokens = {}, {}
    for side in SIDES:
        # PYTHONSAFEPATH: `python -m` would otherwise put the working directory (this
        # checkout) first on sys.path, and every side would run the working tree's trainql.
        tree = trees[side]
        paths = [str(ROOT)] if tree is None else [str(tree), str(ROOT)]
        extra = {
            "TRAINQL_LOG_LEVEL": "INFO",
            "PYTHONSAFEPATH": "1",
            "PYTHONPATH": os.pathsep.join(paths),
        }
        (state / side).mkdir(exist_ok=True)
        envs[side] = settings_env(database_url=urls[side], state_dir=state / side, extra=extra)
        subprocess.run(
            [sys.executable, "-m", "trainql", "migrate"],
            env=envs[side],
            check=True,
            capture_output=True,
        )
        tokens[side] = asyncio.run(fill(urls[side], args.runs))
        analyze(urls[side])
    with psycopg.connect(admin_url(urls["new"])) as conn:
        found = conn.execute(
            "SELECT id FROM training_runs WHERE model_version = 'bench-1'"
        ).fetchone()
    assert found is not None
    requests = {
        side: requests_for({"Authorization": f"Token {tokens[side]}"}, int(found[0]))
        for side in SIDES
    }
    return Sides(envs, tokens, requests, int(found[0]))


def measure_in_process(
    args: argparse.Namespace, urls: dict[str, str], sides: Sides
) -> dict[str, dict[str, list[float]]]:
    """CPU ms per request of each side's app in a process of its own (bench/request_cost.py),
    the sides alternating, a fresh process per side and round."""
    results: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}
    for round_index in range(args.rounds):
        order = SIDES if round_index % 2 == 0 else SIDES[::-1]
        print(f"round {round_index + 1}/{args.rounds} ({', '.join(order)})", flush=True)
        for side in order:
            command = [
                sys.executable, "-m", "bench.request_cost", urls[side], sides.tokens[side],
                str(sides.run_id), str(args.inprocess), str(args.warmup),
            ]  # fmt: skip
            done = subprocess.run(
                command, env=sides.envs[side], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"{side}: {done.stderr[-2000:]}")
            for name, cpu_ms in json.loads(done.stdout.splitlines()[-1]).items():
                results[side].setdefault(f"{name}, in-process, CPU ms", []).append(cpu_ms)
            print(f"  {side}: {done.stdout.strip()}", flush=True)
    return results


def measure_instructions(
    args: argparse.Namespace, urls: dict[str, str], sides: Sides, state: Path
) -> dict[str, dict[str, list[float]]]:
    """Millions of instructions per request of each side's app, as `measure_in_process` runs
    it but under callgrind (bench/callgrind_marks.py): the same count for the same code
    whatever the machine's load, so a step of a few per cent shows."""
    library = str(build_library())
    results: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}
    for round_index in range(args.rounds):
        order = SIDES if round_index % 2 == 0 else SIDES[::-1]
        print(f"round {round_index + 1}/{args.rounds} ({', '.join(order)})", flush=True)
        for side in order:
            out_dir = state / f"callgrind-{side}-{round_index}"
            out_dir.mkdir()
            command = [
                *callgrind_command(out_dir), sys.executable, "-m", "bench.request_cost",
                urls[side], sides.tokens[side], str(sides.run_id), str(args.instructions),
                str(args.warmup), *(["elsewhere"] if args.elsewhere else []),
            ]  # fmt: skip
            env = {
                **sides.envs[side],
                ENVIRONMENT: library,
                # A fixed hash seed: set and dict orders, and so the instructions, repeat.
                "PYTHONHASHSEED": "0",
                # The reconciler's pass (every 5 s, jittered) would land in a count at random:
                # under callgrind the 20 requests of one kind take longer than that.
                "TRAINQL_RECONCILE_INTERVAL_S": "86400",
            }
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{side}: {done.stderr[-2000:]}")
            totals = dumped_totals(out_dir)
            for name, instructions in totals.items():
                per_request = instructions / args.instructions / 1e6
                results[side].setdefault(f"{name}, M instructions", []).append(per_request)
            shown = {name: round(n / args.instructions / 1e6, 3) for name, n in totals.items()}
            print(f"  {side}: {json.dumps(shown)}", flush=True)
    return results


def check_same_bytes(bases: dict[str, str], requests: dict[str, dict[str, Request]]) -> None:
    """Both sides answer every request with the same status and bytes (REST's absolute
    `next` links aside, which name each server's own port)."""
    for name in requests["new"]:
        answers = {}
        for side in SIDES:
            status, body = Client(bases[side], fresh=True).send(requests[side][name])
            answers[side] = (status, body.replace(bases[side].encode(), b"<server>"))
        if answers["base"] != answers["new"]:
            base, new = answers["base"][1], answers["new"][1]
            pairs = enumerate(zip(base, new, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), min(len(base), len(new)))
            raise AssertionError(
                f"{name}: base and new answer differently at byte {at}: "
                f"{base[max(0, at - 80) : at + 80]!r} / {new[max(0, at - 80) : at + 80]!r}"
            )


def measure_rounds(
    args: argparse.Namespace,
    bases: dict[str, str],
    pids: dict[str, int],
    requests: dict[str, dict[str, Request]],
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}

    def record(side: str, key: str, value: float) -> None:
        results[side].setdefault(key, []).append(value)

    for side in SIDES:
        for request in requests[side].values():
            client = Client(bases[side], fresh=True)
            for _ in range(args.warmup):
                client.timed(request)
    for round_index in range(args.rounds):
        order = SIDES if round_index % 2 == 0 else SIDES[::-1]
        print(f"round {round_index + 1}/{args.rounds} ({', '.join(order)})", flush=True)
        for connection in ("keep-alive", "fresh"):
            for name in requests["new"]:
                for side in order:
                    client = Client(bases[side], fresh=connection == "fresh")
                    cpu = tree_cpu_seconds(pids[side])
                    samples = [
                        client.timed(requests[side][name]) * 1000 for _ in range(args.requests)
                    ]
                    cpu = tree_cpu_seconds(pids[side]) - cpu
                    client.close()
                    record(side, f"{name}, {connection}, p50 ms", statistics.median(samples))
                    record(side, f"{name}, {connection}, p99 ms", percentile(samples, 0.99))
                    record(side, f"{name}, {connection}, CPU ms", cpu * 1000 / args.requests)
        for name in ("graphql filtered page", "rest filtered page"):
            for side in order:
                cpu = tree_cpu_seconds(pids[side])
                load = concurrent_load(
                    bases[side],
                    requests[side][name],
                    threads=args.threads,
                    seconds=args.load_seconds,
                    fresh=False,
                )
                cpu_ms = (tree_cpu_seconds(pids[side]) - cpu) * 1000 / load.requests
                print(
                    f"  {name:<22} {side:<5} {load.requests_per_s:>7.1f} req/s "
                    f"p99 {load.p99_ms:>6.1f} ms, server CPU {cpu_ms:.2f} ms/request",
                    flush=True,
                )
                record(side, f"{name}, {args.threads} clients, CPU ms", cpu_ms)
                record(side, f"{name}, {args.threads} clients, req/s", load.requests_per_s)
                record(side, f"{name}, {args.threads} clients, p99 ms", load.p99_ms)
    return results


def measure_live(
    args: argparse.Namespace, state: Path, sides: Sides
) -> dict[str, dict[str, list[float]]]:
    with ExitStack() as stack:
        servers = {
            side: stack.enter_context(
                live_server(
                    sides.envs[side],
                    log_path=state / side / "serve.log",
                    args=("--workers", str(args.workers)),
                )
            )
            for side in SIDES
        }
        bases = {side: server.base_url for side, server in servers.items()}
        pids = {side: server.process.pid for side, server in servers.items()}
        check_same_bytes(bases, sides.requests)
        return measure_rounds(args, bases, pids, sides.requests)


def main(args: argparse.Namespace) -> None:
    state = Path(tempfile.mkdtemp(prefix="trainql-ab-"))
    trees: dict[str, Path | None] = {"base": state / "base-tree", "new": None}
    commits = {"base": export_package(args.base, state / "base-tree"), "new": "working tree"}
    if args.new is not None:
        trees["new"] = state / "new-tree"
        commits["new"] = export_package(args.new, state / "new-tree")
    load_before = os.getloadavg()
    started = time.perf_counter()
    urls = {side: create_postgres(args.pg_server, f"trainql_bench_ab_{side}") for side in SIDES}
    try:
        sides = prepare(args, state, trees, urls)
        if args.instructions:
            results = measure_instructions(args, urls, sides, state)
        elif args.inprocess:
            results = measure_in_process(args, urls, sides)
        else:
            results = measure_live(args, state, sides)
    finally:
        for side in SIDES:
            drop_postgres(args.pg_server, f"trainql_bench_ab_{side}")
    print(f"\nnew ({commits['new']}) against base ({commits['base']}), {args.rounds} rounds")
    print(f"{'measure':<52}{'base':>10}{'new':>10}{'new/base':>10}")
    summary = []
    for key in results["new"]:
        base = statistics.median(results["base"][key])
        new = statistics.median(results["new"][key])
        summary.append({"measure": key, "base": base, "new": new, "ratio": new / base})
        print(f"{key:<52}{base:>10.2f}{new:>10.2f}{new / base:>10.2f}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ab-{stamp}.json"
    meta = {
        "when": stamp,
        "base": commits["base"],
        "new": commits["new"],
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        **{k: v for k, v in vars(args).items() if k != "pg_server"},
    }
    out.write_text(
        json.dumps({"meta": meta, "summary": summary, "rounds": results}, indent=2) + "\n"
    )
    print(f"\nload average before {load_before}, after {os.getloadavg()}; wrote {out}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--base", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--new", default=None, help="a commit to measure (default: the tree)")
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per row")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--inprocess",
        type=int,
        default=0,
        metavar="N",
        help="instead of live servers: N requests of each kind in-process per side and round, "
        "reporting CPU ms per request (far steadier on a loaded machine)",
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="as --inprocess, but counting each side's instructions per request under "
        "callgrind (valgrind): the same count whatever the machine's load; about 50x slower, "
        "so N of 20 and --rounds 2 are plenty",
    )
    parser.add_argument(
        "--elsewhere",
        action="store_true",
        help="with --instructions: also the requests the peer bench does not send (a cursor "
        "page, by accuracy, me, an APQ GET, a batch of 10, REST's 2nd and 500th pages)",
    )
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server; the bench creates and drops trainql_bench_ab_base and _new",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
