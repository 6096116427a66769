"""Dispatching trainings: which executors a deployment may use, and the Dask executor on a
real cluster.

The cluster tests (marked `cluster`, PostgreSQL only) start a `dask scheduler`, two `dask
worker` processes (two threads and one `training` slot each), a local S3 server (moto's,
in this process) holding the data root and the model directory, and two `trainql serve`
instances A and B on one PostgreSQL database; they kill processes by PID with SIGKILL and
bound every wait. Leases are short (6 s) so that a lost worker is noticed quickly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.cluster import DaskCluster, dask_cluster
from tests.conftest import POSTGRES_ENV, _pg_admin, in_ci
from tests.live import LiveServer, live_server, settings_env
from tests.s3_support import S3Server
from trainql.background import BackgroundTasks
from trainql.config import Settings
from trainql.db import migrate
from trainql.db.engine import Database
from trainql.dispatchers import DaskDispatcher, UnsupportedExecutor, create_dispatcher
from trainql.ml.generator import generate_future_skills

# --- Which executor a deployment may use (no cluster needed) ------------------------------------

POSTGRES = "postgresql://trainql@127.0.0.1:1/never_connected"


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(state_dir=tmp_path, **values)


def test_the_dask_executor_is_refused_on_sqlite(tmp_path: Path):
    settings = _settings(tmp_path, executor="dask://127.0.0.1:8786", data_root="s3://b/d")
    with pytest.raises(UnsupportedExecutor, match=r"'dask://127.0.0.1:8786' needs PostgreSQL"):
        create_dispatcher(settings, Database(settings.database_url), BackgroundTasks())


@pytest.mark.parametrize("setting", ["data_root", "model_dir"])
def test_the_dask_executor_is_refused_with_storage_the_workers_may_not_share(
    tmp_path: Path, setting: str
):
    shared = {"data_root": "s3://b/data", "model_dir": "s3://b/models"}
    settings = _settings(
        tmp_path,
        executor="dask://127.0.0.1:8786",
        database_url=POSTGRES,
        **{**shared, setting: str(tmp_path / "local")},
    )
    variable = f"TRAINQL_{setting.upper()}"
    with pytest.raises(
        UnsupportedExecutor,
        match=rf"needs storage that every worker shares, and {variable}='{tmp_path}/local' "
        "is a plain local path. Use s3://bucket/prefix, or file:///path when",
    ):
        create_dispatcher(settings, Database(POSTGRES), BackgroundTasks())


async def test_a_file_url_is_the_operators_word_that_storage_is_shared(tmp_path: Path):
    # given: file:// storage (a shared filesystem) and a scheduler that is not there
    settings = _settings(
        tmp_path,
        executor="dask://127.0.0.1:1",
        database_url=POSTGRES,
        data_root=f"file://{tmp_path}/data",
        model_dir=f"file://{tmp_path}/models",
    )
    # when
    dispatcher = create_dispatcher(settings, Database(POSTGRES), BackgroundTasks())
    # then: accepted; starting it says the scheduler cannot be reached
    assert isinstance(dispatcher, DaskDispatcher)
    with pytest.raises(UnsupportedExecutor, match=r"Could not reach the Dask scheduler at tcp"):
        await dispatcher.start()


def test_an_unknown_executor_names_the_ones_there_are(tmp_path: Path):
    settings = _settings(tmp_path, executor="celery://broker")
    with pytest.raises(
        UnsupportedExecutor, match=r"'celery://broker' is not supported: use 'local' .* 'dask://"
    ):
        create_dispatcher(settings, Database(settings.database_url), BackgroundTasks())


# --- The cluster ---------------------------------------------------------------------------------

PASSWORD = "cluster-admin-pw"
LEASE_S = 6
MAX_ATTEMPTS = 2
SPLIT_FIT_MIN_ROWS = 15_000
WAIT_S = 180.0
SUBSCRIPTION = """
subscription Watch($id: ID!) { trainingRunUpdated(id: $id) { status attempt worker } }
"""


@dataclass
class Deployment:
    """The cluster, its storage, its database and the API instances serving it."""

    database_url: str
    bucket: str
    s3: S3Server
    dask: DaskCluster
    env: dict[str, str]
    directory: Path
    instances: dict[str, LiveServer] = field(default_factory=dict)
    stacks: dict[str, ExitStack] = field(default_factory=dict)
    token: str = ""

    def start(self, name: str, *args: str, **settings: str) -> LiveServer:
        """A `trainql serve` instance named `name` (`args` for the command, TRAINQL_*
        overrides as keywords)."""
        stack = ExitStack()
        extra = {f"TRAINQL_{key.upper()}": value for key, value in settings.items()}
        server = stack.enter_context(
            live_server(
                {**self.env, **extra}, log_path=self.directory / f"api-{name}.log", args=args
            )
        )
        self.instances[name], self.stacks[name] = server, stack
        return server

    def stop(self, name: str) -> None:
        self.instances.pop(name, None)
        self.stacks.pop(name).close()

    def kill(self, name: str) -> None:
        """SIGKILL an instance (its uvicorn process group), as a crash would."""
        server = self.instances[name]
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)
        self.stop(name)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def train(self, name: str, **body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.instances[name].base_url}/api/training/train/",
            json=body,
            headers=self.headers,
            timeout=WAIT_S,
        )

    def run(self, run_id: int) -> dict[str, Any]:
        """The run's lifecycle columns, read straight from the database."""
        with psycopg.connect(_libpq(self.database_url)) as conn:
            row = conn.execute(
                "SELECT status, attempt, lease_owner, error_message, error_code, model_path "
                "FROM training_runs WHERE id = %s",
                (run_id,),
            ).fetchone()
        assert row is not None
        keys = ("status", "attempt", "worker", "error_message", "error_code", "model_path")
        return dict(zip(keys, row, strict=True))

    def wait_for(
        self, run_id: int, done: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            run = self.run(run_id)
            if done(run):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} never {what}: {run}\n{self.logs()}")
            time.sleep(0.1)

    def finished(self, run_id: int) -> dict[str, Any]:
        return self.wait_for(run_id, lambda r: r["status"] in {"COMPLETED", "FAILED"}, "ended")

    def running(self, run_id: int) -> dict[str, Any]:
        return self.wait_for(run_id, lambda r: r["status"] == "RUNNING", "ran")

    def unfinished(self) -> list[int]:
        with psycopg.connect(_libpq(self.database_url)) as conn:
            rows = conn.execute(
                "SELECT id FROM training_runs WHERE status IN ('QUEUED', 'RUNNING') ORDER BY id"
            ).fetchall()
        return [row[0] for row in rows]

    def models(self) -> list[str]:
        """Every object in the model directory, temporary ones included."""
        return [key.split("/models/", 1)[1] for key in self.s3.keys(f"{self.bucket}/models")]

    def put_dataset(self, name: str, rows: int, seed: int = 7) -> str:
        import fsspec

        csv = generate_future_skills(rows, seed=seed).to_csv(index=False).encode()
        fsspec.filesystem("s3").pipe(f"{self.bucket}/data/{name}", csv)
        return name

    def logs(self) -> str:
        parts = [f"--- {n}\n{s.output()[-3000:]}" for n, s in self.instances.items()]
        parts += [f"--- {w.name}\n{w.output()[-3000:]}" for w in self.dask.workers]
        return "\n".join(parts)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def worker_pid(run: dict[str, Any]) -> int:
    found = re.search(r"\(pid (\d+)\)", run["worker"] or "")
    assert found, run
    return int(found.group(1))


@pytest.fixture(scope="module")
def deployment(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set; CI runs the cluster tests on PostgreSQL")
        pytest.skip(f"{POSTGRES_ENV} not set: the cluster tests need PostgreSQL")
    pytest.importorskip("distributed")
    name = f"trainql_cluster_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _pg_admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    directory = tmp_path_factory.mktemp("cluster")
    bucket = s3_server.new_bucket()
    env = settings_env(
        database_url=url,
        state_dir=directory / "state",
        extra={
            **s3_server.env,
            "TRAINQL_DATA_ROOT": f"s3://{bucket}/data",
            "TRAINQL_MODEL_DIR": f"s3://{bucket}/models",
            "TRAINQL_ADMIN_PASSWORD": PASSWORD,
            "TRAINQL_TRAINING_LEASE_S": str(LEASE_S),
            "TRAINQL_RECONCILE_INTERVAL_S": "1",
            "TRAINQL_TRAINING_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "TRAINQL_SUBSCRIPTION_POLL_INTERVAL_S": "0.2",
            "TRAINQL_DASK_SPLIT_FIT_MIN_ROWS": str(SPLIT_FIT_MIN_ROWS),
        },
    )
    try:
        with dask_cluster(directory / "dask", env, workers=2) as cluster:
            env["TRAINQL_EXECUTOR"] = cluster.executor_setting
            deployed = Deployment(
                database_url=url,
                bucket=bucket,
                s3=s3_server,
                dask=cluster,
                env=env,
                directory=directory,
            )
            try:
                for instance in ("A", "B"):
                    deployed.start(instance)
                login = httpx.post(
                    f"{deployed.instances['A'].base_url}/api-token-auth/",
                    json={"username": "admin", "password": PASSWORD},
                )
                deployed.token = login.json()["token"]
                deployed.put_dataset("small.csv", 2_000)
                deployed.put_dataset("medium.csv", 12_000)
                deployed.put_dataset("large.csv", 20_000)
                yield deployed
            finally:
                for instance in list(deployed.stacks):
                    deployed.stop(instance)
    finally:
        with _pg_admin(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cluster(deployment: Deployment) -> Iterator[Deployment]:
    """The deployment with A and B serving; after the test, every run has ended."""
    for instance in ("A", "B"):
        if instance not in deployment.instances:
            deployment.start(instance)
    yield deployment
    for run_id in deployment.unfinished():
        deployment.finished(run_id)


MEDIUM = {"dataset_path": "medium.csv", "hyperparameters": {"n_estimators": 200}}


def _background(cluster: Deployment, instance: str, version: str, **body: Any) -> int:
    response = cluster.train(
        instance, async_training=True, model_version=version, **{**MEDIUM, **body}
    )
    assert response.status_code == 202, response.text
    return int(response.json()["training_run_id"])


@pytest.mark.cluster
async def test_a_run_submitted_to_one_instance_is_followed_on_the_other_to_its_model_on_s3(
    cluster: Deployment,
):
    # given: both workers' training slots taken, so that the next run waits QUEUED
    blockers = [_background(cluster, "A", f"block-{n}") for n in (1, 2)]
    workers = {cluster.running(run_id)["worker"].split(" ")[0] for run_id in blockers}
    # when: a run is submitted to A and watched on B
    run_id = _background(cluster, "A", "followed", dataset_path="small.csv")
    statuses = await _watch(cluster.instances["B"], run_id, cluster.token)
    # then
    assert [s["status"] for s in statuses] == ["QUEUED", "RUNNING", "COMPLETED"]
    assert statuses[1]["attempt"] == 1 and statuses[1]["worker"].startswith("tcp://127.0.0.1:")
    # the blockers held one slot each: two workers, one training at a time on each
    assert len(workers) == 2
    run = cluster.finished(run_id)
    assert run["model_path"] == f"s3://{cluster.bucket}/models/followed.joblib"
    from trainql.ml.model_store import load_model

    features = generate_future_skills(10, seed=3).drop(columns=["future_need_level"])
    assert set(load_model(run["model_path"]).predict(features)) <= {"LOW", "MEDIUM", "HIGH"}


async def _watch(server: LiveServer, run_id: int, token: str) -> list[dict[str, Any]]:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    url = server.base_url.replace("http://", "ws://") + "/graphql"
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_S):
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Token {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {"id": str(run_id)}},
                    }
                )
            )
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "complete":
                    return seen
                assert message["type"] == "next", message
                seen.append(message["payload"]["data"]["trainingRunUpdated"])


@pytest.mark.cluster
def test_killing_the_instance_that_submitted_a_running_run_does_not_stop_it(
    cluster: Deployment,
):
    # given
    run_id = _background(cluster, "A", "orphaned-api")
    cluster.running(run_id)
    # when
    cluster.kill("A")
    # then: it ends on its own, as its first attempt
    run = cluster.finished(run_id)
    assert (run["status"], run["attempt"]) == ("COMPLETED", 1)


@pytest.mark.cluster
def test_a_run_recorded_by_an_instance_that_crashed_before_dispatching_is_run_by_another(
    cluster: Deployment,
):
    # given: an instance that dies right after recording a run
    crashing = cluster.start("C", crash_before_dispatch="true")
    # when
    with pytest.raises(httpx.TransportError):
        cluster.train("C", async_training=True, model_version="undispatched", **MEDIUM)
    assert crashing.process.wait(timeout=30) == 70
    cluster.stop("C")
    # then: another instance's reconciler dispatches it once its dispatch lease runs out
    [run_id] = cluster.unfinished()
    run = cluster.finished(run_id)
    assert (run["status"], run["attempt"]) == ("COMPLETED", 1)


@pytest.mark.cluster
def test_a_killed_worker_is_retried_and_killing_every_attempt_fails_the_run(
    cluster: Deployment,
):
    # given / when: the worker running attempt 1 killed
    run_id = _background(cluster, "A", "worker-killed-once")
    os.kill(worker_pid(cluster.running(run_id)), signal.SIGKILL)
    # then: attempt 2 completes it (the worker's nanny starts a new worker meanwhile)
    run = cluster.finished(run_id)
    assert (run["status"], run["attempt"]) == ("COMPLETED", 2), run
    assert run["model_path"].endswith("worker-killed-once~attempt-2.joblib")

    # when: every attempt's worker killed
    doomed = _background(cluster, "B", "worker-killed-always")
    for attempt in range(1, MAX_ATTEMPTS + 1):

        def attempt_runs(run: dict[str, Any], attempt: int = attempt) -> bool:
            return bool(run["status"] == "RUNNING" and run["attempt"] == attempt)

        os.kill(worker_pid(cluster.wait_for(doomed, attempt_runs, "ran")), signal.SIGKILL)
    # then: FAILED, never RUNNING forever, and no model left behind
    failed = cluster.finished(doomed)
    assert (failed["status"], failed["error_code"]) == ("FAILED", "WORKER_LOST")
    assert failed["error_message"].startswith(
        f"worker lost: the worker running attempt {MAX_ATTEMPTS}"
    )
    cluster.dask.wait_for_workers(2)
    assert not [m for m in cluster.models() if m.startswith("worker-killed-always")]


@pytest.mark.cluster
def test_starting_another_instance_while_one_trains_fails_nothing(cluster: Deployment):
    # given
    run_id = _background(cluster, "A", "rolling-deploy")
    cluster.running(run_id)
    # when: an instance of two uvicorn workers starts, and trains too
    cluster.start("D", "--workers", "2")
    trained = cluster.train("D", dataset_path="small.csv", model_version="from-two-workers")
    cluster.stop("D")
    # then
    run = cluster.finished(run_id)
    assert (run["status"], run["attempt"], run["error_message"]) == ("COMPLETED", 1, None)
    assert trained.status_code == 201, trained.text


@pytest.mark.cluster
def test_after_a_scheduler_restart_every_run_ends_once_and_no_model_is_orphaned(
    cluster: Deployment,
):
    # given: runs running and queued
    runs = [_background(cluster, "AB"[n % 2], f"restart-{n}") for n in range(4)]
    cluster.running(runs[0])
    # when: the scheduler and its workers killed, and started again
    cluster.dask.kill_all()
    time.sleep(1)
    cluster.dask.start_scheduler()
    for n in (1, 2):
        cluster.dask.start_worker(f"w{n}")
    cluster.dask.wait_for_workers(2)
    # then: each run ended, once
    ended = {run_id: cluster.finished(run_id) for run_id in runs}
    assert all(run["status"] in {"COMPLETED", "FAILED"} for run in ended.values()), ended
    completed = sorted(
        run["model_path"].rsplit("/", 1)[1]
        for run in ended.values()
        if run["status"] == "COMPLETED"
    )
    written = sorted(m for m in cluster.models() if m.startswith("restart-") or ".restart-" in m)
    assert written == completed, (written, ended)


@pytest.mark.cluster
def test_the_time_limit_stops_a_dask_training_and_frees_its_worker(cluster: Deployment):
    # given: an instance whose trainings may take 3 s
    cluster.start("E", training_timeout_s="3")
    # when
    response = cluster.train(
        "E", dataset_path="large.csv", hyperparameters={"n_estimators": 1000}, model_version="slow"
    )
    cluster.stop("E")
    # then
    assert response.status_code == 500
    body = response.json()
    assert (
        body["detail"] == "Training failed: Training stopped after 3s (TRAINQL_TRAINING_TIMEOUT_S)."
    )
    run = cluster.run(body["training_run_id"])
    assert (run["status"], run["error_code"]) == ("FAILED", "TRAINING_TIMEOUT")
    # and both workers train again at once (the slot of the stopped one is free)
    after = [
        _background(cluster, "A", f"after-timeout-{n}", dataset_path="small.csv") for n in (1, 2)
    ]
    assert [cluster.finished(r)["status"] for r in after] == ["COMPLETED", "COMPLETED"]
    assert "slow.joblib" not in cluster.models()


@pytest.mark.cluster
def test_a_split_fit_builds_trees_on_both_workers_and_predicts_as_the_local_executor(
    cluster: Deployment, tmp_path: Path
):
    import numpy as np
    from distributed import Client, get_task_stream

    from trainql.ml.jobs import TrainingJob
    from trainql.ml.model_store import load_model
    from trainql.ml.training import train
    from trainql.training_request import Hyperparameters

    # given
    hyperparameters = {"n_estimators": 60, "max_depth": 12}
    with Client(cluster.dask.address, set_as_default=False) as client:
        with get_task_stream(client=client) as stream:
            # when: a training split of 16,000 rows (over TRAINQL_DASK_SPLIT_FIT_MIN_ROWS)
            response = cluster.train(
                "A",
                dataset_path="large.csv",
                hyperparameters=hyperparameters,
                model_version="split",
            )
        assert response.status_code == 201, response.text
        tasks = stream.data
    # then: batches of trees ran on both workers. joblib names a batch
    # "batch_of__parallel_build_trees_1_calls", or "mixed_batch_of_..." once it holds more
    # than one call (scikit-learn wraps each call in its own function), as batches grow on
    # a fast machine.
    batches = [t for t in tasks if "batch_of__parallel_build_trees_" in str(t["key"])]
    assert len({t["worker"] for t in batches}) == 2, [(t["key"], t["worker"]) for t in tasks]
    # and the model predicts exactly as the local executor's for the same data
    local_csv = tmp_path / "large.csv"
    local_csv.write_bytes(generate_future_skills(20_000, seed=7).to_csv(index=False).encode())
    reference = train(
        TrainingJob(
            dataset_path=local_csv,
            dataset_display="large.csv",
            target_column="future_need_level",
            test_split=0.2,
            hyperparameters=Hyperparameters(**hyperparameters),
            model_path=tmp_path / "local.joblib",
        )
    )
    run = cluster.run(response.json()["training_run_id"])
    features = generate_future_skills(20_000, seed=7).drop(columns=["future_need_level"])
    split_predictions = load_model(run["model_path"]).predict(features)
    local_predictions = load_model(tmp_path / "local.joblib").predict(features)
    assert np.array_equal(split_predictions, local_predictions)
    assert response.json()["metrics"]["accuracy"] == reference.accuracy
