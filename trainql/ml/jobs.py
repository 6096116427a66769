"""What the executor sends to a worker and gets back: small picklable dataclasses.

This module stays light (no scikit-learn), so the service process never imports the
training stack: only worker processes do, through `run_training_job`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainql.constants import RANDOM_STATE
from trainql.domain import ClassMetrics


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """Everything a worker needs to train one model."""

    dataset_path: Path
    dataset_display: str
    target_column: str
    test_split: float
    n_estimators: int
    max_depth: int | None
    min_samples_split: int
    model_path: Path | None = None
    random_state: int = RANDOM_STATE
    n_jobs: int = -1


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """Test-split metrics of a fitted model, and where it was saved."""

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    per_class_metrics: dict[str, ClassMetrics]
    features_used: list[str]
    feature_importances: dict[str, float]
    confusion_matrix: dict[str, Any]
    total_samples: int
    train_samples: int
    test_samples: int
    training_duration_seconds: float
    model_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


def run_training_job(job: TrainingJob) -> TrainingResult:
    """The executor's entry point: train in this (worker) process. The fitted model is
    written to `job.model_path`, never sent back."""
    from trainql.ml.training import train

    return train(job)
