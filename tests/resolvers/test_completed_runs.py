"""The COMPLETED runs predictions remember: only COMPLETED ones, for at most their age, the
least recently used out first."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.resolvers.completed_runs import CompletedRuns


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run(run_id: int, status: TrainingRunStatus = TrainingRunStatus.COMPLETED) -> TrainingRun:
    return TrainingRun(
        id=run_id,
        run_date=datetime(2026, 12, 1, tzinfo=UTC),
        model_version=f"v{run_id}",
        status=status,
        dataset_path="future_skills.csv",
        test_split=0.2,
        random_state=42,
        target_column="future_need_level",
        n_estimators=10,
        notes="",
    )


def test_a_completed_run_is_answered_by_id_and_version_until_its_age():
    clock = Clock()
    runs = CompletedRuns(max_age_s=1.0, clock=clock)
    run = _run(1)
    runs.remember(run)
    clock.now += 0.9
    runs.remember(run)  # a hit remembered again keeps the time it was read
    assert runs.by_id(1) is run and runs.by_version("v1") is run
    clock.now += 0.1
    assert runs.by_id(1) is None and runs.by_version("v1") is None
    assert len(runs) == 0
    # read again: a new entry, a new age
    fresh = dataclasses.replace(run)
    runs.remember(fresh)
    assert runs.by_id(1) is fresh


def test_runs_in_any_other_status_are_never_kept():
    runs = CompletedRuns(clock=Clock())
    for status in (TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING, TrainingRunStatus.FAILED):
        runs.remember(_run(1, status))
    assert runs.by_id(1) is None and len(runs) == 0


def test_the_least_recently_used_run_goes_first():
    runs = CompletedRuns(max_runs=2, clock=Clock())
    runs.remember(_run(1))
    runs.remember(_run(2))
    assert runs.by_id(1) is not None  # 1 used last
    runs.remember(_run(3))
    assert runs.by_id(2) is None and runs.by_version("v2") is None
    assert runs.by_id(1) is not None and runs.by_id(3) is not None
