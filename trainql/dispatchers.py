"""Where a run is sent to be trained (TRAINQL_EXECUTOR): this process, or a Dask cluster.

A dispatcher only hands a run's dispatch (trainql.execution.RunAssignment) to something
that will execute it; the execution claims the run and records its outcome itself. So a
dispatch may be lost (a crash before it is made, a scheduler that restarts) without losing
the run: it stays QUEUED, and a reconciler dispatches it again once its dispatch lease has
run out. Dispatching the same assignment twice is harmless: one execution claims the run.

- `LocalDispatcher` (`local`, the default): an asyncio task in this process, fitting in
  this process's LocalExecutor, one training at a time.
- `DaskDispatcher` (`dask://host:port`): a task on a dask.distributed cluster, submitted
  fire-and-forget, so it runs to its end even when the API process that submitted it
  dies; its key is the assignment's, so a second submission while the first is still
  known to the scheduler adds nothing. Each task asks for one unit of the worker resource
  `training`: a worker started with `--resources training=1` takes one training at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

from trainql.background import BackgroundTasks
from trainql.config import Settings
from trainql.db.engine import Database, is_outage
from trainql.domain import TrainingRun
from trainql.execution import (
    LeasePolicy,
    RunAssignment,
    database_identity,
    execute_run,
    process_owner,
    run_on_dask_worker,
)
from trainql.ml.executor import LocalExecutor
from trainql.ml.jobs import SplitFit, TrainingJob
from trainql.training_request import Hyperparameters

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger("trainql.dispatch")

# The worker resource one training takes (`dask worker --resources training=1`).
TRAINING_RESOURCE = "training"
# How long the API waits for the scheduler when it connects.
CONNECT_TIMEOUT_S = 10


class UnsupportedExecutor(ValueError):
    """TRAINQL_EXECUTOR names an executor this deployment cannot use (refused at start)."""


class DispatchUnavailable(RuntimeError):
    """The dispatch could not be made now (the scheduler is away); the run stays QUEUED and
    a reconciler dispatches it again later."""


class DispatchHandle(Protocol):
    async def wait(self) -> None:
        """Until the dispatched execution has ended (or can no longer be followed). How the
        run ended is in its row: the execution may have lost it to another."""
        ...


class Dispatcher(Protocol):
    # A dispatcher whose executions run elsewhere needs storage they can reach too.
    needs_shared_storage: bool

    def split_fit(self) -> SplitFit | None:
        """How its executions split large fits across the cluster (None: they do not)."""
        ...

    async def start(self) -> None: ...

    async def dispatch(self, assignment: RunAssignment) -> DispatchHandle:
        """Send the assignment to be executed; DispatchUnavailable when that is not possible
        now."""
        ...

    async def stop(self) -> None:
        """Stop dispatching; executions running in this process give their runs back."""
        ...


def assignment_for(
    run: TrainingRun, *, token: int, settings: Settings, split_fit: SplitFit | None
) -> RunAssignment:
    """The dispatch of `run` under `token`: everything an execution needs, from the row (so
    a first dispatch and a reconciler's later one train the same thing)."""
    details = run.details
    assert details is not None, "a run is dispatched as read with its details"
    stored = {"n_estimators": run.n_estimators, **details.hyperparameters}
    hyperparameters = Hyperparameters.model_validate(
        {name: stored[name] for name in Hyperparameters.model_fields if name in stored}
    )
    job = TrainingJob(
        dataset_path=settings.data_location.child(run.dataset_path),
        dataset_display=run.dataset_path,
        target_column=run.target_column,
        test_split=run.test_split,
        hyperparameters=hyperparameters,
        random_state=run.random_state,
        split_fit=split_fit,
    )
    return RunAssignment(
        run_id=run.id,
        token=token,
        model_version=run.model_version,
        model_dir=settings.model_location,
        job=job,
        time_limit_s=settings.training_timeout_s,
    )


class _TaskHandle:
    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    async def wait(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self._task)


class LocalDispatcher:
    """Executes runs in this process: an asyncio task each, fitting in a child process of
    this one (one at a time)."""

    needs_shared_storage = False

    def __init__(self, db: Database, policy: LeasePolicy, tasks: BackgroundTasks) -> None:
        self._db = db
        self._policy = policy
        self._tasks = tasks
        self._executor = LocalExecutor()
        self._pending: dict[str, asyncio.Task[None]] = {}

    def split_fit(self) -> SplitFit | None:
        return None

    async def start(self) -> None:
        return None

    async def dispatch(self, assignment: RunAssignment) -> DispatchHandle:
        key = assignment.key
        task = self._pending.get(key)
        if task is None:
            task = self._tasks.spawn(self._execute(assignment), name=f"training-{key}")
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return _TaskHandle(task)

    async def _execute(self, assignment: RunAssignment) -> None:
        try:
            await execute_run(
                self._db,
                assignment,
                policy=self._policy,
                owner=process_owner(),
                executor=self._executor,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The claim itself failed: the run stays QUEUED and a reconciler dispatches it
            # again once its dispatch lease runs out.
            if is_outage(exc):
                logger.warning("Run %d not started: the database is unreachable", assignment.run_id)
            else:
                logger.exception("Training run %d could not be executed", assignment.run_id)

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        await self._executor.shutdown()


class _DaskHandle:
    def __init__(self, future: Any, run_id: int) -> None:
        self._future = future
        self._run_id = run_id

    async def wait(self) -> None:
        try:
            await self._future
        except Exception as exc:
            # A lost worker, a scheduler restart, a misconfigured worker: the run's row says
            # what became of it (a reconciler retries it when its lease runs out).
            logger.warning("Dask task of run %d ended without a result: %r", self._run_id, exc)


class DaskDispatcher:
    """Submits runs to a dask.distributed scheduler through one asynchronous client per
    process, reconnecting when the scheduler comes back after a restart."""

    needs_shared_storage = True

    def __init__(self, address: str, *, database: str, split_fit_min_rows: int) -> None:
        self.address = address
        self._database = database
        self._split_fit_min_rows = split_fit_min_rows
        self._client: Client | None = None
        self._reconnecting: asyncio.Task[None] | None = None

    def split_fit(self) -> SplitFit | None:
        return SplitFit(scheduler=self.address, min_rows=self._split_fit_min_rows)

    async def start(self) -> None:
        try:
            self._client = await self._connect()
        except (OSError, TimeoutError) as exc:
            raise UnsupportedExecutor(
                f"Could not reach the Dask scheduler at {self.address} (TRAINQL_EXECUTOR): "
                f"{exc}. Start the scheduler first (`dask scheduler`)."
            ) from exc
        scheduler = self._client.scheduler
        assert scheduler is not None  # connected just above
        identity = await scheduler.identity(n_workers=-1)
        workers = identity.get("workers", {})
        if not any(TRAINING_RESOURCE in w.get("resources", {}) for w in workers.values()):
            logger.warning(
                "No Dask worker at %s offers the resource %r yet: trainings wait in the queue "
                "until one does (`dask worker %s --resources %s=1`).",
                self.address,
                TRAINING_RESOURCE,
                self.address,
                TRAINING_RESOURCE,
            )

    async def _connect(self) -> Client:
        import os
        import socket

        from distributed import Client

        client: Client = await Client(
            self.address,
            asynchronous=True,
            timeout=CONNECT_TIMEOUT_S,
            name=f"trainql-api {socket.gethostname()} pid {os.getpid()}",
            set_as_default=False,
        )
        return client

    def _connected(self) -> Client:
        client = self._client
        if client is not None and client.status == "running":
            return client
        if client is None or client.status in {"closing", "closed", "failed"}:
            # The client gave up on a scheduler that stayed away: connect anew in the
            # background, and say so now rather than make the request wait.
            self._reconnect()
        raise DispatchUnavailable(f"The Dask scheduler at {self.address} is not connected.")

    def _reconnect(self) -> None:
        if self._reconnecting is not None and not self._reconnecting.done():
            return

        async def reconnect() -> None:
            try:
                self._client = await self._connect()
                logger.info("Reconnected to the Dask scheduler at %s", self.address)
            except (OSError, TimeoutError) as exc:
                logger.warning("The Dask scheduler at %s is still away: %s", self.address, exc)

        self._reconnecting = asyncio.create_task(reconnect(), name="dask-reconnect")

    async def dispatch(self, assignment: RunAssignment) -> DispatchHandle:
        from distributed import fire_and_forget

        client = self._connected()
        future = client.submit(
            run_on_dask_worker,
            assignment,
            self._database,
            key=assignment.key,
            pure=False,
            retries=0,
            resources={TRAINING_RESOURCE: 1},
        )
        # The scheduler keeps the task (and runs it to its end) even when this process
        # drops its future or dies.
        fire_and_forget(future)
        return _DaskHandle(future, assignment.run_id)

    async def stop(self) -> None:
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


def create_dispatcher(
    settings: Settings, db: Database, tasks: BackgroundTasks
) -> LocalDispatcher | DaskDispatcher:
    """The dispatcher TRAINQL_EXECUTOR names, or UnsupportedExecutor saying why it cannot be
    used here (the Dask executor needs PostgreSQL and storage its workers share)."""
    spec = settings.executor.strip()
    if spec.lower() == "local":
        return LocalDispatcher(db, LeasePolicy.of(settings), tasks)
    if not settings.uses_dask:
        raise UnsupportedExecutor(
            f"TRAINQL_EXECUTOR={spec!r} is not supported: use 'local' (a process pool on this "
            "machine) or 'dask://host:port' (a Dask scheduler)."
        )
    if db.dialect != "postgresql":
        raise UnsupportedExecutor(
            f"TRAINQL_EXECUTOR={spec!r} needs PostgreSQL: Dask workers record the runs in the "
            f"API's database, and {db.dialect} is a file on the API's machine. Set "
            "TRAINQL_DATABASE_URL=postgresql://..., or TRAINQL_EXECUTOR=local."
        )
    for root in (settings.data_location, settings.model_location):
        if not root.is_url:
            raise UnsupportedExecutor(
                f"TRAINQL_EXECUTOR={spec!r} needs storage that every worker shares, and "
                f"{root.setting}={root.configured!r} is a plain local path. Use "
                "s3://bucket/prefix, or file:///path when every worker sees that path "
                "(a shared filesystem, or one machine)."
            )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UnsupportedExecutor(
            f"TRAINQL_EXECUTOR={spec!r} needs dask.distributed: pip install 'trainql[cluster]'."
        ) from None
    return DaskDispatcher(
        "tcp://" + spec[len("dask://") :],
        database=database_identity(settings.database_url),
        split_fit_min_rows=settings.dask_split_fit_min_rows,
    )


async def dispatch_run(
    dispatcher: LocalDispatcher | DaskDispatcher,
    run: TrainingRun,
    *,
    token: int,
    settings: Settings,
) -> DispatchHandle | None:
    """Dispatch `run` under `token`; None when the dispatch could not be made now (logged:
    the run stays QUEUED and a reconciler dispatches it again)."""
    assignment = assignment_for(
        run, token=token, settings=settings, split_fit=dispatcher.split_fit()
    )
    try:
        return await dispatcher.dispatch(assignment)
    except DispatchUnavailable as exc:
        logger.warning("Run %d not dispatched now: %s", run.id, exc)
    except Exception:
        logger.exception("Run %d could not be dispatched; a reconciler will try again", run.id)
    return None
