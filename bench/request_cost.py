"""CPU time per request of the app in this process: the child `bench_ab --inprocess` runs.

    python -m bench.request_cost URL TOKEN RUN_ID REQUESTS WARMUP

Serves the app in-process (httpx over ASGI, no sockets) on the database at URL, sends each of
bench_ab's requests WARMUP times untimed, then REQUESTS times, and prints one JSON object:
CPU milliseconds per request (this process's user + system time: the app and the in-process
client, which is the same on both sides of a comparison; PostgreSQL's own time is not in it).
The `trainql` imported is whichever PYTHONPATH puts first, so the same script measures any
commit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.bench_mlflow_peer import GRAPHQL_FILTER, GRAPHQL_PAGE, GRAPHQL_RUN, REST_FILTERED
from bench.bench_mlflow_peer import REST_PAGE as REST_FIRST
from trainql.app import create_app
from trainql.config import Settings


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


async def measure(url: str, token: str, run_id: int, requests: int, warmup: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="trainql-cost-"))
    app = create_app(Settings(state_dir=state, database_url=url, log_level="WARNING"))
    out: dict[str, float] = {}
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Token {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            for name, (method, path, body) in requests_for(run_id).items():
                for i in range(warmup + requests):
                    if i == warmup:
                        started = time.process_time()
                    response = await client.request(method, path, json=body)
                    if response.status_code != 200 or '"errors"' in response.text[:20]:
                        raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
                out[name] = (time.process_time() - started) * 1000 / requests
    return out


if __name__ == "__main__":
    url, token, run_id, requests, warmup = sys.argv[1:6]
    result = asyncio.run(measure(url, token, int(run_id), int(requests), int(warmup)))
    print(json.dumps(result))
