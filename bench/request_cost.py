"""CPU time per request of the app in this process: the child `bench_ab --inprocess` runs.

    python -m bench.request_cost URL TOKEN RUN_ID REQUESTS WARMUP [elsewhere]

Serves the app in-process (httpx over ASGI, no sockets) on the database at URL, sends each of
bench_ab's requests WARMUP times untimed (all kinds before any is timed), then each kind
REQUESTS times, and prints one JSON object:
CPU milliseconds per request (this process's user + system time: the app and the in-process
client, which is the same on both sides of a comparison; PostgreSQL's own time is not in it).
The `trainql` imported is whichever PYTHONPATH puts first, so the same script measures any
commit.

With `elsewhere`, the requests the peer bench does not send are measured too (issue 14's
"nothing slower elsewhere"): a page after a cursor, a page by accuracy, `me`, the filtered page
as a hash-only APQ GET, a batch of 10 runs by id, and REST's second and 500th pages.

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
from urllib.parse import urlencode

import httpx
from asgi_lifespan import LifespanManager

from bench.bench_graphql_transport import apq_extensions
from bench.bench_mlflow_peer import (
    GRAPHQL_BY_ACCURACY,
    GRAPHQL_FILTER,
    GRAPHQL_PAGE,
    GRAPHQL_RUN,
    REST_FILTERED,
)
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


BATCH = 10
ME = "{ me { username roles } }"


def elsewhere_requests(run_id: int, after: str) -> dict[str, tuple[str, str, Any]]:
    """The requests of `elsewhere`; `after` is the first page's end cursor, as this side's
    own code wrote it."""
    extensions = apq_extensions(GRAPHQL_PAGE)
    apq_get = "/graphql?" + urlencode(
        {"extensions": json.dumps(extensions), "variables": json.dumps({"filter": GRAPHQL_FILTER})}
    )
    run = {"query": GRAPHQL_RUN, "variables": {"id": str(run_id)}}
    return {
        "graphql page after a cursor": (
            "POST",
            "/graphql",
            {"query": GRAPHQL_PAGE, "variables": {"after": after}},
        ),
        "graphql page by accuracy": (
            "POST",
            "/graphql",
            {"query": GRAPHQL_PAGE, "variables": {"orderBy": GRAPHQL_BY_ACCURACY}},
        ),
        "graphql me": ("POST", "/graphql", {"query": ME}),
        "graphql filtered page, apq get": ("GET", apq_get, None),
        "graphql batch of 10 runs by id": ("POST", "/graphql", [run] * BATCH),
        "rest second page": ("GET", f"{REST_FIRST}&page=2", None),
        "rest 500th page": ("GET", f"{REST_FIRST}&page=500", None),
    }


async def register_page(client: httpx.AsyncClient) -> str:
    """The filtered page registered as a persisted query (Apollo's full-query retry), and the
    first page's end cursor."""
    extensions = apq_extensions(GRAPHQL_PAGE)
    body = {"query": GRAPHQL_PAGE, "variables": {"filter": GRAPHQL_FILTER}}
    registered = await client.post("/graphql", json={**body, "extensions": extensions})
    registered.raise_for_status()
    first = await client.post("/graphql", json={"query": GRAPHQL_PAGE, "variables": {}})
    cursor: str = first.json()["data"]["trainingRuns"]["pageInfo"]["endCursor"]
    return cursor


def keep_tokens() -> None:
    """Under callgrind a request takes about half a second, so the token cache's half-second
    entries would expire every request or two, and a lookup that a live server makes once per
    hundreds of requests would be counted in many (and in a number that depends on timing).
    The token was looked up in the warm-up; it is kept from then on."""
    for cache in auth._token_caches.values():
        cache.ttl = math.inf


async def measure(
    url: str, token: str, run_id: int, requests: int, warmup: int, *, elsewhere: bool = False
) -> dict[str, Any]:
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
            if elsewhere:
                kinds |= elsewhere_requests(run_id, await register_page(client))

            async def send(name: str, method: str, path: str, body: Any) -> httpx.Response:
                response = await client.request(method, path, json=body)
                if response.status_code != 200 or '"errors"' in response.text[:20]:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
                return response

            # Every kind warmed before any is measured: what one kind leaves warm for the
            # next (statements prepared, caches filled) is then in no count.
            for name, (method, path, body) in kinds.items():
                for _ in range(max(warmup, 1)):
                    answer = (await send(name, method, path, body)).json()
                # Every answer of a batch checked once for errors (not in the counts).
                for item in answer if isinstance(answer, list) else [answer]:
                    if "errors" in item or item.get("data", True) is None:
                        raise RuntimeError(f"{name}: {json.dumps(item)[:300]}")
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
    elsewhere = sys.argv[6:7] == ["elsewhere"]
    result = asyncio.run(
        measure(url, token, int(run_id), int(requests), int(warmup), elsewhere=elsewhere)
    )
    print(json.dumps(result))
