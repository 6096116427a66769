"""Domain objects to the legacy JSON shapes (field names and types of the old API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trainql.domain import Dataset, TrainingRun, TrainingRunStatus, class_metrics_fields


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with a Z, as the old API wrote timestamps."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def training_run_summary(run: TrainingRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "run_date": iso_utc(run.run_date),
        "model_version": run.model_version,
        "status": run.status.value,
        "accuracy": run.accuracy,
        "precision": run.precision,
        "recall": run.recall,
        "f1_score": run.f1_score,
        "training_duration_seconds": run.training_duration_seconds,
        "trained_by_username": run.trained_by_username,
    }


def training_run_detail(run: TrainingRun) -> dict[str, Any]:
    details = run.details
    # Every path to a detail reads one run with its details; a list's run has none.
    assert details is not None, "training_run_detail needs a run read with its details"
    return {
        "id": run.id,
        "run_date": iso_utc(run.run_date),
        "model_version": run.model_version,
        "model_path": run.model_path,
        "dataset_path": run.dataset_path,
        "status": run.status.value,
        "error_message": run.error_message,
        "accuracy": run.accuracy,
        "precision": run.precision,
        "recall": run.recall,
        "f1_score": run.f1_score,
        "total_samples": run.total_samples,
        "train_samples": run.train_samples,
        "test_samples": run.test_samples,
        "test_split": run.test_split,
        "n_estimators": run.n_estimators,
        "random_state": run.random_state,
        "hyperparameters": dict(details.hyperparameters),
        "training_duration_seconds": run.training_duration_seconds,
        "per_class_metrics": {
            # The legacy per-class keys are ClassMetrics' field names.
            label: class_metrics_fields(m)
            for label, m in details.per_class_metrics.items()
        },
        "features_used": list(details.features_used),
        "feature_importances": dict(details.feature_importances),
        "confusion_matrix": details.confusion_matrix,
        "trained_by_username": run.trained_by_username,
        "notes": run.notes,
        "target_column": run.target_column,
        "dataset_id": str(run.dataset_id) if run.dataset_id else None,
    }


def train_response(run: TrainingRun, message: str) -> dict[str, Any]:
    """POST /api/training/train/: 201 with the metrics, or 202 for a queued run."""
    body: dict[str, Any] = {
        "training_run_id": run.id,
        "status": run.status.value,
        "message": message,
    }
    if run.status == TrainingRunStatus.COMPLETED:
        body["model_version"] = run.model_version
        body["metrics"] = {
            "accuracy": run.accuracy,
            "precision": run.precision,
            "recall": run.recall,
            "f1_score": run.f1_score,
            "training_duration_seconds": run.training_duration_seconds,
        }
    return body


def dataset_body(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "training_status": dataset.training_status.value,
        "owner_id": dataset.owner_id,
        "row_count": dataset.row_count,
        "columns": list(dataset.columns),
        "file_path": dataset.file_path,
        "created_at": iso_utc(dataset.created_at),
        "updated_at": iso_utc(dataset.updated_at),
    }
