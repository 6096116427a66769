"""The COMPLETED runs a process has predicted with, by id and by model version.

A COMPLETED run is final: no write moves it to another status (the executions' writes are
fenced to QUEUED and RUNNING runs, db/training_runs.py), nothing deletes a run, and its
model file, digest, version and input schema are written once, with the status. So a
COMPLETED run read once answers every later prediction that names it without a trip to the
database: on SQLite that trip was a fifth of a one-row prediction. Only runs that passed the
predictions' check are kept (resolvers/predictions.check_servable), never a run in another
status (it may still complete or fail). Aliases are not kept either: an alias
moves, so it is read from the database on every request, and only the run it names comes
from here. What the model file holds is checked by the model cache, not here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from trainql.domain import TrainingRun, TrainingRunStatus

MAX_RUNS = 1024


@dataclass
class CompletedRuns:
    """See the module docstring. One per process (Services.completed_runs); the least
    recently used run goes first beyond `max_runs`."""

    max_runs: int = MAX_RUNS
    _by_id: OrderedDict[int, TrainingRun] = field(default_factory=OrderedDict, repr=False)
    _ids_by_version: dict[str, int] = field(default_factory=dict, repr=False)

    def by_id(self, run_id: int) -> TrainingRun | None:
        run = self._by_id.get(run_id)
        if run is not None:
            self._by_id.move_to_end(run_id)
        return run

    def by_version(self, model_version: str) -> TrainingRun | None:
        run_id = self._ids_by_version.get(model_version)
        return None if run_id is None else self.by_id(run_id)

    def remember(self, run: TrainingRun) -> None:
        """Keep `run` if it is COMPLETED (any other status is not final)."""
        if run.status != TrainingRunStatus.COMPLETED:
            return
        self._by_id[run.id] = run
        self._by_id.move_to_end(run.id)
        if run.model_version is not None:
            self._ids_by_version[run.model_version] = run.id
        while len(self._by_id) > self.max_runs:
            _id, dropped = self._by_id.popitem(last=False)
            if dropped.model_version is not None:
                self._ids_by_version.pop(dropped.model_version, None)

    def __len__(self) -> int:
        return len(self._by_id)
