"""trainingRunUpdated over graphql-transport-ws, against real uvicorn servers.

Two `trainql serve` processes share one database per backend (module-scoped: each costs
seconds to start): `watcher` holds the sockets (CORS origin configured, small bounds), and
`trainer` trains, so every update a subscriber sees crossed a process boundary. The test
process writes rows through the service's own store functions: a third process.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.conftest import BACKENDS, _truncate_postgres
from tests.factories import Account, Factory
from tests.live import LiveServer, live_server, settings_env
from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.services import Services

pytestmark = pytest.mark.slow

ALLOWED_ORIGIN = "http://app.example"
OTHER_ORIGIN = "http://evil.example"
MAX_SUBSCRIPTIONS = 2
TIMEOUT = 60.0

SUBSCRIPTION = """
subscription Watch($id: ID!) {
  trainingRunUpdated(id: $id) {
    id
    status
    errorMessage
    metrics { accuracy }
    trainedBy { username }
  }
}
"""


@dataclass
class Servers:
    watcher: LiveServer
    trainer: LiveServer
    database_url: str
    state_dir: Path


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Module-scoped here, so each database gets one pair of servers."""
    return str(request.param)


@pytest.fixture(scope="module")
def servers(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp(f"subscriptions-{backend}")
    if backend == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        _truncate_postgres(url)
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp / "trainql.db")
        url = f"sqlite:///{tmp / 'trainql.db'}"
    common = {"TRAINQL_SUBSCRIPTION_POLL_INTERVAL_S": "0.1"}
    watcher_env = common | {
        "TRAINQL_CORS_ORIGINS": ALLOWED_ORIGIN,
        "TRAINQL_GRAPHQL_WS_MAX_SUBSCRIPTIONS": str(MAX_SUBSCRIPTIONS),
        "TRAINQL_GRAPHQL_WS_INIT_TIMEOUT_S": "1",
    }
    with ExitStack() as stack:
        # One after the other: both migrate and bootstrap the admin on start.
        watcher = stack.enter_context(
            live_server(
                settings_env(database_url=url, state_dir=tmp / "watcher", extra=watcher_env),
                log_path=tmp / "watcher.log",
            )
        )
        trainer = stack.enter_context(
            live_server(
                settings_env(database_url=url, state_dir=tmp / "trainer", extra=common),
                log_path=tmp / "trainer.log",
            )
        )
        yield Servers(watcher, trainer, url, tmp / "tests")


@pytest.fixture
async def store(servers: Servers) -> AsyncIterator[Services]:
    """The shared database, opened by the test process."""
    settings = Settings(state_dir=servers.state_dir, database_url=servers.database_url)
    services = Services.create(settings)
    yield services
    await services.db.dispose()


@pytest.fixture
def factory(store: Services) -> Factory:
    return Factory(store)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://", 1) + "/graphql"


@asynccontextmanager
async def socket(
    server: LiveServer,
    *,
    headers: dict[str, str] | None = None,
    origin: str | None = None,
    subprotocols: tuple[str, ...] = ("graphql-transport-ws",),
) -> AsyncIterator[ClientConnection]:
    async with connect(
        ws_url(server),
        subprotocols=[Subprotocol(p) for p in subprotocols],
        additional_headers=headers,
        origin=Origin(origin) if origin else None,
        open_timeout=TIMEOUT,
    ) as ws:
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
    # graphql-ws clients (the console's, Apollo's) read text frames only
    assert isinstance(frame, str), f"a binary frame: {frame[:80]!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


@asynccontextmanager
async def session(
    server: LiveServer, payload: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[ClientConnection]:
    """A socket past connection_init and its connection_ack."""
    async with socket(server, **options) as ws:
        await send(ws, {"type": "connection_init", "payload": payload or {}})
        assert await receive(ws) == {"type": "connection_ack"}
        yield ws


def auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Token {account.token}"}


async def subscribe(ws: ClientConnection, run_id: int | str, op_id: str = "1") -> None:
    await send(
        ws,
        {
            "id": op_id,
            "type": "subscribe",
            "payload": {"query": SUBSCRIPTION, "variables": {"id": str(run_id)}},
        },
    )


async def until_done(ws: ClientConnection, op_id: str = "1") -> list[dict[str, Any]]:
    """The operation's messages up to and including its `complete` or `error`."""
    messages = []
    while True:
        message = await receive(ws)
        assert message.get("id") == op_id, message
        messages.append(message)
        if message["type"] in {"complete", "error"}:
            return messages


def statuses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["payload"]["data"]["trainingRunUpdated"]["status"] for m in messages[:-1]]


async def queued_run(factory: Factory, **overrides: Any) -> TrainingRun:
    return await factory.training_run(
        status=TrainingRunStatus.QUEUED.value,
        model_path=None,
        accuracy=None,
        precision=None,
        recall=None,
        f1_score=None,
        confusion_matrix=None,
        **overrides,
    )


async def set_status(store: Services, run: TrainingRun, status: TrainingRunStatus) -> None:
    async with store.db.session() as db_session:
        await run_store.set_training_run_status(db_session, run_id=run.id, status=status)


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


# --- updates ---------------------------------------------------------------------------------


async def test_background_run_trained_by_another_process_streams_until_completed(
    servers: Servers, factory: Factory
):
    # given: a background run started on the trainer process
    hr = await factory.hr_staff(unique("hr"))
    async with httpx.AsyncClient(base_url=servers.trainer.base_url, timeout=TIMEOUT) as http:
        started = await http.post(
            "/api/training/train/",
            json={"async_training": True, "hyperparameters": {"n_estimators": 10}},
            headers=hr.headers,
        )
    assert started.status_code == 202, started.text
    run_id = started.json()["training_run_id"]

    # when: watched on the other process
    async with session(servers.watcher, auth(hr)) as ws:
        await subscribe(ws, run_id)
        messages = await until_done(ws)

    # then: each status once, in order, ending COMPLETED with metrics, then `complete`
    assert [m["type"] for m in messages] == ["next"] * (len(messages) - 1) + ["complete"]
    seen = statuses(messages)
    assert seen[-1] == "COMPLETED"
    assert seen == sorted(set(seen), key=["QUEUED", "RUNNING", "COMPLETED"].index)
    last = messages[-2]["payload"]
    assert "errors" not in last
    run = last["data"]["trainingRunUpdated"]
    assert run["id"] == str(run_id)
    assert run["metrics"]["accuracy"] > 0
    assert run["trainedBy"] == {"username": hr.user.username}


async def test_every_status_change_is_emitted_once_in_order(
    servers: Servers, factory: Factory, store: Services
):
    # given
    manager = await factory.manager(unique("boss"))
    run = await queued_run(factory)

    async with session(servers.watcher, auth(manager)) as ws:
        await subscribe(ws, run.id)
        # then: the run as it is now, at once
        first = await receive(ws)
        assert first["type"] == "next"
        assert first["payload"]["data"]["trainingRunUpdated"]["status"] == "QUEUED"

        # when: another process moves it on
        await set_status(store, run, TrainingRunStatus.RUNNING)
        running = await receive(ws)
        assert running["payload"]["data"]["trainingRunUpdated"]["status"] == "RUNNING"

        # several polls pass without a change: nothing is sent for them
        await asyncio.sleep(0.5)
        await set_status(store, run, TrainingRunStatus.COMPLETED)
        rest = await until_done(ws)

    assert statuses(rest) == ["COMPLETED"]
    assert rest[-1] == {"id": "1", "type": "complete"}


async def test_a_finished_run_is_emitted_once_then_completes(servers: Servers, factory: Factory):
    manager = await factory.manager(unique("boss"))
    run = await queued_run(factory)
    failed = await factory.training_run(
        status=TrainingRunStatus.FAILED.value, error_message="fit exploded", accuracy=None
    )

    async with session(servers.watcher, auth(manager)) as ws:
        await subscribe(ws, failed.id)
        messages = await until_done(ws)
        # the connection stays usable after the operation completed
        await subscribe(ws, run.id, op_id="2")
        assert (await receive(ws))["payload"]["data"]["trainingRunUpdated"]["status"] == "QUEUED"

    assert [m["type"] for m in messages] == ["next", "complete"]
    assert messages[0]["payload"]["data"]["trainingRunUpdated"]["errorMessage"] == "fit exploded"
    assert statuses(messages) == ["FAILED"]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["999999", "not-a-number"])
async def test_unknown_run_ends_with_a_not_found_error(
    servers: Servers, factory: Factory, run_id: str
):
    manager = await factory.manager(unique("boss"))
    async with session(servers.watcher, auth(manager)) as ws:
        await subscribe(ws, run_id)
        messages = await until_done(ws)
        # the socket is still open
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}

    assert len(messages) == 1
    assert messages[0]["type"] == "error"
    [error] = messages[0]["payload"]
    assert error["message"] == "Not found."
    assert error["extensions"] == {"code": "NOT_FOUND"}


async def test_without_credentials_the_subscription_is_unauthenticated(
    servers: Servers, factory: Factory
):
    run = await queued_run(factory)
    async with session(servers.watcher) as ws:
        await subscribe(ws, run.id)
        [message] = await until_done(ws)

    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] == "Authentication credentials were not provided."


async def test_a_user_without_a_role_is_forbidden(servers: Servers, factory: Factory):
    plain = await factory.account(unique("pat"))
    run = await queued_run(factory)
    async with session(servers.watcher, auth(plain)) as ws:
        await subscribe(ws, run.id)
        [message] = await until_done(ws)

    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Required role: HR_STAFF or MANAGER." in error["message"]


async def test_credentials_from_headers_or_a_lowercase_payload_key(
    servers: Servers, factory: Factory
):
    manager = await factory.manager(unique("boss"))
    hr = await factory.hr_staff(unique("hr"))
    run = await factory.training_run()

    async with session(servers.watcher, headers=manager.bearer) as ws:
        await subscribe(ws, run.id)
        by_header = await until_done(ws)
    async with session(servers.watcher, {"authorization": f"Bearer {hr.token}"}) as ws:
        await subscribe(ws, run.id)
        by_payload = await until_done(ws)

    assert statuses(by_header) == statuses(by_payload) == ["COMPLETED"]


@pytest.mark.parametrize(
    ("payload", "headers"),
    [
        ({"Authorization": "Token not-a-real-token"}, None),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"Authorization": 42}, None),
        ({}, {"Authorization": "Token not-a-real-token"}),
    ],
    ids=["unknown-token", "wrong-scheme", "not-a-string", "bad-header"],
)
async def test_wrong_credentials_close_the_connection_4403(
    servers: Servers, payload: dict[str, Any], headers: dict[str, str] | None
):
    async with socket(servers.watcher, headers=headers) as ws:
        await send(ws, {"type": "connection_init", "payload": payload})
        assert await closed_with(ws) == (4403, "Forbidden")


async def test_a_good_payload_token_replaces_a_bad_header(servers: Servers, factory: Factory):
    manager = await factory.manager(unique("boss"))
    run = await factory.training_run()
    async with session(
        servers.watcher, auth(manager), headers={"Authorization": "Token stale"}
    ) as ws:
        await subscribe(ws, run.id)
        assert statuses(await until_done(ws)) == ["COMPLETED"]


# --- bounds and protocol ---------------------------------------------------------------------


async def test_subscriptions_per_connection_are_bounded(servers: Servers, factory: Factory):
    manager = await factory.manager(unique("boss"))
    runs = [await queued_run(factory) for _ in range(MAX_SUBSCRIPTIONS)]
    async with session(servers.watcher, auth(manager)) as ws:
        for index, run in enumerate(runs):
            await subscribe(ws, run.id, op_id=str(index))
            assert (await receive(ws))["type"] == "next"

        # when: one more than the bound
        await subscribe(ws, runs[0].id, op_id="extra")
        refused = await receive(ws)

        # then: refused with a coded error; completing one frees a place
        assert refused["id"] == "extra"
        assert refused["type"] == "error"
        [error] = refused["payload"]
        assert error["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS"}
        assert f"at most {MAX_SUBSCRIPTIONS} operations" in error["message"]

        await send(ws, {"id": "0", "type": "complete"})
        await subscribe(ws, runs[0].id, op_id="again")
        again = await receive(ws)
        assert again["id"] == "again"
        assert again["type"] == "next"


async def test_a_socket_without_connection_init_is_closed_4408(servers: Servers):
    async with socket(servers.watcher) as ws:
        assert await closed_with(ws) == (4408, "Connection initialisation timeout")


async def test_the_legacy_graphql_ws_protocol_is_refused(servers: Servers):
    async with socket(servers.watcher, subprotocols=("graphql-ws",)) as ws:
        assert ws.subprotocol is None
        assert await closed_with(ws) == (4406, "Subprotocol not acceptable")


# --- Origin ----------------------------------------------------------------------------------


async def test_handshake_origin_must_be_allowed(servers: Servers):
    watcher, trainer = servers.watcher, servers.trainer
    # The watcher allows ALLOWED_ORIGIN (TRAINQL_CORS_ORIGINS); the trainer has none
    # configured, so only its own origin and Origin-less (non-browser) clients pass.
    accepted = [
        (watcher, ALLOWED_ORIGIN),
        (watcher, watcher.base_url),
        (watcher, None),
        (trainer, trainer.base_url),
        (trainer, None),
    ]
    refused = [(watcher, OTHER_ORIGIN), (trainer, ALLOWED_ORIGIN), (trainer, OTHER_ORIGIN)]

    for server, origin in accepted:
        async with session(server, origin=origin) as ws:
            await send(ws, {"type": "ping"})
            assert await receive(ws) == {"type": "pong"}, origin
    for server, origin in refused:
        with pytest.raises(InvalidStatus) as rejected:
            async with socket(server, origin=origin):
                pass
        assert rejected.value.response.status_code == 403, origin
