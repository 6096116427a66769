"""One ASGI middleware that refuses malformed or oversized requests before any route runs.

What it refuses, each with a JSON body saying what was wrong and what is allowed (REST
`{"detail"}`, GraphQL `{"errors": [{"message", "extensions": {"code"}}]}` under the GraphQL
path), built by the transports' own error mappers:

- a path, query string or header value that is not UTF-8 (after percent-decoding): 400;
- a JSON or form body over `max_body_bytes` (TRAINQL_MAX_BODY_KB): 413, decided from the
  Content-Length before a byte is read, else as soon as the bytes received pass the limit.
  Routes listed in `route_bodies` (the REST prediction routes, whose bodies hold up to
  TRAINQL_PREDICT_MAX_ROWS rows) have a bound of their own instead;
- a JSON body that is not UTF-8, or nests arrays and objects deeper than `max_json_depth`
  (TRAINQL_MAX_JSON_DEPTH), before any JSON parser sees it (the stdlib's recursion would
  otherwise fail with a RecursionError): 400; a form body that is not UTF-8: 400;
- a body of any other content type: 400 naming the accepted ones;
- a multipart body over `max_upload_bytes` (TRAINQL_MAX_UPLOAD_MB, plus room for the other
  form fields): 413 while it streams in, since Starlette spools file parts to disk with no
  limit of its own; and a multipart POST to the GraphQL path without a non-empty
  `Apollo-Require-Preflight` or `X-Apollo-Operation-Name` header: 400. That is the GraphQL
  multipart CSRF rule Apollo Server applies (Strawberry does not): a multipart POST is a
  "simple" cross-site request a browser sends without a CORS preflight, and the header
  forces one.

JSON and form bodies are small by definition of the limit, so they are read here whole and
handed on to the app unchanged; multipart bodies stream through, counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio
import anyio.to_thread
import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainql.errors import InvalidInput, MalformedRequest, PayloadTooLarge, TrainqlError

PREFLIGHT_HEADERS = (b"apollo-require-preflight", b"x-apollo-operation-name")
# Room for the other form fields, part headers and boundaries next to a file at the limit;
# the file itself is held to the exact limit while it is copied (ml/uploads.py).
FORM_OVERHEAD_BYTES = 64 * 1024
# A refused body is still read (and dropped) up to these bounds, so that a client that
# reads no answer before it has sent its body (httpx, requests) gets the answer rather than
# a reset; a client sending more than that gets the reset. Dropping 64 MB on a loopback
# takes a few tens of milliseconds.
DISCARD_MAX_BYTES = 64 * 1024 * 1024
DISCARD_MAX_SECONDS = 10.0
# Bodies larger than this are scanned for their nesting in a worker thread.
SCAN_IN_THREAD_BYTES = 64 * 1024
CSRF_MESSAGE = (
    "This multipart request has been blocked as a potential Cross-Site Request Forgery. "
    "Send a non-empty 'Apollo-Require-Preflight' or 'X-Apollo-Operation-Name' header with "
    "GraphQL multipart uploads."
)
ACCEPTED_BODIES = (
    "application/json (a JSON body), application/x-www-form-urlencoded (a form) or "
    "multipart/form-data (uploads)"
)

MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
# Bodies read as JSON: fetch() sends a string body as text/plain unless told otherwise, and
# the legacy routes have always parsed a body without a Content-Type as JSON.
JSON_TYPES = frozenset({"application/json", "text/plain", ""})

ErrorBody = Callable[[TrainqlError], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RouteBodyLimit:
    """A JSON body bound for the paths `path` matches (whole), and its refusal."""

    path: re.Pattern[str]
    max_bytes: int
    refusal: PayloadTooLarge


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The bounds RequestGuard holds requests to (from TRAINQL_MAX_*)."""

    max_upload_bytes: int
    max_body_bytes: int
    max_json_depth: int
    route_bodies: tuple[RouteBodyLimit, ...] = ()

    def body_limit(self, path: str) -> tuple[int, PayloadTooLarge]:
        """The JSON or form body bound of `path`, and the refusal of a larger body."""
        for limit in self.route_bodies:
            if limit.path.fullmatch(path):
                return limit.max_bytes, limit.refusal
        return self.max_body_bytes, PayloadTooLarge.body(self.max_body_bytes)

    @property
    def max_multipart_bytes(self) -> int:
        return self.max_upload_bytes + FORM_OVERHEAD_BYTES


class _BodyTooLarge(Exception):
    pass


class RequestGuard:
    """Refuses what the module docstring lists; everything else reaches `app` unchanged.

    `rest_error_body` and `graphql_error_body` turn a refusal (a TrainqlError) into the JSON
    body of each transport, so the mapping stays in rest_compat/ and schema/.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RequestLimits,
        graphql_path: str,
        rest_error_body: ErrorBody,
        graphql_error_body: ErrorBody,
    ) -> None:
        self.app = app
        self.limits = limits
        self.graphql_path = graphql_path.rstrip("/")
        self.rest_error_body = rest_error_body
        self.graphql_error_body = graphql_error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        graphql = scope["path"].rstrip("/") == self.graphql_path

        async def refuse(error: TrainqlError, *, body_read: bool = False) -> None:
            await self._refuse(scope, receive, send, error, graphql=graphql, body_read=body_read)

        problem: TrainqlError | None = request_line_problem(scope)
        if problem is None and graphql:
            problem = graphql_parameters_problem(scope, self.limits.max_json_depth)
        if problem is not None:
            await refuse(problem)
            return
        headers = dict(scope["headers"])
        content_type = media_type(headers.get(b"content-type", b""))
        if content_type == MULTIPART:
            await self._multipart(scope, receive, send, headers, graphql=graphql, refuse=refuse)
        elif has_body(headers):
            await self._small_body(scope, receive, send, headers, content_type, refuse=refuse)
        else:
            await self.app(scope, receive, send)

    # Multipart: streamed through, counted --------------------------------------------------

    async def _multipart(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        *,
        graphql: bool,
        refuse: Callable[[TrainqlError], Awaitable[None]],
    ) -> None:
        if (
            graphql
            and scope["method"] == "POST"
            and not any(headers.get(name, b"").strip() for name in PREFLIGHT_HEADERS)
        ):
            await refuse(InvalidInput(CSRF_MESSAGE))
            return
        too_large = PayloadTooLarge.upload(self.limits.max_upload_bytes)
        if declared_length(headers) > self.limits.max_multipart_bytes:
            await refuse(too_large)
            return
        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.max_multipart_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                return  # whatever the app makes of the aborted body, the answer is 413
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # The parser may wrap our exception in its own; only the cut-off is ours to answer.
            if not exceeded:
                raise
        if exceeded and not response_started:
            await refuse(too_large)

    # JSON and forms: read whole (they are small), checked, handed on ----------------------

    async def _small_body(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        content_type: str,
        *,
        refuse: Callable[..., Awaitable[None]],
    ) -> None:
        if content_type != FORM and not is_json_type(content_type):
            await refuse(
                MalformedRequest(
                    f"Content-Type {content_type!r} is not accepted here; send {ACCEPTED_BODIES}."
                )
            )
            return
        max_bytes, too_large = self.limits.body_limit(scope["path"])
        if declared_length(headers) > max_bytes:
            await refuse(too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await refuse(too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if content_type == FORM:
            problem = form_problem(body)
        elif len(body) > SCAN_IN_THREAD_BYTES:
            problem = await anyio.to_thread.run_sync(json_problem, body, self.limits.max_json_depth)
        else:
            problem = json_problem(body, self.limits.max_json_depth)
        if problem is not None:
            await refuse(problem, body_read=True)
            return
        await self.app(scope, _replay(body, receive), send)

    # Refusals ---------------------------------------------------------------------------------

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        error: TrainqlError,
        *,
        graphql: bool,
        body_read: bool,
    ) -> None:
        body = self.graphql_error_body(error) if graphql else self.rest_error_body(error)
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if body_read:
            await send(
                {"type": "http.response.start", "status": error.http_status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": payload})
            return
        # The rest of the body may not be read: the connection is not reused.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
        # The whole answer goes out now; the response stays open while the rest of the
        # request body is discarded, so that a client still sending reads the answer instead
        # of a connection reset.
        await send({"type": "http.response.body", "body": payload, "more_body": True})
        await _discard_body(scope, receive)
        await send({"type": "http.response.body", "body": b""})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then whatever comes next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _discard_body(scope: Scope, receive: Receive) -> None:
    """Read and drop what is left of the request body, within DISCARD_MAX_* bounds.

    Skipped when the client waits for `100 Continue`: asking for the body would invite it.
    """
    headers = dict(scope["headers"])
    if headers.get(b"expect", b"").lower() == b"100-continue":
        return
    discarded = 0
    with anyio.move_on_after(DISCARD_MAX_SECONDS):
        while discarded <= DISCARD_MAX_BYTES:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            discarded += len(message.get("body", b""))


# The checks, as plain functions ---------------------------------------------------------------


def media_type(header: bytes) -> str:
    """`application/json` of `Application/JSON; charset=utf-8` (latin-1 never fails)."""
    return header.split(b";", 1)[0].strip().lower().decode("latin-1")


def is_json_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def declared_length(headers: dict[bytes, bytes]) -> int:
    """The Content-Length, or 0 without one (uvicorn refuses a malformed one itself)."""
    value = headers.get(b"content-length", b"")
    return int(value) if value.isdigit() else 0


def has_body(headers: dict[bytes, bytes]) -> bool:
    return declared_length(headers) > 0 or b"transfer-encoding" in headers


def _not_utf8(raw: bytes) -> UnicodeDecodeError | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    return None


def request_line_problem(scope: Scope) -> MalformedRequest | None:
    """A path, query string or header value that is not UTF-8, as the refusal saying so."""
    raw_path = scope.get("raw_path")
    if raw_path and _not_utf8(unquote_to_bytes(raw_path)):
        return MalformedRequest(
            "The request path is not valid UTF-8 once percent-decoded; encode non-ASCII "
            "characters in the path as UTF-8."
        )
    query = scope.get("query_string", b"")
    if query and _not_utf8(unquote_to_bytes(query.replace(b"+", b" "))):
        return MalformedRequest(
            "The query string is not valid UTF-8 once percent-decoded; encode non-ASCII "
            "characters in query parameters as UTF-8."
        )
    for name, value in scope["headers"]:
        if _not_utf8(value):
            header = name.decode("latin-1")
            return MalformedRequest(
                f"The value of the header {header!r} is not valid UTF-8; send header values "
                "as ASCII (or UTF-8)."
            )
    return None


# The query parameters of a GraphQL GET that hold JSON.
GRAPHQL_JSON_PARAMETERS = ("variables", "extensions")


def graphql_parameters_problem(scope: Scope, max_depth: int) -> MalformedRequest | None:
    """A GraphQL GET's `variables` or `extensions` nested deeper than `max_depth` (they are
    JSON, parsed like a body). Call after request_line_problem: the query string is UTF-8."""
    query = scope.get("query_string", b"")
    if not query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in GRAPHQL_JSON_PARAMETERS and json_nesting_exceeds(value.encode(), max_depth):
            return MalformedRequest(
                f"The `{name}` query parameter nests arrays and objects more than {max_depth} "
                f"levels deep (limit TRAINQL_MAX_JSON_DEPTH = {max_depth})."
            )
    return None


def form_problem(body: bytes) -> MalformedRequest | None:
    """An urlencoded form body that is not UTF-8 once percent-decoded."""
    if _not_utf8(unquote_to_bytes(body.replace(b"+", b" "))):
        return MalformedRequest(
            "The form body is not valid UTF-8 once percent-decoded; encode the form's names "
            "and values as UTF-8."
        )
    return None


def json_problem(body: bytes, max_depth: int) -> MalformedRequest | None:
    """A JSON body that is not UTF-8 or nests deeper than `max_depth`. Whether it is valid
    JSON otherwise is for its parser to say (it can, once the nesting is bounded)."""
    error = _not_utf8(body)
    if error is not None:
        return MalformedRequest(
            f"The JSON body is not valid UTF-8 (byte 0x{body[error.start]:02x} at offset "
            f"{error.start}); JSON must be UTF-8 encoded."
        )
    if json_nesting_exceeds(body, max_depth):
        return MalformedRequest(
            f"The JSON body nests arrays and objects more than {max_depth} levels deep "
            f"(limit TRAINQL_MAX_JSON_DEPTH = {max_depth})."
        )
    return None


_QUOTE, _OPEN_ARRAY, _OPEN_OBJECT = b'"[{'
# Every byte but a quote or a bracket: what the skeleton of a body leaves out.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))


def json_nesting_exceeds(body: bytes, max_depth: int) -> bool:
    """True when the arrays and objects of `body` (JSON text) nest deeper than `max_depth`.

    Brackets inside strings do not count. Not a validator: on text that is not JSON the
    answer means nothing, and the parser refuses that text anyway. The scan runs on the
    body's skeleton, its quotes and brackets only (a tenth of a prediction body's bytes), cut
    out by bytes methods in C, and not at all when the skeleton holds no more brackets than
    the limit: a 10,000-row prediction body of 3 MB in about 3 ms, where numpy over every
    byte took 7 ms and a Python scan of its quotes 100 ms and more.
    """
    # Escapes out first, read left to right as a JSON parser pairs them: each escaped
    # backslash, then each escaped quote. Every quote left then opens or closes a string.
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(None, _NOT_STRUCTURE)
    if skeleton.count(b"[") + skeleton.count(b"{") <= max_depth:
        return False
    data = np.frombuffer(skeleton, dtype=np.uint8)
    quotes = data == _QUOTE
    # A bracket is outside every string when an even number of quotes comes before it.
    outside = ~quotes & ((np.cumsum(quotes, dtype=np.int64) & 1) == 0)
    chars = data[outside]
    if not len(chars):
        return False
    depth = np.cumsum(np.where((chars == _OPEN_ARRAY) | (chars == _OPEN_OBJECT), 1, -1))
    return bool(depth.max() > max_depth)
