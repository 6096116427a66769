"""One execution of a training run, wherever it happens: in the API process (the local
executor) or in a Dask worker (the task `run_on_dask_worker`).

An execution claims its run (QUEUED -> RUNNING under a new fencing token), keeps the run's
lease alive with a heartbeat while it fits, and records the outcome; every one of those
writes names its token (db/training_runs.py), so an execution that lost its run (its
lease ran out and a reconciler gave the run to another) changes nothing and removes the
model it wrote. A result the database could not take (the database away) is retried with
backoff for TRAINQL_RECORD_RETRY_S; the heartbeat goes on meanwhile, so the run is not
taken away while its result waits. Were the retries to run out, the lease would end and a
reconciler retry the run: it never stays RUNNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread

from trainql.config import Settings
from trainql.db import training_runs as run_store
from trainql.db.engine import Database, is_outage, retried_while_away
from trainql.db.training_runs import Claim
from trainql.domain import RunFailure
from trainql.errors import DatasetInvalid, InsufficientStorage
from trainql.ml import model_store
from trainql.ml.executor import LocalExecutor, TrainingExecutor, TrainingTimeout, WorkerDied
from trainql.ml.jobs import TrainingJob, TrainingResult, run_training_job
from trainql.storage_root import StorageRoot

logger = logging.getLogger("trainql.execution")

T = TypeVar("T")


def process_owner() -> str:
    """How this process names itself as a run's worker: host and pid."""
    return f"{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """How long a lease lasts (the heartbeat renews it every third of that) and how long an
    outcome is retried while the database is away: the executing process's own settings."""

    lease_s: float
    record_retry_s: float

    @classmethod
    def of(cls, settings: Settings) -> LeasePolicy:
        return cls(lease_s=settings.training_lease_s, record_retry_s=settings.record_retry_s)

    @property
    def heartbeat_s(self) -> float:
        return self.lease_s / 3


@dataclass(frozen=True, slots=True)
class RunAssignment:
    """One dispatch of a run: the token it was dispatched with, what to train and for how
    long at most (the dispatching API's TRAINQL_TRAINING_TIMEOUT_S). The model's location
    is chosen when an execution claims the run (one file per attempt)."""

    run_id: int
    token: int
    model_version: str
    model_dir: StorageRoot
    job: TrainingJob
    time_limit_s: float

    @property
    def key(self) -> str:
        """Names this dispatch (a Dask task key): the same run and token, the same key, so
        submitting it twice while the first is still queued adds nothing."""
        return f"trainql-run-{self.run_id}-{self.token}"


class Ending(enum.Enum):
    """How an execution ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    NOT_CLAIMED = "not claimed"  # another execution had the run, or it was no longer QUEUED
    LOST = "lost"  # the run was taken away (its lease ran out) or its outcome not recorded


def failure_of(exc: BaseException) -> tuple[str, RunFailure]:
    """The error message and code a run records for the exception its fit raised."""
    if isinstance(exc, TrainingTimeout):
        return str(exc), RunFailure.TIMED_OUT
    if isinstance(exc, WorkerDied):
        return str(exc), RunFailure.WORKER_LOST
    if isinstance(exc, InsufficientStorage):
        return exc.message, RunFailure.INSUFFICIENT_STORAGE
    if isinstance(exc, DatasetInvalid):
        return f"{type(exc).__name__}: {exc}", RunFailure.DATASET_INVALID
    return f"{type(exc).__name__}: {exc}", RunFailure.TRAINING_ERROR


async def execute_run(
    db: Database,
    assignment: RunAssignment,
    *,
    policy: LeasePolicy,
    owner: str,
    executor: TrainingExecutor,
) -> Ending:
    """Run one dispatch of a run to its end and say how it ended; training errors are the
    run's outcome (FAILED), not exceptions. Cancelled (this process stopping), it gives its
    run back to the queue for another execution and re-raises. Raises only when the claim
    itself could not be made (the database away): the run then stays QUEUED for a
    reconciler to dispatch again."""
    async with executor.slot():
        async with db.session() as session:
            claim = await run_store.claim_training_run(
                session,
                run_id=assignment.run_id,
                token=assignment.token,
                owner=owner,
                lease_s=policy.lease_s,
            )
        if claim is None:
            logger.info(
                "Run %d (token %d) is not ours to run: another execution has it",
                assignment.run_id,
                assignment.token,
            )
            return Ending.NOT_CLAIMED
        return await _run_claimed(db, assignment, claim, policy=policy, executor=executor)


async def _run_claimed(
    db: Database,
    assignment: RunAssignment,
    claim: Claim,
    *,
    policy: LeasePolicy,
    executor: TrainingExecutor,
) -> Ending:
    run_id = assignment.run_id
    model = model_store.model_location(
        assignment.model_dir, assignment.model_version, claim.attempt
    )
    job = dataclasses.replace(assignment.job, model_path=model)
    logger.info("Run %d: attempt %d started", run_id, claim.attempt)
    if claim.attempt > 1:
        # Files an earlier, lost attempt may have left (each attempt has its own name).
        await anyio.to_thread.run_sync(
            lambda: model_store.remove_attempts(
                assignment.model_dir, assignment.model_version, up_to=claim.attempt - 1
            )
        )
    lost = asyncio.Event()
    heartbeat = asyncio.create_task(
        _heartbeat(db, run_id, claim.token, policy, lost), name=f"heartbeat-run-{run_id}"
    )
    try:
        outcome = await _fit_unless_lost(executor, job, assignment.time_limit_s, lost)
        if outcome is None:
            logger.warning("Run %d: attempt %d lost its lease; stopped", run_id, claim.attempt)
            await _remove(model)
            return Ending.LOST
        if isinstance(outcome, BaseException):
            message, code = failure_of(outcome)
            logger.info("Run %d failed: %s", run_id, message)
            await _remove(model)
            recorded = await _with_retry(
                policy,
                f"the failure of run {run_id}",
                lambda: _fail(db, run_id, claim.token, message, code),
            )
            return Ending.FAILED if recorded else Ending.LOST
        recorded = await _with_retry(
            policy, f"the outcome of run {run_id}", lambda: _record(db, run_id, claim, outcome)
        )
        if not recorded:
            logger.warning(
                "Run %d: attempt %d was taken over; its model is removed", run_id, claim.attempt
            )
            await _remove(model)
            return Ending.LOST
        return Ending.COMPLETED
    except asyncio.CancelledError:
        # This process is stopping: the run goes back to the queue for another execution
        # (shielded, so the cancellation cannot stop the write half way).
        await _remove(model)
        with contextlib.suppress(Exception):
            await asyncio.shield(_release(db, run_id, claim.token))
        raise
    except BaseException:
        # The outcome could not be recorded (retries ran out, or a bug): no orphan model. The
        # lease ends with the heartbeat, and a reconciler retries the run.
        await _remove(model)
        raise
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _fit_unless_lost(
    executor: TrainingExecutor, job: TrainingJob, time_limit_s: float, lost: asyncio.Event
) -> TrainingResult | Exception | None:
    """The fit's result or the exception it raised; None when the lease was lost first (the
    fit is then stopped: its process is killed)."""
    fit = asyncio.ensure_future(executor.run_now(run_training_job, job, time_limit=time_limit_s))
    lost_wait = asyncio.ensure_future(lost.wait())
    try:
        await asyncio.wait({fit, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost_wait.cancel()
        if not fit.done():
            fit.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fit
    if fit.cancelled():
        return None
    exc = fit.exception()
    if exc is None:
        return fit.result()
    if isinstance(exc, Exception):
        return exc
    raise exc


async def _heartbeat(
    db: Database, run_id: int, token: int, policy: LeasePolicy, lost: asyncio.Event
) -> None:
    """Renew the lease every third of it until cancelled; set `lost` when the run is no
    longer ours. A database that does not answer is tried again at the next beat."""
    while True:
        await asyncio.sleep(policy.heartbeat_s)
        try:
            async with db.session() as session:
                alive = await run_store.renew_training_run_lease(
                    session, run_id=run_id, token=token, lease_s=policy.lease_s
                )
        except Exception as exc:
            if not is_outage(exc):
                logger.exception("Run %d: the heartbeat failed", run_id)
            else:
                logger.warning("Run %d: the heartbeat could not reach the database", run_id)
            continue
        if not alive:
            lost.set()
            return


async def _with_retry(policy: LeasePolicy, what: str, write: Callable[[], Awaitable[T]]) -> T:
    """`write()`, tried again while the database is away, for `policy.record_retry_s`."""
    return await retried_while_away(write, for_s=policy.record_retry_s, what=f"recording {what}")


async def _record(db: Database, run_id: int, claim: Claim, outcome: TrainingResult) -> bool:
    async with db.session() as session:
        return await run_store.record_training_outcome(
            session, run_id=run_id, token=claim.token, outcome=outcome
        )


async def _fail(db: Database, run_id: int, token: int, message: str, code: RunFailure) -> bool:
    async with db.session() as session:
        return await run_store.fail_training_run(
            session, run_id=run_id, token=token, error_message=message, error_code=code
        )


async def _release(db: Database, run_id: int, token: int) -> None:
    async with db.session() as session:
        released = await run_store.requeue_training_run(
            session, run_id=run_id, token=token, dispatch_lease_s=None
        )
    if released is not None:
        logger.warning("Run %d given back to the queue: this process is stopping", run_id)


async def _remove(model: str) -> None:
    with contextlib.suppress(OSError):
        await anyio.to_thread.run_sync(model_store.remove_model, model)


# --- In a Dask worker ------------------------------------------------------------------------


class WorkerMisconfigured(RuntimeError):
    """The Dask worker cannot run trainings as it is set up."""


def run_on_dask_worker(assignment: RunAssignment, database: str) -> str:
    """The Dask task of one dispatch: execute the run in this worker, recording its outcome
    through this worker's own TRAINQL_* settings (the same database as the API: `database`
    names it, without its password, and a worker configured for another refuses). Returns
    how the execution ended."""
    import multiprocessing

    from distributed import get_worker, secede

    from trainql.config import get_settings

    worker = get_worker()
    settings = get_settings()
    if database_identity(settings.database_url) != database:
        raise WorkerMisconfigured(
            f"This worker's TRAINQL_DATABASE_URL names {database_identity(settings.database_url)}"
            f", the API's names {database}: give the workers the API's TRAINQL_* settings."
        )
    if multiprocessing.current_process().daemon:
        raise WorkerMisconfigured(
            "A Dask worker under a nanny is a daemon process and cannot start the process a "
            "training runs in: start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False "
            "(or `dask worker --no-nanny`)."
        )
    job = assignment.job
    if job.split_fit is not None:
        # The scheduler as this worker reaches it (the API may know it by another name).
        job = dataclasses.replace(
            job, split_fit=dataclasses.replace(job.split_fit, scheduler=worker.scheduler.address)
        )
    owner = f"{worker.address} (pid {os.getpid()})"
    # The fit runs in a child process and this thread only waits for it: give its thread
    # back to the worker (the `training` resource stays held until the task ends), so that
    # the batches of trees of a split fit can run on this worker too.
    secede()
    ending = asyncio.run(
        _execute_in_worker(settings, dataclasses.replace(assignment, job=job), owner)
    )
    return ending.value


async def _execute_in_worker(settings: Settings, assignment: RunAssignment, owner: str) -> Ending:
    db = Database.for_settings(settings)
    # One child process per training, as in the API: the time limit can stop it.
    executor = LocalExecutor()
    try:
        return await execute_run(
            db, assignment, policy=LeasePolicy.of(settings), owner=owner, executor=executor
        )
    finally:
        await executor.shutdown()
        await db.dispose()


def database_identity(url: str) -> str:
    """The database a URL names, without its password (safe to send to workers and log)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)
