"""CPU time per request of the app in this process: the child `bench_ab --inprocess` runs.

    python -m bench.request_cost URL TOKEN RUN_ID REQUESTS WARMUP

Serves the app in-process (httpx over ASGI, no sockets) on the database at URL, sends each of
bench_ab's requests WARMUP times untimed (all kinds before any is timed), then each kind
REQUESTS times, and prints one JSON object:
CPU milliseconds per request (this process's user + system time: the app and the in-process
client, which is the same on both sides of a comparison; PostgreSQL's own time is not in it).
The `trainql` imported is whichever PYTHONPATH puts first, so the same script measures any
commit.

Under callgrind (bench_ab --instructions), each kind's timed requests are also marked
(bench/callgrind_marks.py), so that the instructions they executed are dumped under its name.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.bench_mlflow_peer import GRAPHQL_FILTER, GRAPHQL_PAGE, GRAPHQL_RUN, REST_FILTERED
from bench.bench_mlflow_peer import REST_PAGE as REST_FIRST
from bench.callgrind_marks import Marks
from trainql.app import create_app
from trainql.config import Settings
from trainql.resolvers import auth


def requests_for(run_id: int) -> dict[str, tuple[str, str, Any]]:
    return {
        "graphql filtered page": (
            "POST",
            "/graphql",
            {"query": GRAPHQL_PAGE, "variables": {"filter": GRAPHQL_FILTER}},
        ),
        "rest filtered page": ("GET", REST_FILTERED, None),
        "graphql first page": ("POST", "/graphql", {"query": GRAPHQL_PAGE, "variables": {}}),
        "rest first page": ("GET", REST_FIRST, None),
        "graphql run by id": (
            "POST",
            "/graphql",
            {"query": GRAPHQL_RUN, "variables": {"id": str(run_id)}},
        ),
        "rest run by id": ("GET", f"/api/training/runs/{run_id}/", None),
    }


def keep_tokens() -> None:
    """Under callgrind a request takes about half a second, so the token cache's half-second
    entries would expire every request or two, and a lookup that a live server makes once per
    hundreds of requests would be counted in many (and in a number that depends on timing).
    The token was looked up in the warm-up; it is kept from then on."""
    for cache in auth._token_caches.values():
        cache.ttl = math.inf


async def measure(url: str, token: str, run_id: int, requests: int, warmup: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="trainql-cost-"))
    app = create_app(Settings(state_dir=state, database_url=url, log_level="WARNING"))
    out: dict[str, float] = {}
    marks = Marks.from_environment()
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Token {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            kinds = requests_for(run_id)

            async def send(name: str, method: str, path: str, body: Any) -> None:
                response = await client.request(method, path, json=body)
                if response.status_code != 200 or '"errors"' in response.text[:20]:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")

            # Every kind warmed before any is measured: what one kind leaves warm for the
            # next (statements prepared, caches filled) is then in no count.
            for name, (method, path, body) in kinds.items():
                for _ in range(warmup):
                    await send(name, method, path, body)
            if marks is not None:
                keep_tokens()
                # As a served process settles its heap (http/serving.settle_heap): else a full
                # collection of the whole heap lands in some counts and not in others.
                gc.collect()
                gc.freeze()
            for name, (method, path, body) in kinds.items():
                if marks is not None:
                    marks.zero()
                started = time.process_time()
                for _ in range(requests):
                    await send(name, method, path, body)
                out[name] = (time.process_time() - started) * 1000 / requests
                if marks is not None:
                    marks.dump(name)
    return out


if __name__ == "__main__":
    url, token, run_id, requests, warmup = sys.argv[1:6]
    result = asyncio.run(measure(url, token, int(run_id), int(requests), int(warmup)))
    print(json.dumps(result))
