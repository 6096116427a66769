"""Long-lived connections (WebSockets) whose token stops authenticating are told so.

An HTTP request checks its token when it arrives; a WebSocket authenticates once, at
connection_init, and may then stay open for hours. So each process keeps the tokens of its
open sockets under watch: every `CHECK_INTERVAL` one query reads which of them still exist
(and whose user is active, and which have not outlived TRAINQL_TOKEN_TTL_HOURS), and the
watcher of each token that does not is called, so a revocation reaches every socket of
every worker within a second. The task runs only while something is watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from trainql.db import users as user_store
from trainql.db.engine import Database
from trainql.db.types import utcnow
from trainql.errors import DatabaseUnavailable

logger = logging.getLogger("trainql.auth")

# Half the one-second revocation bound: a query takes a few milliseconds.
CHECK_INTERVAL_S = 0.5
# Token ids per statement, well under every driver's parameter limit.
CHUNK = 500

OnGone = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Watcher:
    token_id: int
    on_gone: OnGone


class TokenWatch:
    """The tokens this process's open connections hold, checked in one query per interval."""

    def __init__(
        self, db: Database, *, ttl_hours: float | None, interval_s: float = CHECK_INTERVAL_S
    ) -> None:
        self._db = db
        self._ttl_hours = ttl_hours
        self._interval_s = interval_s
        self._watchers: dict[int, _Watcher] = {}
        self._handles = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._watchers)

    def watch(self, token_id: int, on_gone: OnGone) -> int:
        """Call `on_gone` (once) when the token stops authenticating; returns a handle for
        `unwatch`."""
        handle = next(self._handles)
        self._watchers[handle] = _Watcher(token_id, on_gone)
        if self._task is None:
            self._task = asyncio.create_task(self._check_forever())
        return handle

    def unwatch(self, handle: int) -> None:
        """Stop watching (the connection closed); unknown handles are ignored."""
        self._watchers.pop(handle, None)

    async def check(self) -> None:
        """One check: call the watcher of every token that no longer authenticates."""
        watched = list(self._watchers.items())
        ids = sorted({watcher.token_id for _handle, watcher in watched})
        in_force: set[int] = set()
        now = utcnow()
        async with self._db.read() as conn:
            for start in range(0, len(ids), CHUNK):
                tokens = await user_store.get_tokens_by_ids(
                    conn, token_ids=ids[start : start + CHUNK]
                )
                in_force |= {t.id for t in tokens if not t.expired(self._ttl_hours, now)}
        for handle, watcher in watched:
            if watcher.token_id in in_force or self._watchers.pop(handle, None) is None:
                continue
            try:
                await watcher.on_gone()
            except Exception:
                logger.exception("Closing a connection whose token was revoked failed")

    async def _check_forever(self) -> None:
        try:
            while self._watchers:
                await asyncio.sleep(self._interval_s)
                try:
                    await self.check()
                except DatabaseUnavailable:
                    continue  # engine.py logged it; the sockets stay until a check succeeds
                except Exception:
                    # The database may come back; the sockets stay until a check succeeds.
                    logger.exception("Checking the tokens of open connections failed")
        finally:
            self._task = None

    async def stop(self) -> None:
        """Cancel the checking task (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
