"""Benchmark of the console's first load: bytes transferred and time to first paint of the
runs page, with 10,000 runs in the database.

    python -m bench.bench_console --runs 10000 --repeat 5
    python -m bench.bench_console --backend postgresql --runs 10000

Fills a dedicated database with `--runs` runs (bench_runs' bulk insert: details of a real
run's size, a quarter without metrics), starts a real `trainql serve` on it, and opens
`/console#/runs` in Debian's chromium (playwright, every non-loopback request aborted),
signed in as a MANAGER through the token in localStorage, as a returning user would be.
Each repeat is a fresh browser context: an empty cache, so every file is fetched ("cold");
then the same page is loaded again in that context ("warm": files from the cache, the
GraphQL answer fetched anew). Reported per load, medians over the repeats:

- transferred: every response's headers and (encoded) body, as they came over the network
  (the DevTools protocol's encodedDataLength; nothing for what the cache served);
- first paint / first contentful paint: the browser's paint timing;
- runs on screen: the console's `trainql:first-view` mark, set once the runs table (the
  first page of 20, its total count, and its trainers) is in the document.

Prints a table and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Browser, CDPSession, Page, sync_playwright
from sqlalchemy.engine import make_url

from bench.bench_runs import fill
from tests.browser import CHROMIUM, CHROMIUM_ARGS, LOOPBACK
from tests.live import live_server, settings_env
from trainql.db import migrate

RESULTS = Path(__file__).with_name("results")
BENCH_DATABASE = "trainql_bench_console"
FIRST_LOAD_LIMIT_KB = 300
TIMEOUT_MS = 60_000

TIMINGS = """() => {
  const paint = Object.fromEntries(
    performance.getEntriesByType("paint").map((entry) => [entry.name, entry.startTime]));
  const view = performance.getEntriesByName("trainql:first-view")[0];
  const navigation = performance.getEntriesByType("navigation")[0];
  return {
    first_paint_ms: paint["first-paint"] ?? null,
    first_contentful_paint_ms: paint["first-contentful-paint"] ?? null,
    runs_on_screen_ms: view ? view.startTime : null,
    dom_content_loaded_ms: navigation.domContentLoadedEventEnd,
    rows: document.querySelectorAll("#runs-table tbody tr").length,
  };
}"""


@dataclass
class Load:
    kind: str  # cold or warm
    requests: int
    from_network: int  # the others came from the browser's cache
    transferred_kb: float
    first_paint_ms: float
    first_contentful_paint_ms: float
    runs_on_screen_ms: float
    dom_content_loaded_ms: float


def _admin_url(server: str) -> str:
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare_database(backend: str, pg_server: str, state: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{state / 'bench.db'}"
    else:
        with psycopg.connect(_admin_url(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        url = make_url(pg_server).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def drop_database(backend: str, pg_server: str) -> None:
    if backend == "postgresql":
        with psycopg.connect(_admin_url(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


def load(page: Page, cdp: CDPSession, url: str, kind: str) -> Load:
    """Open `url` and measure it: bytes from the DevTools protocol's loadingFinished (what
    came over the network; 0 for a response served from the cache)."""
    received: dict[str, int] = {}
    requested: list[str] = []

    def finished(event: dict[str, Any]) -> None:
        received[event["requestId"]] = int(event["encodedDataLength"])

    def sent(event: dict[str, Any]) -> None:
        requested.append(event["request"]["url"])

    cdp.on("Network.loadingFinished", finished)
    cdp.on("Network.requestWillBeSent", sent)
    page.goto(url)
    page.wait_for_selector("html[data-ready]")
    page.wait_for_load_state("networkidle")
    timings: dict[str, Any] = page.evaluate(TIMINGS)
    cdp.remove_listener("Network.loadingFinished", finished)
    cdp.remove_listener("Network.requestWillBeSent", sent)
    # (data: URLs are the browser's own, such as the date input's calendar icon)
    elsewhere = [
        u
        for u in requested
        if urllib.parse.urlsplit(u).scheme != "data"
        and urllib.parse.urlsplit(u).hostname not in LOOPBACK
    ]
    if elsewhere:
        raise RuntimeError(f"the console asked other hosts: {elsewhere}")
    if timings.pop("rows") == 0:
        raise RuntimeError("the runs table has no row: is the token right?")
    return Load(
        kind=kind,
        requests=len(requested),
        from_network=sum(1 for size in received.values() if size > 0),
        transferred_kb=round(sum(received.values()) / 1024, 1),
        **{key: round(float(value), 1) for key, value in timings.items()},
    )


def measure(browser: Browser, base_url: str, token: str, repeat: int) -> list[Load]:
    loads = []
    for _ in range(repeat):
        # No request interception here: it would turn the HTTP cache off. Other hosts do
        # not resolve (CHROMIUM_ARGS), and load() fails if the page asked for one.
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        # Signed in already, as a returning user: the token where the console keeps it.
        context.add_init_script(
            f"try {{ localStorage.setItem('token', {json.dumps(token)}); }} catch {{}}"
        )
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        loads.append(load(page, cdp, f"{base_url}/console#/runs", "cold"))
        page.goto("about:blank")
        loads.append(load(page, cdp, f"{base_url}/console#/runs", "warm"))
        context.close()
    return loads


def summarize(loads: list[Load]) -> list[dict[str, Any]]:
    rows = []
    for kind in ("cold", "warm"):
        group = [asdict(item) for item in loads if item.kind == kind]
        summary: dict[str, Any] = {"load": kind, "samples": len(group)}
        for key in group[0]:
            if key != "kind":
                summary[key] = statistics.median(item[key] for item in group)
        rows.append(summary)
    return rows


def print_table(rows: list[dict[str, Any]], runs: int, backend: str) -> None:
    print(f"\nconsole first load, /console#/runs, {runs:,} runs on {backend} (medians)")
    header = (
        f"{'load':<6}{'requests':>9}{'network':>9}{'KB':>9}{'first paint':>13}{'FCP':>9}"
        f"{'runs shown':>12}{'DCL':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['load']:<6}{row['requests']:>9.0f}{row['from_network']:>9.0f}"
            f"{row['transferred_kb']:>9.1f}"
            f"{row['first_paint_ms']:>10.0f} ms{row['first_contentful_paint_ms']:>6.0f} ms"
            f"{row['runs_on_screen_ms']:>9.0f} ms{row['dom_content_loaded_ms']:>6.0f} ms"
        )
    cold = rows[0]["transferred_kb"]
    verdict = "met" if cold < FIRST_LOAD_LIMIT_KB else "NOT met"
    print(f"goal: first load under {FIRST_LOAD_LIMIT_KB} KB transferred: {cold} KB, {verdict}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not CHROMIUM.is_file():
        raise SystemExit(f"no chromium at {CHROMIUM} (TRAINQL_TEST_CHROMIUM names another)")
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        state = Path(tmp)
        url = prepare_database(args.backend, args.pg_server, state)
        try:
            token = asyncio.run(fill(url, args.runs))
            env = settings_env(database_url=url, state_dir=state / "state")
            with (
                live_server(env, log_path=state / "serve.log") as server,
                sync_playwright() as playwright,
            ):
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    # One untimed load: the server's first requests warm its caches.
                    measure(browser, server.base_url, token, 1)
                    loads = measure(browser, server.base_url, token, args.repeat)
                finally:
                    browser.close()
        finally:
            drop_database(args.backend, args.pg_server)
    rows = summarize(loads)
    print_table(rows, args.runs, args.backend)
    return {
        "bench": "console",
        "at": datetime.now(UTC).isoformat(),
        "backend": args.backend,
        "runs": args.runs,
        "repeat": args.repeat,
        "summary": rows,
        "loads": [asdict(item) for item in loads],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the database")
    parser.add_argument("--repeat", type=int, default=5, help="cold/warm load pairs")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (its user creates and drops the bench database)",
    )
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"console-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    cli()
