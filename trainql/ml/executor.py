"""Fitting away from the event loop: a child process with a time limit.

`LocalExecutor` runs one training at a time in a fresh child process: each training uses
every core already (n_jobs=-1), so running two at once on one machine would only make both
slower. The API process uses one with the local executor; a Dask worker uses one per
training too (trainql.execution), so that a time limit can stop the fit and free the worker.
Where a run is dispatched (this process or a Dask cluster) is trainql.dispatchers' concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, TypeVar

A = TypeVar("A")
R = TypeVar("R")

# Imported once by the fork server, so every worker starts with scikit-learn loaded.
PRELOAD = ["trainql.ml.training"]
# Trainings are batch work: a lower priority keeps the API answering quickly while one runs
# (it changes nothing when the machine is otherwise idle).
WORKER_NICENESS = 10


class TrainingTimeout(Exception):
    """The training ran longer than allowed and its worker was stopped."""


class WorkerDied(Exception):
    """The worker process ended without a result (killed, out of memory, ...)."""


class TrainingExecutor(Protocol):
    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for room to train (one training at a time) and hold it in the block."""
        ...

    async def run_now(self, fn: Callable[[A], R], arg: A, *, time_limit: float) -> R:
        """Run `fn(arg)` in a worker process; call it inside `slot()`. Raises as `run`."""
        ...

    async def run(
        self,
        fn: Callable[[A], R],
        arg: A,
        *,
        time_limit: float,
        on_start: Callable[[], Awaitable[None]] | None = None,
    ) -> R:
        """Run `fn(arg)` away from the event loop; `on_start` is awaited when it begins.

        Raises TrainingTimeout after `time_limit` seconds of running, WorkerDied when the
        worker is lost, and whatever `fn` raises.
        """
        ...

    async def shutdown(self) -> None:
        """Stop the workers (a training in progress is abandoned)."""
        ...


PR_SET_PDEATHSIG = 1


def _prepare_worker() -> None:
    """In each training process: a lower priority, and death with its parent (the fork
    server, which itself ends with the process that started it): a killed API process or
    Dask worker must not leave a training running that nobody will record."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class _OneTaskPool(ProcessPoolExecutor):
    def _adjust_process_count(self) -> None:
        # The pool's manager thread replaces a worker that ended its one task; once the pool
        # is shut down (killed) there is nothing to replace, and CPython's pool would raise
        # in that thread (its `_processes` is None by then).
        if getattr(self, "_processes", None) is None:
            return
        super()._adjust_process_count()


class LocalExecutor:
    """A process pool on this machine, one training at a time, created on first use."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._slot = asyncio.Lock()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver, not fork: forking a process that runs an event loop and database
            # connections copies them into the child. The server preloads scikit-learn, so a
            # fresh worker per training (max_tasks_per_child=1) starts quickly and hands its
            # memory back to the system when the training ends.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._pool = _OneTaskPool(
                max_workers=1,
                mp_context=context,
                initializer=_prepare_worker,
                max_tasks_per_child=1,
            )
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # A running task cannot be cancelled: stop its process, and start a new pool next time.
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(OSError, AttributeError):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slot:
            yield

    async def run_now(self, fn: Callable[[A], R], arg: A, *, time_limit: float) -> R:
        # Submitting starts the worker process, and on first use the fork server, which
        # imports scikit-learn before it forks: seconds, off the event loop (a lease's
        # heartbeat runs there).
        pool = self._ensure_pool()
        future = await asyncio.to_thread(pool.submit, fn, arg)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), time_limit)
        except TimeoutError:
            self._kill_pool()
            raise TrainingTimeout(
                f"Training stopped after {time_limit:g}s (TRAINQL_TRAINING_TIMEOUT_S)."
            ) from None
        except BrokenProcessPool:
            self._kill_pool()
            raise WorkerDied("The training worker process died before finishing.") from None
        except asyncio.CancelledError:
            self._kill_pool()
            raise

    async def run(
        self,
        fn: Callable[[A], R],
        arg: A,
        *,
        time_limit: float,
        on_start: Callable[[], Awaitable[None]] | None = None,
    ) -> R:
        async with self.slot():
            if on_start is not None:
                await on_start()
            return await self.run_now(fn, arg, time_limit=time_limit)

    async def shutdown(self) -> None:
        self._kill_pool()
