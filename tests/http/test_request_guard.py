"""The request guard: on its own (ASGI) and through a real `trainql serve` (uvicorn, TCP).

Multipart: the upload limit holds while the body streams in, on both transports, and GraphQL
uploads need a preflight header. JSON and form bodies: the body limit (Content-Length first,
then counted), the nesting limit, and UTF-8 everywhere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from tests.datasets_support import (
    SKILLS_CSV,
    chunked,
    chunked_headers,
    dataset_files,
    multipart_body,
    oversized_csv,
)
from tests.factories import PREFLIGHT, Factory, training_run_count
from tests.live import LiveServer, live_server, settings_env
from trainql.config import Settings
from trainql.http.request_guard import (
    DISCARD_MAX_BYTES,
    FORM_OVERHEAD_BYTES,
    RequestGuard,
    RequestLimits,
    json_nesting_exceeds,
)
from trainql.rest_compat.errors import error_body
from trainql.schema.errors import request_error_body
from trainql.services import Services

MB = 1024 * 1024
KB = 1024
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


def guarded(
    downstream: BodyReader, *, max_body_kb: int = 64, max_json_depth: int = 8
) -> RequestGuard:
    """`downstream` behind a guard with a 1 MB upload limit and the given body limits."""
    return RequestGuard(
        downstream,
        limits=RequestLimits(
            max_upload_bytes=1 * MB,
            max_body_bytes=max_body_kb * KB,
            max_json_depth=max_json_depth,
        ),
        graphql_path="/graphql",
        rest_error_body=error_body,
        graphql_error_body=request_error_body,
    )


def guard_client(guard: RequestGuard) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://testserver")


async def test_guard_cuts_the_body_off_at_the_limit_and_discards_a_bounded_rest():
    # given: a downstream app behind a 1 MB guard, and a 64 MB chunked body
    downstream = BodyReader()
    guard = guarded(downstream)
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
    guard = guarded(downstream)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://testserver"
    ) as client:
        response = await client.post(
            "/ai/datasets", content=b"x" * (2 * MB), headers=chunked_headers()
        )
    assert response.status_code == 413
    assert downstream.read == 0


async def test_guard_hands_json_and_form_bodies_within_the_limit_on_unchanged():
    # given: a JSON body and a form body just under a 64 KB limit
    downstream = BodyReader()
    json_body = b'{"notes": "' + b"x" * (64 * KB - 20) + b'"}'
    form_body = b"training_status=trained&notes=" + b"y" * (64 * KB - 40)
    async with guard_client(guarded(downstream, max_body_kb=64)) as client:
        # when
        as_json = await client.post(
            "/api/training/train/", content=json_body, headers={"Content-Type": "application/json"}
        )
        as_form = await client.post(
            "/api/training/train/",
            content=form_body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    # then: both reached the app whole
    assert (as_json.status_code, as_form.status_code) == (201, 201)
    assert downstream.read == len(json_body) + len(form_body)


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("path", ["/api/training/train/", "/graphql"])
async def test_guard_refuses_a_json_body_over_the_body_limit_with_413(declared: bool, path: str):
    # given: 65 KB of JSON against a 64 KB limit, with its length declared or streamed
    downstream = BodyReader()
    body = b'{"query": "' + b"x" * (65 * KB) + b'"}'
    content: bytes | AsyncIterator[bytes] = body if declared else chunked(body)
    async with guard_client(guarded(downstream, max_body_kb=64)) as client:
        # when
        response = await client.post(
            path, content=content, headers={"Content-Type": "application/json"}
        )
    # then: refused before the app read anything, in the transport's error shape
    assert response.status_code == 413
    message = (
        "The request body is larger than the limit of 64 KB (TRAINQL_MAX_BODY_KB) for JSON "
        "and form bodies; dataset files go in a multipart upload."
    )
    if path == "/graphql":
        assert response.json() == {
            "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]
        }
    else:
        assert response.json() == {"detail": message}
    assert downstream.read == 0


async def test_guard_refuses_json_nested_past_the_limit_and_counts_no_brackets_in_strings():
    downstream = BodyReader()
    async with guard_client(guarded(downstream, max_json_depth=8)) as client:
        # when: 9 levels, 8 levels, and 8 levels with brackets inside a string
        deep = await client.post("/api/training/train/", content=b"[" * 9 + b"]" * 9)
        at_limit = await client.post("/api/training/train/", content=b"[" * 8 + b"]" * 8)
        in_string = await client.post(
            "/api/training/train/",
            content=b'{"a": [[[[[[["[[[[\\"[[[[{{{{"]]]]]]]}',
        )
    # then
    assert deep.status_code == 400
    assert deep.json() == {
        "detail": "The JSON body nests arrays and objects more than 8 levels deep "
        "(limit TRAINQL_MAX_JSON_DEPTH = 8)."
    }
    assert (at_limit.status_code, in_string.status_code) == (201, 201)


# JSON values whose strings hold brackets, quotes and backslashes (escaped by json.dumps).
_TRICKY_TEXT = st.text(alphabet='[]{}"\\a\u00e9', max_size=8)
_JSON_VALUES = st.recursive(
    st.none() | st.integers() | _TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_TRICKY_TEXT, children, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(_JSON_VALUES, st.booleans())
def test_json_nesting_is_the_depth_of_the_parsed_value(value: object, ensure_ascii: bool):
    body = json.dumps(value, ensure_ascii=ensure_ascii).encode()
    depth = _depth(value)
    for limit in (depth - 1, depth):
        if limit >= 0:
            assert json_nesting_exceeds(body, limit) == (depth > limit), (body, limit)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (
            "application/json",
            b'{"name": "\xff"}',
            "The JSON body is not valid UTF-8 (byte 0xff at offset 10); JSON must be UTF-8 "
            "encoded.",
        ),
        (
            "application/x-www-form-urlencoded",
            b"training_status=%C3%28",
            "The form body is not valid UTF-8 once percent-decoded; encode the form's names "
            "and values as UTF-8.",
        ),
        (
            "application/xml",
            b"<training/>",
            "Content-Type 'application/xml' is not accepted here; send application/json (a "
            "JSON body), application/x-www-form-urlencoded (a form) or multipart/form-data "
            "(uploads).",
        ),
    ],
)
async def test_guard_refuses_bodies_that_are_not_utf8_or_of_another_content_type(
    content_type: str, body: bytes, message: str
):
    downstream = BodyReader()
    async with guard_client(guarded(downstream)) as client:
        rest = await client.post(
            "/api/training/train/", content=body, headers={"Content-Type": content_type}
        )
        graphql = await client.post(
            "/graphql", content=body, headers={"Content-Type": content_type}
        )
    assert rest.status_code == 400
    assert rest.json() == {"detail": message}
    assert graphql.status_code == 400
    assert graphql.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert downstream.read == 0


@pytest.mark.parametrize(
    ("target", "headers", "message"),
    [
        (
            "/api/training/runs/%FF/",
            {},
            "The request path is not valid UTF-8 once percent-decoded; encode non-ASCII "
            "characters in the path as UTF-8.",
        ),
        (
            "/api/training/runs/?trained_by=%C0%AF",
            {},
            "The query string is not valid UTF-8 once percent-decoded; encode non-ASCII "
            "characters in query parameters as UTF-8.",
        ),
        (
            "/api/training/runs/",
            {b"X-Client": b"caf\xe9"},
            "The value of the header 'x-client' is not valid UTF-8; send header values as "
            "ASCII (or UTF-8).",
        ),
    ],
)
async def test_guard_refuses_paths_query_strings_and_headers_that_are_not_utf8(
    target: str, headers: dict[bytes, bytes], message: str
):
    downstream = BodyReader()
    async with guard_client(guarded(downstream)) as client:
        response = await client.get(target, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": message}


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


@pytest.mark.slow
@pytest.mark.parametrize("with_length", [True, False])
async def test_a_40_mb_json_body_to_graphql_is_413_before_it_is_read(
    server: LiveServer, with_length: bool
):
    # given: the 40 MB JSON body (it used to be read whole and answered 200)
    body = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (40 * MB)}})
    sent = [0]
    # when
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            content=body.encode() if with_length else counted(body.encode(), sent),
            headers={"Content-Type": "application/json"},
        )
    # then: 413 in the GraphQL shape (the client, which reads no answer before it has sent
    # everything, gets it: the refused rest is read and dropped, within DISCARD_MAX_BYTES)
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": "The request body is larger than the limit of 1024 KB "
                "(TRAINQL_MAX_BODY_KB) for JSON and form bodies; dataset files go in a "
                "multipart upload.",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }
    if not with_length:
        assert sent[0] == len(body)


# --- through the whole app, on both databases: real routes, nothing recorded


NOT_UTF8_JSON = (
    "The JSON body is not valid UTF-8 (byte 0xff at offset 13); JSON must be UTF-8 encoded."
)
NOT_UTF8_FORM = (
    "The form body is not valid UTF-8 once percent-decoded; encode the form's names and values "
    "as UTF-8."
)
WRONG_TYPE = (
    "Content-Type 'text/csv' is not accepted here; send application/json (a JSON body), "
    "application/x-www-form-urlencoded (a form) or multipart/form-data (uploads)."
)


@pytest.mark.parametrize(
    ("method", "path", "content_type", "body", "message"),
    [
        ("POST", "/api/training/train/", "application/json", b'{"notes": "ab\xff"}', NOT_UTF8_JSON),
        ("POST", "/api-token-auth/", "application/json", b'{"username":"\xff"}', NOT_UTF8_JSON),
        ("PATCH", "/ai/dataset/x/training-status", "application/x-www-form-urlencoded",
         b"training_status=%FF", NOT_UTF8_FORM),
        ("POST", "/api/training/train/", "text/csv", b"a,b\n1,2\n", WRONG_TYPE),
    ],
)  # fmt: skip
async def test_malformed_rest_requests_are_400_saying_what_was_wrong(
    client: httpx.AsyncClient,
    factory: Factory,
    services: Services,
    method: str,
    path: str,
    content_type: str,
    body: bytes,
    message: str,
):
    hr = await factory.hr_staff()
    response = await client.request(
        method, path, content=body, headers={**hr.headers, "Content-Type": content_type}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert await training_run_count(services) == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"query": "{ __typename }", "variables": "[" * 40 + "]" * 40},
            "The `variables` query parameter nests arrays and objects more than 32 levels deep "
            "(limit TRAINQL_MAX_JSON_DEPTH = 32).",
        ),
        (
            {"query": "{ __typename }", "extensions": "{"},
            "The `variables` or `extensions` query parameter is not valid JSON; send each as a "
            "JSON object.",
        ),
    ],
)
async def test_a_graphql_get_with_bad_json_parameters_is_400_in_the_graphql_shape(
    client: httpx.AsyncClient, params: dict[str, str], message: str
):
    response = await client.get("/graphql", params=params)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
