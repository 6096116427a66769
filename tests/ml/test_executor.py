"""The local executor: a worker process per training, a time limit, one at a time."""

from __future__ import annotations

import os
import time

import pytest

from trainql.ml.executor import LocalExecutor, TrainingTimeout, UnsupportedExecutor, create_executor


def _pid_of_worker(_: object) -> int:
    return os.getpid()


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _raise(message: str) -> None:
    raise ValueError(message)


async def test_work_runs_in_another_process_and_errors_come_back():
    executor = LocalExecutor()
    try:
        assert await executor.run(_pid_of_worker, None, time_limit=60) != os.getpid()
        with pytest.raises(ValueError, match="boom"):
            await executor.run(_raise, "boom", time_limit=60)
    finally:
        await executor.shutdown()


async def test_a_training_over_its_time_limit_is_stopped_and_the_next_one_runs():
    executor = LocalExecutor()
    started: list[str] = []

    async def on_start() -> None:
        started.append("started")

    try:
        with pytest.raises(TrainingTimeout, match=r"stopped after 0.3s"):
            await executor.run(_sleep, 30.0, time_limit=0.3, on_start=on_start)
        assert started == ["started"]
        assert await executor.run(_sleep, 0.0, time_limit=60) == 0.0
    finally:
        await executor.shutdown()


def test_only_the_local_executor_exists_so_far():
    assert isinstance(create_executor("local"), LocalExecutor)
    with pytest.raises(UnsupportedExecutor, match="'dask://scheduler:8786' is not supported"):
        create_executor("dask://scheduler:8786")
