"""Plain HTTP clients for the live-server benches: one request at a time, or N threads.

The standard library's http.client rather than httpx: on this 2-core machine the client
shares the CPU with the servers it measures, and http.client costs a fraction of httpx per
request, so more of the machine goes to the servers. Both servers under comparison get the
same client.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """One HTTP request to send over and over; `check` validates a decoded answer."""

    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    check: Callable[[Any], None] | None = None


def json_request(
    method: str,
    path: str,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    check: Callable[[Any], None] | None = None,
) -> Request:
    all_headers = dict(headers or {})
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        all_headers["Content-Type"] = "application/json"
    return Request(method, path, body, tuple(all_headers.items()), check)


class Client:
    """Requests to one server, keep-alive (one connection reused) or fresh (a new TCP
    connection per request, whose connect is timed)."""

    def __init__(self, base_url: str, *, fresh: bool, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.fresh = fresh
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def send(self, request: Request) -> tuple[int, bytes]:
        """Status and body of one request (reconnecting once if a kept connection closed)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(request.method, request.path, request.body, dict(request.headers))
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2 or self.fresh:
                    raise
                continue
            if self.fresh or response.will_close:
                self.close()
            return response.status, body
        raise AssertionError("unreachable")

    def json(self, request: Request) -> Any:
        """The decoded answer of a request that must answer 200 (and pass its check)."""
        status, body = self.send(request)
        if status != 200:
            raise RuntimeError(f"{request.method} {request.path}: HTTP {status}: {body[:300]!r}")
        decoded = json.loads(body)
        if request.check is not None:
            request.check(decoded)
        return decoded

    def timed(self, request: Request) -> float:
        """Seconds one request takes (status must be 200)."""
        started = time.perf_counter()
        status, body = self.send(request)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{request.method} {request.path}: HTTP {status}: {body[:300]!r}")
        return elapsed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class LoadResult:
    threads: int
    seconds: float
    requests: int
    errors: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    # CPU the client threads themselves used, in cores (1.0 = one core busy the whole time):
    # on a machine the client shares with the servers, what the servers could not have.
    client_cores: float


def concurrent_load(
    base_url: str, request: Request, *, threads: int, seconds: float, fresh: bool
) -> LoadResult:
    """`threads` clients sending `request` back to back for `seconds`: throughput and
    latency percentiles of the answers that were 200. Any other answer, or a connection
    that broke, counts as an error (the client reconnects and goes on): a server that fails
    under load is a result, not a crash of the bench."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failed = [0] * threads
    crashed: list[BaseException] = []
    start = threading.Barrier(threads + 1)
    deadline = 0.0

    def work(index: int) -> None:
        client = Client(base_url, fresh=fresh)
        mine = latencies[index]
        try:
            start.wait()
            while time.perf_counter() < deadline:
                try:
                    mine.append(client.timed(request))
                except (RuntimeError, OSError, http.client.HTTPException):
                    failed[index] += 1
                    client.close()
        except BaseException as exc:  # reported by the caller
            crashed.append(exc)
        finally:
            client.close()

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    client_cpu = time.process_time()
    deadline = began + seconds
    start.wait()
    for worker in workers:
        worker.join(seconds + 60)
    elapsed = time.perf_counter() - began
    client_cpu = time.process_time() - client_cpu
    if crashed:
        raise RuntimeError(f"{len(crashed)} client thread(s) crashed") from crashed[0]
    flat = [s * 1000 for per_thread in latencies for s in per_thread]
    if not flat:
        raise RuntimeError(f"no request succeeded in {elapsed:.1f} s ({sum(failed)} errors)")
    return LoadResult(
        threads=threads,
        seconds=round(elapsed, 2),
        requests=len(flat),
        errors=sum(failed),
        requests_per_s=round(len(flat) / elapsed, 1),
        p50_ms=round(statistics.median(flat), 2),
        p99_ms=round(percentile(flat, 0.99), 2),
        client_cores=round(client_cpu / elapsed, 3),
    )


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_pids(pid: int) -> list[int]:
    """`pid` and all its descendants (through /proc's children lists)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by `pid` and its descendants (a server and its
    workers): the cost of the requests served in between two readings, whatever else the
    machine is doing. Resolution: one clock tick (10 ms)."""
    total = 0
    for current in tree_pids(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _CLOCK_TICKS
