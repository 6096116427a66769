"""A local S3-compatible server (moto's threaded server) for storage tests.

One per test session, on a loopback port; the usual AWS variables point every client at it
(s3fs in this process, and the child processes tests start, which inherit the environment).
The variables are set when the session starts, before any process is forked: a training's
process comes from a fork server, which keeps the environment it started with. Each test
gets a bucket of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.live import free_port

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """The environment a process needs to reach this server."""
        return {**AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def new_bucket(self) -> str:
        import fsspec

        name = f"trainql-{uuid.uuid4().hex[:12]}"
        fsspec.filesystem("s3").mkdir(name)
        return name

    def keys(self, prefix: str) -> list[str]:
        """Every object under `s3://<prefix>`, as `bucket/key` (temporary ones included)."""
        import fsspec

        fs = fsspec.filesystem("s3")
        fs.invalidate_cache()
        return sorted(fs.find(prefix))


_PORT = free_port()


def pytest_configure(config: pytest.Config) -> None:
    # No test talks to a real AWS account: the variables name the local server, for which
    # a port is chosen now (the server starts when a test first needs it).
    os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_PORT}"})


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_PORT, verbose=False)
    server.start()
    import s3fs

    # s3fs keeps one client per set of options: make the next one read the variables.
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield S3Server(endpoint=os.environ["AWS_ENDPOINT_URL"])
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A new, empty bucket on the local S3 server."""
    return s3_server.new_bucket()
