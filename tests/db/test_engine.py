"""db/engine.py's one translation of driver errors, seen through HTTP.

A pool with no free connection (both databases) and a PostgreSQL that is stopped and started
again (a private cluster this module starts itself) answer 503 with Retry-After on both
transports, never 500; the service recovers when the database returns, and every write that
was acknowledged before the outage is still there after it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from tests.datasets_support import SKILLS_CSV, dataset_files
from tests.factories import PREFLIGHT, Factory
from tests.lifespan import app_lifespan
from tests.live import LiveServer, live_server, settings_env
from tests.pg_cluster import PrivateCluster, private_cluster
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import datasets as dataset_store
from trainql.domain import DatasetTrainingStatus
from trainql.services import Services

UNAVAILABLE = "The database is unavailable; retry shortly."
REST_UNAVAILABLE = {"detail": UNAVAILABLE}
GRAPHQL_UNAVAILABLE_ERROR = {"message": UNAVAILABLE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}
ME = "{ me { username } }"
SET_STATUS = """
mutation Set($id: UUID!) {
  setTrainingStatus(datasetId: $id, trainingStatus: TRAINED) { trainingStatus }
}
"""
CREATE = """
mutation Create($file: Upload!) { createDataset(name: "during", file: $file) { id } }
"""


def graphql_errors_without_locations(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in error.items() if key not in {"locations", "path"}}
        for error in body.get("errors") or []
    ]


# --- a pool with no free connection (both databases)


@pytest.fixture
async def one_connection_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with a pool of exactly one connection and a 0.2 s pool timeout."""
    narrow = settings.model_copy(
        update={
            "database_pool_size": 1,
            "database_max_overflow": 0,
            "database_pool_timeout_s": 0.2,
        }
    )
    application = create_app(narrow)
    async with app_lifespan(application):
        yield application


async def test_a_pool_timeout_answers_503_with_retry_after_on_both_transports(
    one_connection_app: FastAPI, settings: Settings
):
    # given: a user, and the pool's only connection held elsewhere
    services: Services = one_connection_app.state.services
    hr = await Factory(services).hr_staff()
    dataset = await Factory(services).dataset()
    transport = httpx.ASGITransport(app=one_connection_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with services.db.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            # when: the token lookup (REST and GraphQL), a resolver's read, a write
            rest_read = await client.get("/api/training/runs/", headers=hr.headers)
            rest_write = await client.patch(
                f"/ai/dataset/{dataset.id}/training-status", data={"training_status": "trained"}
            )
            graphql_me = await client.post("/graphql", json={"query": ME}, headers=hr.headers)
            graphql_write = await client.post(
                "/graphql", json={"query": SET_STATUS, "variables": {"id": str(dataset.id)}}
            )
            # an automatic persisted query looked up by its hash (in the database on
            # PostgreSQL; SQLite's are kept in each process)
            hash_only = await client.post(
                "/graphql",
                json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "a" * 64}}},
            )
            ready = await client.get("/readyz")
        # and when the connection is free again
        after = await client.post("/graphql", json={"query": ME}, headers=hr.headers)

    # then: 503 and Retry-After everywhere, in each transport's shape
    for response in (rest_read, rest_write):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json() == REST_UNAVAILABLE
    for response in (graphql_me, graphql_write):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["data"] is None
        assert graphql_errors_without_locations(response.json()) == [GRAPHQL_UNAVAILABLE_ERROR]
    if services.db.dialect == "postgresql":
        assert hash_only.status_code == 503
        assert hash_only.headers["retry-after"] == "1"
        assert hash_only.json()["errors"] == [GRAPHQL_UNAVAILABLE_ERROR]
    else:
        assert hash_only.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
    assert ready.status_code == 503
    assert after.status_code == 200
    assert after.json() == {"data": {"me": {"username": "hr"}}}
    # nothing was written while the database was away
    async with services.db.session() as session:
        unchanged = await dataset_store.get_dataset(session, dataset_id=dataset.id)
    assert unchanged is not None
    assert unchanged.training_status == DatasetTrainingStatus.NOT_TRAINED


async def test_a_bad_statement_is_a_bug_not_an_outage(services: Services):
    # A driver error that is ours (bad SQL) is not disguised as the database being away:
    # it stays the driver's error, which the transports mask as a 500 and log.
    expected = OperationalError if services.db.dialect == "sqlite" else ProgrammingError
    with pytest.raises(expected, match="no_such_column"):
        async with services.db.session() as session:
            await session.exec(text("SELECT no_such_column FROM users"))  # type: ignore[call-overload]


async def test_nul_in_a_filter_is_a_400_on_postgresql_and_matches_nothing_on_sqlite(
    client: httpx.AsyncClient, factory: Factory, backend: str
):
    # given
    hr = await factory.hr_staff()
    # when: a NUL character, which PostgreSQL text cannot hold
    response = await client.get("/api/training/runs/?trained_by=a%00b", headers=hr.headers)
    # then
    if backend == "postgresql":
        assert response.status_code == 400
        assert response.json() == {
            "detail": "Text in the request contains a NUL character (\\u0000), which cannot be "
            "stored or searched for; remove it."
        }
    else:
        assert response.status_code == 200
        assert response.json()["count"] == 0


# --- a PostgreSQL that stops and starts again (a private cluster)

ADMIN_PASSWORD = "outage-admin-password"
WRITER_DEADLINE_S = 120.0
RECOVERY_DEADLINE_S = 30.0
# How long an upload in doubt may take to settle once the database is back.
SETTLE_DEADLINE_S = 10.0


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as started:
        yield started


class UploadWriter(threading.Thread):
    """Uploads datasets back to back until told to stop (or a deadline passes), keeping the
    id of every upload answered 201 and any answer that is neither 201 nor 503."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.acknowledged: list[str] = []
        self.refused = 0
        self.unexpected: list[tuple[int, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + WRITER_DEADLINE_S
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self.stopping.is_set() and time.monotonic() < deadline:
                response = http.post(
                    "/ai/datasets",
                    data={"name": "writer"},
                    files={"file": ("w.csv", SKILLS_CSV)},
                )
                if response.status_code == 201:
                    self.acknowledged.append(response.json()["id"])
                elif response.status_code == 503:
                    self.refused += 1
                else:
                    self.unexpected.append((response.status_code, response.text))
                time.sleep(0.02)


def _upload(http: httpx.Client, name: str) -> httpx.Response:
    return http.post("/ai/datasets", data={"name": name}, files={"file": ("s.csv", SKILLS_CSV)})


def _graphql_upload(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return http.post(
        "/graphql",
        headers={**PREFLIGHT, **headers},
        files=[
            ("operations", (None, json.dumps({"query": CREATE, "variables": {"file": None}}))),
            ("map", (None, json.dumps({"0": ["variables.file"]}))),
            ("0", ("s.csv", SKILLS_CSV, "text/csv")),
        ],
    )


def _stored_datasets(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, training_status FROM datasets").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


@pytest.mark.slow
def test_a_stopped_postgresql_answers_503_then_recovers_with_every_acknowledged_write(
    cluster: PrivateCluster, tmp_path: Path
):
    state = tmp_path / "state"
    env = settings_env(
        database_url=cluster.url,
        state_dir=state,
        extra={"TRAINQL_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    settings = Settings(state_dir=state, database_url=cluster.url, data_root=state / "data")
    expected: dict[str, str] = {}  # every acknowledged dataset -> its last acknowledged status
    server: LiveServer
    with (
        live_server(env, log_path=tmp_path / "serve.log") as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        login = http.post(
            "/api-token-auth/", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Token {login.json()['token']}"}
        # given: writes acknowledged before the outage
        for name in ("a", "b", "c"):
            created = _upload(http, name)
            assert created.status_code == 201, created.text
            expected[created.json()["id"]] = "not_trained"
        first = next(iter(expected))
        flipped = http.patch(
            f"/ai/dataset/{first}/training-status", data={"training_status": "trained"}
        )
        assert flipped.status_code == 200, flipped.text
        expected[first] = "trained"
        owned = _graphql_upload(http, auth)
        assert owned.status_code == 200, owned.text
        expected[owned.json()["data"]["createDataset"]["id"]] = "not_trained"
        # and a writer uploading back to back through the outage
        writer = UploadWriter(server.base_url)
        writer.start()
        time.sleep(0.5)

        # when: the database stops as in a crash
        cluster.stop("immediate")
        files_before = set(dataset_files(settings))
        during = {
            "rest list": http.get("/api/training/runs/", headers=auth),
            "rest detail": http.get("/api/training/runs/1/", headers=auth),
            "rest status": http.patch(
                f"/ai/dataset/{first}/training-status", data={"training_status": "not_trained"}
            ),
            "rest upload": _upload(http, "during"),
            "rest login": http.post(
                "/api-token-auth/", json={"username": "admin", "password": ADMIN_PASSWORD}
            ),
            "graphql me": http.post("/graphql", json={"query": ME}, headers=auth),
            "graphql write": http.post(
                "/graphql", json={"query": SET_STATUS, "variables": {"id": first}}
            ),
            "graphql upload": _graphql_upload(http, {}),
        }
        ready_during = http.get("/readyz")
        health_during = http.get("/healthz")
        files_during = set(dataset_files(settings))

        # and when it starts again
        cluster.start()
        restarted = time.monotonic()
        while True:
            back = http.get("/api/training/runs/", headers=auth)
            if back.status_code == 200 or time.monotonic() - restarted > RECOVERY_DEADLINE_S:
                break
            time.sleep(0.05)
        recovery_s = time.monotonic() - restarted
        time.sleep(0.5)
        writer.stopping.set()
        writer.join(timeout=30)
        ready_after = http.get("/readyz")
        # An upload whose COMMIT the crash cut short settles once the database answers.
        settle_by = time.monotonic() + SETTLE_DEADLINE_S
        while True:
            rows = {f"{dataset_id}.csv" for dataset_id in _stored_datasets(cluster.url)}
            settled_files = set(dataset_files(settings))
            if settled_files == rows or time.monotonic() > settle_by:
                break
            time.sleep(0.1)
        log = server.output()

    # then: during the outage every operation was 503 with Retry-After, in its shape
    for name, response in during.items():
        assert response.status_code == 503, (name, response.text)
        assert response.headers["retry-after"] == "1", name
        if name.startswith("rest"):
            assert response.json() == REST_UNAVAILABLE, name
        else:
            assert graphql_errors_without_locations(response.json()) == [
                GRAPHQL_UNAVAILABLE_ERROR
            ], name
    assert ready_during.status_code == 503
    assert health_during.status_code == 200
    # The refused uploads left no file. The writer's upload in flight at that instant may
    # hold its temp file, or, when the crash cut its COMMIT short, its file (whose row may be
    # stored: the service keeps it until the database can say); both are checked settled at
    # the end (no file without its row, nor a row without its file).
    left = {name for name in files_during if not name.startswith(".upload-")} - files_before
    assert len(left) <= 1, left
    # and the service came back on its own
    assert back.status_code == 200, back.text
    assert ready_after.status_code == 200
    print(f"recovered {recovery_s * 1000:.0f} ms after the database was back")
    # the writer saw only 201s and 503s, some of each
    assert writer.unexpected == []
    assert writer.refused > 0
    assert writer.acknowledged
    assert "Traceback" not in log
    # every acknowledged write is in the database, with its file
    for dataset_id in writer.acknowledged:
        expected[dataset_id] = "not_trained"
    stored = _stored_datasets(cluster.url)
    assert {key: stored.get(key) for key in expected} == expected
    # and no file is left without its row, nor a row without its file
    assert settled_files == {f"{dataset_id}.csv" for dataset_id in stored}
