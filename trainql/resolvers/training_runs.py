"""Reading and watching training runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from trainql.db import training_runs as run_store
from trainql.db.engine import Database
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.errors import NotFound
from trainql.resolvers.context import Context, Services
from trainql.resolvers.permissions import IS_HR_STAFF_OR_MANAGER, require

logger = logging.getLogger("trainql.training_runs")

POLLER_KEY = "training_run_status_poller"
# Ids per query: well under every database's limit on bound parameters.
POLL_CHUNK = 500


def parse_run_id(raw: str | int) -> int:
    """A run id from a path or a GraphQL ID; anything not a positive integer is NotFound."""
    try:
        run_id = int(raw)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None
    if run_id < 1:
        raise NotFound("Not found.")
    return run_id


async def get_training_run(*, ctx: Context, run_id: str | int) -> TrainingRun:
    """One run, for HR_STAFF or MANAGER; NotFound when there is no such run."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    parsed = parse_run_id(run_id)
    async with ctx.db.session() as session:
        run = await run_store.get_training_run(session, run_id=parsed)
    if run is None:
        raise NotFound("Not found.")
    return run


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


def run_status_poller(services: Services) -> RunStatusPoller:
    """The process's poller, created on first use."""
    poller = services.extras.get(POLLER_KEY)
    if poller is None:
        poller = RunStatusPoller(services.db, services.settings.subscription_poll_interval_s)
        services.extras[POLLER_KEY] = poller
    assert isinstance(poller, RunStatusPoller)
    return poller


async def stop_watching(services: Services) -> None:
    """Shutdown hook: stop the status poller if one was started."""
    poller = services.extras.get(POLLER_KEY)
    if isinstance(poller, RunStatusPoller):
        await poller.stop()


async def watch_training_run(*, ctx: Context, run_id: str | int) -> AsyncIterator[TrainingRun]:
    """The run now, then again on each status change, ending after COMPLETED or FAILED.

    Permission (HR_STAFF or MANAGER) and existence are checked before this returns, so a
    caller gets UNAUTHENTICATED, FORBIDDEN or NotFound at once rather than from the stream.

    Changes are found by the process's RunStatusPoller (every `subscription_poll_interval_s`):
    the run may be trained by any process using the same database. The whole run is read
    only when its status moved. A status that lasts less than one interval (a QUEUED run
    picked up at once) may be skipped; the final status is always emitted.
    """
    first = await get_training_run(ctx=ctx, run_id=run_id)
    return _status_changes(ctx.services, first)


async def _status_changes(services: Services, first: TrainingRun) -> AsyncIterator[TrainingRun]:
    yield first
    poller = run_status_poller(services)
    last = first.status
    while not last.is_final:
        if await poller.changed(first.id, last) is None:
            raise NotFound("Not found.")
        async with services.db.session() as session:
            run = await run_store.get_training_run(session, run_id=first.id)
        if run is None:
            raise NotFound("Not found.")
        last = run.status
        yield run
