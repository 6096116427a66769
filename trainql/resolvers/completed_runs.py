"""The COMPLETED runs a process has predicted with, by id and by model version.

A COMPLETED run is final: no write moves it to another status (the executions' writes are
fenced to QUEUED and RUNNING runs, db/training_runs.py), nothing deletes a run, and its
model file, digest, version and input schema are written once, with the status. So a
COMPLETED run read once answers the later predictions that name it, for up to MAX_AGE_S,
without a trip to the database (on SQLite that trip was a fifth of a one-row prediction).
Only runs that passed the predictions' check are kept (resolvers/predictions.check_servable),
never a run in another status (it may still complete or fail). Aliases are not kept either:
an alias moves, so it is read from the database on every request, and only the run it names
comes from here. What the model file holds is checked by the model cache, not here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from trainql.domain import TrainingRun, TrainingRunStatus

MAX_RUNS = 1024
# The run is final, but it is read with its trainer's user row (username, roles, active),
# which is not: an entry is read again after this long, so a trainer's change shows in a
# prediction's `trainingRun` within a second, the bound the token cache keeps as well.
MAX_AGE_S = 1.0


@dataclass
class CompletedRuns:
    """See the module docstring. One per process (Services.completed_runs); the least
    recently used run goes first beyond `max_runs`."""

    max_runs: int = MAX_RUNS
    max_age_s: float = MAX_AGE_S
    clock: Callable[[], float] = time.monotonic
    _by_id: OrderedDict[int, tuple[TrainingRun, float]] = field(
        default_factory=OrderedDict, repr=False
    )
    _ids_by_version: dict[str, int] = field(default_factory=dict, repr=False)

    def by_id(self, run_id: int) -> TrainingRun | None:
        entry = self._by_id.get(run_id)
        if entry is None:
            return None
        run, read_at = entry
        if self.clock() - read_at >= self.max_age_s:
            self._forget(run_id)
            return None
        self._by_id.move_to_end(run_id)
        return run

    def by_version(self, model_version: str) -> TrainingRun | None:
        run_id = self._ids_by_version.get(model_version)
        return None if run_id is None else self.by_id(run_id)

    def remember(self, run: TrainingRun) -> None:
        """Keep `run`, just read, if it is COMPLETED (any other status is not final); a run
        this already holds keeps the time it was read."""
        if run.status != TrainingRunStatus.COMPLETED:
            return
        entry = self._by_id.get(run.id)
        if entry is not None and entry[0] is run:
            return
        self._by_id[run.id] = (run, self.clock())
        self._by_id.move_to_end(run.id)
        self._ids_by_version[run.model_version] = run.id
        while len(self._by_id) > self.max_runs:
            self._forget(next(iter(self._by_id)))

    def _forget(self, run_id: int) -> None:
        run, _read_at = self._by_id.pop(run_id)
        if self._ids_by_version.get(run.model_version) == run_id:
            del self._ids_by_version[run.model_version]

    def __len__(self) -> int:
        return len(self._by_id)
