"""Login throttling and token revocation across the workers of a live `trainql serve
--workers 2` (module-scoped: a server costs seconds to start).

Which worker answered is read from the server's log: every login attempt is logged in one
line naming its process. A keep-alive client stays on the worker that accepted its
connection, so two clients whose probes were logged by different processes talk to
different workers.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import BACKENDS, _truncate_postgres
from tests.live import LiveServer, live_server, settings_env

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "admin-pass-123"
FREE_FAILURES = 4
TIMEOUT_S = 30.0
_LOGIN_LINE = re.compile(
    r"\[(?P<pid>\d+)\] trainql\.auth: login (?P<outcome>\w+) user=(?P<user>\"[^\n]*?\") "
)


@dataclass(frozen=True)
class LoginLine:
    pid: int
    outcome: str
    user: str
    line: str


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Module-scoped here, so each database gets one server."""
    return str(request.param)


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"auth-workers-{backend}")
    if backend == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        _truncate_postgres(url)
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp / "trainql.db")
        url = f"sqlite:///{tmp / 'trainql.db'}"
    env = settings_env(
        database_url=url,
        state_dir=tmp / "state",
        extra={
            "TRAINQL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TRAINQL_LOGIN_FREE_FAILURES": str(FREE_FAILURES),
            # The probes below fail logins from the one test address.
            "TRAINQL_LOGIN_FREE_FAILURES_PER_ADDRESS": "1000",
            "TRAINQL_LOGIN_DELAY_S": "60",
            "TRAINQL_LOGIN_MAX_DELAY_S": "120",
        },
    )
    with live_server(env, log_path=tmp / "serve.log", args=("--workers", "2")) as live:
        yield live


def login_lines(server: LiveServer) -> list[LoginLine]:
    return [
        LoginLine(int(m["pid"]), m["outcome"], m["user"], line)
        for line in server.output().splitlines()
        if (m := _LOGIN_LINE.search(line))
    ]


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api-token-auth/", json={"username": username, "password": password})


def worker_of(server: LiveServer, client: httpx.Client) -> int:
    """The pid of the worker holding `client`'s connection: a failed login under a unique
    name, found in the log."""
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    assert login(client, probe, "not-a-password").status_code == 400
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for line in login_lines(server):
            if line.user == f'"{probe}"':
                return line.pid
        time.sleep(0.05)
    raise AssertionError(f"no log line for {probe}:\n{server.output()}")


@pytest.fixture
def two_workers(server: LiveServer) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two keep-alive clients, each on its own worker."""
    clients: list[httpx.Client] = []
    by_worker: dict[int, httpx.Client] = {}
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(by_worker) < 2:
            assert time.monotonic() < deadline, "every connection went to the same worker"
            client = httpx.Client(
                base_url=server.base_url,
                timeout=TIMEOUT_S,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            clients.append(client)
            by_worker.setdefault(worker_of(server, client), client)
        first, second = by_worker.values()
        yield first, second
    finally:
        for client in clients:
            client.close()


def test_guesses_spread_over_two_workers_are_throttled_as_one(
    backend: str, server: LiveServer, two_workers: tuple[httpx.Client, httpx.Client]
):
    if backend == "sqlite":
        pytest.skip("on SQLite each process counts its own attempts (one process serves it)")
    # given
    first, second = two_workers
    user = f"victim-{uuid.uuid4().hex[:6]}"
    # when: the free failures alternate between the workers, then one more on each
    answers = [login((first, second)[i % 2], user, f"guess-{i}") for i in range(FREE_FAILURES)]
    after = [login(first, user, "guess-late"), login(second, user, "guess-late")]
    # then
    assert [a.status_code for a in answers] == [400] * FREE_FAILURES
    assert [a.status_code for a in after] == [429, 429]
    # 60 s from the last free failure, less the time it took to get here
    assert all(50 <= int(a.headers["retry-after"]) <= 60 for a in after)
    mine = [line for line in login_lines(server) if line.user == f'"{user}"']
    assert len({line.pid for line in mine}) == 2, "both workers answered"
    counts = [re.search(r"username_attempts=(\d+)", line.line) for line in mine[:FREE_FAILURES]]
    assert [int(c[1]) for c in counts if c] == [1, 2, 3, 4], "one count across the workers"
    assert [line.outcome for line in mine[FREE_FAILURES:]] == ["throttled", "throttled"]


def test_a_token_revoked_on_one_worker_is_refused_by_the_other_at_once(
    server: LiveServer, two_workers: tuple[httpx.Client, httpx.Client]
):
    # given: a token both workers accept
    first, second = two_workers
    token = login(first, "admin", ADMIN_PASSWORD).json()["token"]
    headers = {"Authorization": f"Token {token}"}
    me = {"query": "{ me { username } }"}
    for client in (first, second):
        assert client.post("/graphql", json=me, headers=headers).json() == {
            "data": {"me": {"username": "admin"}}
        }
    second_pid = worker_of(server, second)
    # when: revoked through the first worker
    revoked = first.post("/graphql", json={"query": "mutation { revokeToken }"}, headers=headers)
    assert revoked.json() == {"data": {"revokeToken": True}}
    revoked_at = time.monotonic()
    # then: the second worker refuses it within a second (its first try, in fact)
    while True:
        answer = second.get("/api/training/runs/", headers=headers)
        if answer.status_code == 401:
            break
        assert time.monotonic() - revoked_at < 1.0, "still accepted a second after revocation"
        time.sleep(0.02)
    seen_after = time.monotonic() - revoked_at
    assert answer.json() == {"detail": "Invalid token."}
    graphql = second.post("/graphql", json=me, headers=headers).json()
    assert graphql["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert worker_of(server, second) == second_pid, "the check ran on the other worker"
    assert seen_after < 1.0


async def test_sockets_holding_a_revoked_token_are_closed_within_a_second(server: LiveServer):
    # given: four sockets authenticated with one token (spread over the workers as their
    # connections are accepted), and a socket with another token
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT_S) as http:
        token = login(http, "admin", ADMIN_PASSWORD).json()["token"]
        other = login(http, "admin", ADMIN_PASSWORD).json()["token"]
    url = server.base_url.replace("http://", "ws://", 1) + "/graphql"

    async def open_socket(with_token: str) -> ClientConnection:
        ws = await connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=TIMEOUT_S
        )
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Token {with_token}"}}
            )
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)) == {
            "type": "connection_ack"
        }
        return ws

    sockets = [await open_socket(token) for _ in range(4)]
    bystander = await open_socket(other)
    try:
        # when
        async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT_S) as revoker:
            revoked = await revoker.post(
                "/graphql",
                json={"query": "mutation { revokeToken }"},
                headers={"Authorization": f"Token {token}"},
            )
        assert revoked.json() == {"data": {"revokeToken": True}}
        revoked_at = time.monotonic()

        # then
        async def closed(ws: ClientConnection) -> tuple[int | None, float]:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code, time.monotonic() - revoked_at

        results = await asyncio.gather(*(closed(ws) for ws in sockets))
        assert [code for code, _ in results] == [4403] * 4
        assert max(after for _, after in results) < 1.0
        await bystander.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(bystander.recv(), TIMEOUT_S)) == {"type": "pong"}
    finally:
        for ws in (*sockets, bystander):
            await ws.close()
