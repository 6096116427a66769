"""The multipart guard through a real `trainql serve` (uvicorn, TCP): the upload limit holds
while the body streams in, on both transports, and GraphQL uploads need a preflight header."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from tests.datasets_support import (
    SKILLS_CSV,
    chunked,
    chunked_headers,
    dataset_files,
    multipart_body,
    oversized_csv,
)
from tests.factories import PREFLIGHT
from tests.live import LiveServer, live_server, settings_env
from trainql.config import Settings
from trainql.http.multipart import DISCARD_MAX_BYTES, FORM_OVERHEAD_BYTES, MultipartGuard

MB = 1024 * 1024
CHUNK = 64 * 1024

CREATE = """
mutation Create($name: String!, $file: Upload!) { createDataset(name: $name, file: $file) { id } }
"""


@pytest.fixture
def server(database_url: str, settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    env = settings_env(
        database_url=database_url,
        state_dir=Path(settings.state_dir),
        extra={"TRAINQL_MAX_UPLOAD_MB": "1", "TRAINQL_ADMIN_PASSWORD": "admin-password"},
    )
    with live_server(env, log_path=tmp_path / "serve.log") as live:
        yield live


def graphql_parts(content: bytes) -> dict[str, str]:
    operations = json.dumps({"query": CREATE, "variables": {"name": "big", "file": None}})
    return {"operations": operations, "map": json.dumps({"0": ["variables.file"]})}


async def counted(body: bytes, sent: list[int]) -> AsyncIterator[bytes]:
    async for chunk in chunked(body):
        sent[0] += len(chunk)
        yield chunk


class BodyReader:
    """A downstream app that reads the whole body, like a multipart parser, counting bytes."""

    def __init__(self) -> None:
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            self.read += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})


async def endless(sent: list[int], total: int) -> AsyncIterator[bytes]:
    """`total` bytes of multipart-looking noise, produced lazily and counted as consumed."""
    chunk = b"x" * CHUNK
    while sent[0] < total:
        sent[0] += CHUNK
        yield chunk


async def test_guard_cuts_the_body_off_at_the_limit_and_discards_a_bounded_rest():
    # given: a downstream app behind a 1 MB guard, and a 64 MB chunked body
    downstream = BodyReader()
    guard = MultipartGuard(downstream, max_upload_bytes=1 * MB, graphql_path="/graphql")
    sent = [0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://testserver"
    ) as client:
        # when
        response = await client.post(
            "/ai/datasets", content=endless(sent, 64 * MB), headers=chunked_headers()
        )
    # then: the app saw no more than the limit (plus form overhead and one chunk), and the
    # guard stopped reading after discarding a bounded amount more
    assert response.status_code == 413
    assert downstream.read <= 1 * MB + FORM_OVERHEAD_BYTES + CHUNK
    assert sent[0] <= 1 * MB + FORM_OVERHEAD_BYTES + DISCARD_MAX_BYTES + 3 * CHUNK


async def test_guard_refuses_a_declared_length_over_the_limit_without_calling_the_app():
    downstream = BodyReader()
    guard = MultipartGuard(downstream, max_upload_bytes=1 * MB, graphql_path="/graphql")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://testserver"
    ) as client:
        response = await client.post(
            "/ai/datasets", content=b"x" * (2 * MB), headers=chunked_headers()
        )
    assert response.status_code == 413
    assert downstream.read == 0


async def test_guard_lets_other_content_types_through_unbounded():
    downstream = BodyReader()
    guard = MultipartGuard(downstream, max_upload_bytes=1 * MB, graphql_path="/graphql")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://testserver"
    ) as client:
        response = await client.post("/graphql", content=b"{}" * MB)
    assert response.status_code == 201
    assert downstream.read == 2 * MB


@pytest.mark.slow
async def test_uploads_within_the_limit_pass_on_both_transports(
    server: LiveServer, settings: Settings
):
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        rest = await client.post(
            "/ai/datasets", data={"name": "ok"}, files={"file": ("ok.csv", SKILLS_CSV)}
        )
        assert rest.status_code == 201, rest.text
        body = multipart_body(graphql_parts(SKILLS_CSV), {"0": ("ok.csv", SKILLS_CSV)})
        graphql = await client.post("/graphql", content=body, headers=chunked_headers(PREFLIGHT))
        assert graphql.status_code == 200, graphql.text
        assert "id" in graphql.json()["data"]["createDataset"]
    assert len(dataset_files(settings)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["rest", "graphql"])
@pytest.mark.parametrize("with_length", [True, False])
async def test_oversized_uploads_are_413_before_the_body_is_read(
    server: LiveServer, settings: Settings, transport: str, with_length: bool
):
    # given: a 6 MB upload against a 1 MB limit
    content = oversized_csv(6)
    if transport == "rest":
        url, fields, headers = "/ai/datasets", {"name": "big"}, {}
        files = {"file": ("big.csv", content)}
    else:
        url, fields, headers = "/graphql", graphql_parts(content), PREFLIGHT
        files = {"0": ("big.csv", content)}
    body = multipart_body(fields, files)
    sent = [0]
    # when
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        response = await client.post(
            url,
            content=body if with_length else counted(body, sent),
            headers=chunked_headers(headers),
        )
    # then
    assert response.status_code == 413, response.text
    message = "The upload is larger than the limit of 1 MB (TRAINQL_MAX_UPLOAD_MB)."
    if transport == "rest":
        assert response.json() == {"detail": message}
    else:
        assert response.json()["errors"][0] == {
            "message": message,
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    assert dataset_files(settings) == []


@pytest.mark.slow
async def test_graphql_upload_without_preflight_header_is_400(server: LiveServer):
    body = multipart_body(graphql_parts(SKILLS_CSV), {"0": ("ok.csv", SKILLS_CSV)})
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.post("/graphql", content=body, headers=chunked_headers())
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
