"""The local executor: a worker process per training, a time limit, one at a time."""

from __future__ import annotations

import os
import time

import pytest

from trainql.ml.executor import LocalExecutor, TrainingTimeout


def _pid_of_worker(_: object) -> int:
    return os.getpid()


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _raise(message: str) -> None:
    raise ValueError(message)


def _parent_death_signal(_: object) -> int:
    # prctl(PR_GET_PDEATHSIG, &sig): the signal this process gets when its parent dies.
    import ctypes

    signal_number = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(signal_number))
    return signal_number.value


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


async def test_a_training_process_dies_with_its_parent():
    # given / when
    executor = LocalExecutor()
    try:
        death_signal = await executor.run(_parent_death_signal, None, time_limit=60)
    finally:
        await executor.shutdown()
    # then: SIGKILL, so a killed API process or Dask worker leaves no training behind
    assert death_signal == 9
