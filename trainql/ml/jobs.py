"""What the executor sends to a worker and gets back: small picklable dataclasses.

This module stays light (no scikit-learn), so the service process never imports the
training stack to train: only worker processes do, through `run_training_job`. (A process
that serves predictions imports scikit-learn once, when it first loads a model: ml/serving.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainql.constants import RANDOM_STATE
from trainql.domain import RunOutcome
from trainql.training_request import Hyperparameters


@dataclass(frozen=True, slots=True)
class SplitFit:
    """Fit the forest with joblib's Dask backend, its trees built across the cluster's
    workers, when the training split has at least `min_rows` rows."""

    scheduler: str
    min_rows: int


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """Everything a worker needs to train one model. `dataset_path` and `model_path` are
    storage locations (storage_root): a local path or an fsspec URL."""

    dataset_path: str | Path
    dataset_display: str
    target_column: str
    test_split: float
    hyperparameters: Hyperparameters
    model_path: str | Path | None = None
    random_state: int = RANDOM_STATE
    n_jobs: int = -1
    split_fit: SplitFit | None = None


@dataclass(frozen=True, slots=True)
class TrainingResult(RunOutcome):
    """The outcome a run records, and how long each step took (for benchmarks)."""

    timings: dict[str, float] = field(default_factory=dict)


def run_training_job(job: TrainingJob) -> TrainingResult:
    """The executor's entry point: train in this (worker) process. The fitted model is
    written to `job.model_path`, never sent back."""
    from trainql.ml.training import train

    return train(job)
