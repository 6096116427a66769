"""Watching run statuses: one query per interval for every run watched in this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from trainql.db import training_runs as run_store
from trainql.db.engine import Database
from trainql.domain import TrainingRunStatus
from trainql.errors import DatabaseUnavailable

logger = logging.getLogger("trainql.training_runs")

# Ids per query: well under every database's limit on bound parameters.
POLL_CHUNK = 500


class RunStatusPoller:
    """Reads the status of every run watched in this process with one query per interval.

    Whoever trains a run (this process, another worker, another host) writes its status to
    the database, so polling it sees every change, on SQLite as on PostgreSQL. One shared
    poll keeps the cost per interval one query, however many subscriptions are open; the
    polling task runs only while someone is waiting.
    """

    def __init__(self, db: Database, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._waiting: Counter[int] = Counter()
        self._statuses: dict[int, TrainingRunStatus | None] = {}
        self._tick = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def changed(self, run_id: int, last: TrainingRunStatus) -> TrainingRunStatus | None:
        """Wait until a poll finds the run's status other than `last`; None: no such run."""
        self._waiting[run_id] += 1
        if self._task is None:
            self._task = asyncio.create_task(self._poll())
        try:
            while True:
                async with self._tick:
                    await self._tick.wait()
                # A run first watched during a poll is not in its answer: wait for the next.
                if run_id in self._statuses and self._statuses[run_id] != last:
                    return self._statuses[run_id]
        finally:
            self._waiting[run_id] -= 1
            if not self._waiting[run_id]:
                del self._waiting[run_id]

    async def _poll(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(self._interval)
                ids = list(self._waiting)
                if not ids:
                    break
                try:
                    found: dict[int, TrainingRunStatus] = {}
                    async with self._db.session() as session:
                        for start in range(0, len(ids), POLL_CHUNK):
                            found |= await run_store.get_training_run_statuses(
                                session, run_ids=ids[start : start + POLL_CHUNK]
                            )
                except DatabaseUnavailable:
                    # It may come back (engine.py logged why): keep the subscriptions.
                    continue
                except Exception:
                    # The database may come back: keep the subscriptions, try again later.
                    logger.exception("Polling training run statuses failed")
                    continue
                self._statuses = {run_id: found.get(run_id) for run_id in ids}
                async with self._tick:
                    self._tick.notify_all()
        finally:
            self._task = None

    async def stop(self) -> None:
        """Cancel the polling task (at shutdown); waiting subscriptions are cancelled too."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
