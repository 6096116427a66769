"""An upload whose COMMIT is cut short keeps its row and its file together.

A loopback proxy between the service and PostgreSQL cuts the connection at the next COMMIT,
either before PostgreSQL sees it (nothing is stored) or after PostgreSQL committed, dropping
its answer (the service cannot know the row is stored). Either way the client is told 503,
and once the database answers again the file is kept exactly when its row exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.datasets_support import SKILLS_CSV, dataset_files
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.services import Services

COMMIT_MESSAGE = b"COMMIT\x00"  # the simple-query message psycopg sends to commit
SETTLE_S = 10.0


class CommitCutter:
    """A TCP proxy to PostgreSQL that, when armed, cuts the next connection to send COMMIT:
    `"before"` the server gets it, or `"after"` the server answered it (the answer dropped)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.armed: str | None = None
        self.cuts = 0
        # Its own loop on its own thread: the service also connects synchronously (at
        # startup), which would block a proxy sharing its loop.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> int:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(timeout=10)
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        drop_answer = asyncio.Event()

        async def upstream() -> None:
            while data := await client_r.read(65536):
                mode = self.armed if COMMIT_MESSAGE in data else None
                if mode == "before":
                    self.armed, self.cuts = None, self.cuts + 1
                    return
                if mode == "after":
                    self.armed, self.cuts = None, self.cuts + 1
                    drop_answer.set()
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if drop_answer.is_set():
                    return  # PostgreSQL committed; the service never hears it
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_w, server_w):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


CutService = tuple[httpx.AsyncClient, CommitCutter, Settings, Services, str]


@pytest.fixture
async def cut_service(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[CutService]:
    """The app on the test PostgreSQL database through a CommitCutter, and that database's
    own URL."""
    if backend != "postgresql":
        pytest.skip("the proxy speaks PostgreSQL's protocol")
    postgres_url = str(request.getfixturevalue("postgres_url"))
    target = make_url(postgres_url)
    cutter = CommitCutter(target.host or "127.0.0.1", target.port or 5432)
    port = cutter.start()
    state = tmp_path / "state"
    settings = Settings(
        state_dir=state,
        database_url=target.set(port=port).render_as_string(hide_password=False),
        data_root=state / "data",
        model_dir=state / "models",
        admin_password=None,
        log_level="INFO",
    )
    app = create_app(settings)
    try:
        async with app_lifespan(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c, cutter, settings, app.state.services, postgres_url
    finally:
        cutter.stop()


def _stored(url: str, dataset_id_like: str = "%") -> set[str]:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id::text FROM datasets WHERE id::text LIKE %s", (dataset_id_like,)
        ).fetchall()
    return {f"{row[0]}.csv" for row in rows}


@pytest.mark.parametrize("cut", ["before", "after"])
async def test_an_upload_whose_commit_is_cut_keeps_its_file_exactly_when_its_row_exists(
    cut_service: CutService, cut: str
):
    client, cutter, settings, services, postgres_url = cut_service
    before = _stored(postgres_url)
    # given: the next COMMIT is cut short
    cutter.armed = cut
    # when: a dataset is uploaded
    response = await client.post(
        "/ai/datasets", data={"name": "cut"}, files={"file": ("s.csv", SKILLS_CSV)}
    )
    # then: the client is told the database was unavailable
    assert cutter.cuts == 1
    assert response.status_code == 503, response.text
    # and once the service has asked the database again, file and row agree
    await asyncio.wait_for(services.upload_checks.wait(), SETTLE_S)
    rows = _stored(postgres_url) - before
    files = {name for name in dataset_files(settings) if not name.startswith(".")}
    assert files == rows
    assert len(rows) == (1 if cut == "after" else 0)
