"""An ASGI middleware for multipart/form-data requests: a body limit and CSRF prevention.

Starlette (under FastAPI and Strawberry alike) parses a multipart body before any route code
runs, spooling file parts to temporary files with no size limit. This middleware bounds the
body while it streams in: a declared Content-Length over the limit is refused before a byte
is read, and a body (chunked or lying about its length) is cut off as soon as the bytes
received pass the limit. Either way the answer is 413; nothing downstream answers instead.

For the GraphQL endpoint it also applies the GraphQL multipart CSRF rule Apollo Server uses:
a multipart POST is a "simple" cross-site request browsers send without a CORS preflight, so
it must carry a non-empty `Apollo-Require-Preflight` or `X-Apollo-Operation-Name` header
(which forces the preflight). Strawberry does not check this itself.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainql.errors import PayloadTooLarge

PREFLIGHT_HEADERS = (b"apollo-require-preflight", b"x-apollo-operation-name")
# Room for the other form fields, part headers and boundaries next to a file at the limit;
# the file itself is held to the exact limit while it is copied (ml/uploads.py).
FORM_OVERHEAD_BYTES = 64 * 1024
# A refused body is still read (and dropped) up to these bounds, so that the client gets
# the answer rather than a reset; a client sending more than that gets the reset.
DISCARD_MAX_BYTES = 16 * 1024 * 1024
DISCARD_MAX_SECONDS = 10.0
CSRF_MESSAGE = (
    "This multipart request has been blocked as a potential Cross-Site Request Forgery. "
    "Send a non-empty 'Apollo-Require-Preflight' or 'X-Apollo-Operation-Name' header with "
    "GraphQL multipart uploads."
)


class _BodyTooLarge(Exception):
    pass


class MultipartGuard:
    """Bounds multipart bodies to `max_upload_bytes` (plus form overhead) and asks GraphQL
    multipart POSTs under `graphql_path` for a preflight-forcing header."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, graphql_path: str) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_upload_bytes + FORM_OVERHEAD_BYTES
        self.graphql_path = graphql_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if content_type != b"multipart/form-data":
            await self.app(scope, receive, send)
            return
        is_graphql = scope["path"].rstrip("/") == self.graphql_path
        if (
            is_graphql
            and scope["method"] == "POST"
            and not any(headers.get(name, b"").strip() for name in PREFLIGHT_HEADERS)
        ):
            await self._refuse(scope, receive, send, status=400, message=CSRF_MESSAGE, graphql=True)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send, graphql=is_graphql)
            return
        await self._bounded(scope, receive, send, graphql=is_graphql)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, *, graphql: bool) -> None:
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
                if received > self.max_body_bytes:
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
            await self._too_large(scope, receive, send, graphql=graphql)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, *, graphql: bool
    ) -> None:
        await self._refuse(
            scope,
            receive,
            send,
            status=413,
            message=PayloadTooLarge.upload(self.max_upload_bytes).message,
            graphql=graphql,
        )

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, *, status: int, message: str, graphql: bool
    ) -> None:
        body: dict[str, Any]
        if graphql:
            body = {
                "data": None,
                "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}],
            }
        else:
            body = {"detail": message}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # The rest of the body may not be read: the connection is not reused.
                    (b"connection", b"close"),
                ],
            }
        )
        # The whole answer goes out now; the response stays open while the rest of the
        # request body is discarded, so that a client still sending reads the answer instead
        # of a connection reset.
        await send({"type": "http.response.body", "body": payload, "more_body": True})
        await _discard_body(scope, receive)
        await send({"type": "http.response.body", "body": b""})


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
