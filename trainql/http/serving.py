"""Running under uvicorn: HTTP protocols that always set TCP_NODELAY, a settled heap, and
large buffers that reuse their memory.

With --workers > 1 uvicorn has been seen leaving Nagle's algorithm on for accepted sockets,
so small keep-alive responses wait ~40 ms for the client's delayed ACK (uvicorn #3149).
Setting the option on every connection makes every serving mode behave the same.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import platform
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # httptools is in uvicorn[standard], but keep h11 working without it
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


if HttpToolsProtocol is not None:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(transport)

    HTTP_PROTOCOL = "trainql.http.serving:NoDelayHttpToolsProtocol"
else:  # pragma: no cover
    HTTP_PROTOCOL = "trainql.http.serving:NoDelayH11Protocol"


def settle_heap() -> None:
    """Take every object alive now out of the cyclic garbage collector's scans (gc.freeze).

    A served process holds a few hundred thousand long-lived objects (the modules, the
    schema, after a first prediction the whole ONNX conversion stack). The collector's full
    passes walk all of them, and a request that builds many objects (10,000 predictions)
    sets those passes off: measured, completing 10,000 predictions took 100-140 ms with that
    heap and 19-28 ms once frozen. Frozen objects are still freed by reference counting;
    only cycles among them are no longer collected, which is why this runs once the app is
    built and after a model load, in the served process only (never in a test process that
    builds app after app). The collection before the freeze pauses the event loop once
    (about 0.1-0.3 s, after a load that took seconds), where an unfrozen heap paused it as
    long on every full pass.
    """
    gc.collect()
    gc.freeze()


# glibc's mallopt parameters (malloc.h), and the environment variables that set them at start.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_")
# Buffers up to MMAP come from the heap, up to TRIM of free heap is kept (per arena), and a
# heap grows by TOP_PAD more than asked. Larger values (64 MB, 256 MB, 64 MB) measured no
# faster on a 10,000-row prediction.
MMAP_THRESHOLD_BYTES = 16 * 2**20
TRIM_THRESHOLD_BYTES = 16 * 2**20
TOP_PAD_BYTES = 4 * 2**20


def keep_large_buffers() -> bool:
    """Let glibc's malloc reuse the memory of freed large buffers instead of mapping fresh
    pages for each one. Returns whether the thresholds were set.

    A 10,000-row prediction copies its 3 MB body and 1 MB answer several times (the
    server's read buffer, the guard, the parser, the answer's format). By default glibc
    gives every buffer over 128 KB pages of its own (mmap), or returns the top of its heap to
    the system once 128 KB of it is free, so each request touches fresh pages and pays a
    page fault for every 4 KB of them. Measured on that request (one worker, 2 cores): 69-70
    ms with the defaults, 59-60 ms with these thresholds, for 20 MB more resident memory.

    The operator's MALLOC_*_ environment variables win (glibc read them at start), and other
    C libraries (musl) are left as they are.
    """
    if platform.libc_ver()[0] != "glibc" or any(v in os.environ for v in MALLOC_ENVIRONMENT):
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all(
        mallopt(parameter, value) == 1
        for parameter, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            (_M_TOP_PAD, TOP_PAD_BYTES),
        )
    )


def app_factory() -> object:
    """The app for `uvicorn --factory trainql.http.serving:app_factory` (what `serve` runs)."""
    from trainql.app import create_app
    from trainql.config import get_settings
    from trainql.logs import configure_logging

    # uvicorn's worker processes (--workers N) configure only uvicorn's own loggers; without
    # this, trainql's INFO lines (logins among them) would be dropped in every worker.
    configure_logging(get_settings().log_level)
    app = create_app()
    app.state.services.models.after_load = settle_heap
    settle_heap()
    keep_large_buffers()
    return app
