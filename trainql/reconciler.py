"""The reconciler: in every API process, every TRAINQL_RECONCILE_INTERVAL_S, it looks for
runs that nobody runs and sees that each ends somewhere.

- A QUEUED run whose dispatch lease ran out (its dispatcher crashed before submitting it,
  or the submission was lost with a scheduler) is dispatched again, with the same token.
- A RUNNING run whose lease ran out (its worker or its API process died) is given back to
  the queue under a new token and dispatched, until TRAINQL_TRAINING_MAX_ATTEMPTS
  executions have claimed it; then it is FAILED ("worker lost", or "timed out" when that
  attempt had run past the time limit).
- A run whose lease is alive is never touched.

Safe to run in any number of processes at once: each step is a compare-and-set on the
run's token (db/training_runs.py), so for each run exactly one reconciler acts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread

from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.db.engine import Database, is_outage
from trainql.db.types import utcnow
from trainql.dispatchers import DaskDispatcher, LocalDispatcher, dispatch_run
from trainql.domain import RunFailure, TrainingRun, TrainingRunStatus
from trainql.ml import model_store

logger = logging.getLogger("trainql.reconciler")

# Runs looked at per pass (oldest first); more wait for the next pass.
BATCH = 100


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one pass did: run ids dispatched again, retried, and failed."""

    redispatched: tuple[int, ...] = ()
    retried: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()


def gave_up_message(run: TrainingRun, settings: Settings) -> tuple[str, RunFailure]:
    """The error a run records when its last allowed attempt's worker was lost."""
    started = run.attempt_started_at
    limit = settings.training_timeout_s
    if started is not None and utcnow() - started > timedelta(seconds=limit):
        return (
            f"timed out: attempt {run.attempt} ran past the time limit of {limit:g}s "
            "(TRAINQL_TRAINING_TIMEOUT_S) and its worker stopped answering.",
            RunFailure.TIMED_OUT,
        )
    worker = f" ({run.worker})" if run.worker else ""
    return (
        f"worker lost: the worker running attempt {run.attempt}{worker} stopped renewing its "
        f"lease, and {settings.training_max_attempts} attempt(s) are allowed "
        "(TRAINQL_TRAINING_MAX_ATTEMPTS).",
        RunFailure.WORKER_LOST,
    )


class Reconciler:
    """Dispatches, retries or fails the runs nobody runs (see the module's docstring)."""

    def __init__(
        self, *, db: Database, settings: Settings, dispatcher: LocalDispatcher | DaskDispatcher
    ) -> None:
        self._db = db
        self._settings = settings
        self._dispatcher = dispatcher
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin reconciling in the background (the first pass comes after one interval)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="reconciler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        interval = self._settings.reconcile_interval_s
        while True:
            # Jitter, so that instances started together do not all look at once.
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
            try:
                await self.reconcile_once()
            except Exception as exc:
                if is_outage(exc):
                    logger.warning("Reconciling skipped: the database is unreachable")
                else:
                    logger.exception("Reconciling training runs failed")

    async def reconcile_once(self) -> Reconciled:
        """One pass over the runs without a live lease."""
        async with self._db.session() as session:
            runs = await run_store.unowned_training_runs(session, limit=BATCH)
        redispatched: list[int] = []
        retried: list[int] = []
        failed: list[int] = []
        for run in runs:
            if run.status == TrainingRunStatus.QUEUED:
                if await self._redispatch(run):
                    redispatched.append(run.id)
            elif run.attempt >= self._settings.training_max_attempts:
                if await self._give_up(run):
                    failed.append(run.id)
            elif await self._retry(run):
                retried.append(run.id)
        return Reconciled(tuple(redispatched), tuple(retried), tuple(failed))

    async def _redispatch(self, run: TrainingRun) -> bool:
        async with self._db.session() as session:
            ours = await run_store.vouch_for_dispatch(
                session,
                run_id=run.id,
                token=run.fencing_token,
                dispatch_lease_s=self._settings.training_lease_s,
            )
        if ours:
            logger.info("Run %d was QUEUED with nobody dispatching it: dispatched again", run.id)
            await dispatch_run(
                self._dispatcher, run, token=run.fencing_token, settings=self._settings
            )
        return ours

    async def _retry(self, run: TrainingRun) -> bool:
        async with self._db.session() as session:
            token = await run_store.requeue_training_run(
                session,
                run_id=run.id,
                token=run.fencing_token,
                dispatch_lease_s=self._settings.training_lease_s,
                lease_over=True,
            )
        if token is None:
            return False
        logger.warning(
            "Run %d: the worker of attempt %d (%s) was lost; dispatching attempt %d",
            run.id,
            run.attempt,
            run.worker or "unknown",
            run.attempt + 1,
        )
        await dispatch_run(self._dispatcher, run, token=token, settings=self._settings)
        return True

    async def _give_up(self, run: TrainingRun) -> bool:
        message, code = gave_up_message(run, self._settings)
        async with self._db.session() as session:
            done = await run_store.fail_training_run(
                session,
                run_id=run.id,
                token=run.fencing_token,
                error_message=message,
                error_code=code,
                lease_over=True,
            )
        if done:
            logger.warning("Run %d FAILED: %s", run.id, message)
            # No attempt recorded a model: none of their files may stay behind.
            await anyio.to_thread.run_sync(
                lambda: model_store.remove_attempts(
                    self._settings.model_location, run.model_version, up_to=run.attempt
                )
            )
        return done
