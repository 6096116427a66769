"""`trainql serve` under SIGTERM: it stops accepting, lets in-flight requests finish within
TRAINQL_SHUTDOWN_GRACE_S, then shuts down; what it acknowledged is kept, and a request cut
off at the end of the grace period leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from sqlmodel import select

from tests.datasets_support import BOUNDARY, SKILLS_CSV, dataset_files, multipart_body
from tests.live import live_server, settings_env
from trainql.config import Settings
from trainql.db.engine import Database
from trainql.db.models import DatasetRow

pytestmark = pytest.mark.slow

CHUNKS = 20
EXIT_DEADLINE_S = 30.0


class SlowUpload(threading.Thread):
    """POST /ai/datasets with a body sent in CHUNKS pieces, `pause_s` apart."""

    def __init__(self, base_url: str, *, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.pause_s = pause_s
        self.started = threading.Event()
        self.response: httpx.Response | None = None
        self.error: Exception | None = None

    def body(self) -> Iterator[bytes]:
        content = multipart_body({"name": "slow"}, {"file": ("slow.csv", SKILLS_CSV)})
        size = -(-len(content) // CHUNKS)
        for start in range(0, len(content), size):
            yield content[start : start + size]
            self.started.set()
            time.sleep(self.pause_s)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=60) as http:
                self.response = http.post(
                    "/ai/datasets",
                    content=self.body(),
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                )
        except httpx.HTTPError as exc:
            self.error = exc


def refuses_new_requests(base_url: str, *, within_s: float) -> bool:
    """Whether a new request soon goes unserved: refused (one worker closed its socket), or
    left waiting with no answer (several workers: the supervisor's shared socket still
    queues the connection, but no worker accepts it any more; it is reset at exit)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            # /healthz answers in milliseconds: two seconds without an answer is none.
            httpx.get(f"{base_url}/healthz", timeout=2)
        except httpx.TransportError:
            return True
        time.sleep(0.05)
    return False


def wait_for_exit(process: subprocess.Popen[bytes]) -> float:
    """Seconds until `process` exits (bounded)."""
    start = time.monotonic()
    process.wait(timeout=EXIT_DEADLINE_S)
    return time.monotonic() - start


def stored_dataset_ids(settings: Settings) -> list[str]:
    """The ids of the dataset rows, read after the server is gone."""

    async def read() -> list[str]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                rows = await session.exec(select(DatasetRow.id))
                return sorted(str(dataset_id) for dataset_id in rows.all())
        finally:
            await db.dispose()

    return anyio.run(read)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_an_in_flight_upload_finish_and_keeps_it(
    settings: Settings, tmp_path: Path, workers: str
):
    # given: a server with 20 s of grace, and an upload that takes about 8 s to send
    with live_server(
        settings_env(
            database_url=settings.database_url,
            state_dir=Path(settings.state_dir),
            extra={"TRAINQL_SHUTDOWN_GRACE_S": "20"},
        ),
        log_path=tmp_path / "serve.log",
        args=("--workers", workers),
    ) as server:
        upload = SlowUpload(server.base_url, pause_s=0.4)
        upload.start()
        assert upload.started.wait(10)
        time.sleep(0.2)
        # when: SIGTERM while the upload is still being sent
        os.kill(server.process.pid, signal.SIGTERM)
        # then: new requests soon stop being served (with several workers the supervisor
        # passes the signal on within its half-second loop) while the upload still runs
        assert refuses_new_requests(server.base_url, within_s=3.0), server.output()
        assert upload.is_alive()
        # and the upload in flight is answered, acknowledged, then the server exits
        upload.join(timeout=30)
        exited_after = wait_for_exit(server.process)
        log = server.output()
    assert upload.error is None, log
    assert upload.response is not None
    assert upload.response.status_code == 201, upload.response.text
    created = upload.response.json()
    assert exited_after < 20, log
    assert "Traceback" not in log
    # the acknowledged write is kept: its row and its file
    assert stored_dataset_ids(settings) == [created["id"]]
    assert dataset_files(settings) == [f"{created['id']}.csv"]


def test_a_request_still_running_when_the_grace_ends_is_cut_off_and_leaves_nothing(
    settings: Settings, tmp_path: Path
):
    # given: 1 s of grace, and an upload that takes about 6 s to send
    with live_server(
        settings_env(
            database_url=settings.database_url,
            state_dir=Path(settings.state_dir),
            extra={"TRAINQL_SHUTDOWN_GRACE_S": "1"},
        ),
        log_path=tmp_path / "serve.log",
    ) as server:
        upload = SlowUpload(server.base_url, pause_s=0.3)
        upload.start()
        assert upload.started.wait(10)
        # when
        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        wait_for_exit(server.process)
        stopped_after = time.monotonic() - signalled
        upload.join(timeout=30)
        log = server.output()
    # then: the server did not wait for it past the grace period (plus shutdown work) ...
    assert stopped_after < 5, log
    assert "timeout graceful shutdown exceeded" in log
    # ... the client was never told it succeeded, and nothing of the upload is kept
    assert upload.response is None or upload.response.status_code != 201
    assert stored_dataset_ids(settings) == []
    assert dataset_files(settings) == []
