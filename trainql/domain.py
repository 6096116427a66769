"""Domain objects: what leaves `db/` and what resolvers hand to the transports.

Plain frozen dataclasses, so nothing above `db/` can lazily load or mutate an ORM row.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any


class Role(enum.StrEnum):
    HR_STAFF = "HR_STAFF"
    MANAGER = "MANAGER"


class TrainingRunStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (TrainingRunStatus.COMPLETED, TrainingRunStatus.FAILED)


class RunFailure(enum.StrEnum):
    """Why a FAILED run failed (its `error_code`); its `error_message` says it in words."""

    TRAINING_ERROR = "TRAINING_FAILED"  # fitting raised
    DATASET_INVALID = "DATASET_INVALID"  # the dataset could not be read when fitting
    TIMED_OUT = "TRAINING_TIMEOUT"  # TRAINQL_TRAINING_TIMEOUT_S passed
    WORKER_LOST = "WORKER_LOST"  # every attempt's worker went away
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"  # the model could not be written
    NOT_RECORDED = "NOT_RECORDED"  # the outcome could not be recorded


class DatasetTrainingStatus(enum.StrEnum):
    TRAINED = "trained"
    NOT_TRAINED = "not_trained"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    roles: frozenset[Role]
    is_active: bool = True

    def has_any_role(self, roles: frozenset[Role]) -> bool:
        return bool(self.roles & roles)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored API token (its digest, never the token itself) and its active user."""

    id: int
    user: User
    created_at: datetime
    last_used_at: datetime | None

    def expired(self, ttl_hours: float | None, now: datetime) -> bool:
        """Whether the token is `ttl_hours` old or older at `now` (never, without a lifetime)."""
        return ttl_hours is not None and now - self.created_at >= timedelta(hours=ttl_hours)


@dataclass(frozen=True, slots=True)
class Dataset:
    id: uuid.UUID
    name: str
    owner_id: int | None
    training_status: DatasetTrainingStatus
    file_path: str
    row_count: int | None
    columns: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    accuracy: float
    precision: float
    recall: float
    f1_score: float
    support: int


def class_metrics_fields(metrics: ClassMetrics) -> dict[str, float | int]:
    """One class's metrics by field name, in field order: what `dataclasses.asdict` answers
    for these plain values, without its recursive deep copy (a REST run detail spent more
    on asdict than on the rest of its serializing)."""
    return {name: getattr(metrics, name) for name in _CLASS_METRIC_FIELDS}


_CLASS_METRIC_FIELDS = tuple(f.name for f in fields(ClassMetrics))


class FeatureKind(enum.StrEnum):
    CATEGORICAL = "CATEGORICAL"
    NUMERIC = "NUMERIC"


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    """One input column of a fitted model: its kind and, for a categorical column, the
    categories seen in the training split (in the encoder's order; None for a numeric one)."""

    name: str
    kind: FeatureKind
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a COMPLETED run records: its test-split metrics and where its model was saved."""

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    per_class_metrics: dict[str, ClassMetrics]
    features_used: list[str]
    feature_importances: dict[str, float]
    # {"labels": [...], "matrix": [[...], ...]}: matrix[i][j] counts labels[i] predicted labels[j]
    confusion_matrix: dict[str, Any]
    total_samples: int
    train_samples: int
    test_samples: int
    training_duration_seconds: float
    model_path: str | None = None
    # The SHA-256 (hex) of the model file's bytes, computed while it was written: the service
    # loads only a file whose bytes still have it.
    model_sha256: str | None = None
    # The model's input columns, in the pipeline's order (what predictions must give).
    input_schema: tuple[FeatureColumn, ...] | None = None


@dataclass(frozen=True, slots=True)
class TrainingRunDetails:
    """What a run records beyond the fields a list shows: hyperparameters, per-class metrics,
    features, importances and the confusion matrix. They are most of a run's stored bytes,
    so lists of runs read them only for the clients that ask."""

    hyperparameters: dict[str, Any] = field(default_factory=dict)
    per_class_metrics: dict[str, ClassMetrics] = field(default_factory=dict)
    features_used: list[str] = field(default_factory=list)
    feature_importances: dict[str, float] = field(default_factory=dict)
    confusion_matrix: dict[str, Any] | None = None
    # None for a run not COMPLETED, or trained before input schemas were recorded.
    input_schema: tuple[FeatureColumn, ...] | None = None


@dataclass(frozen=True, slots=True)
class TrainingRun:
    """One training run: the fields of the REST list and detail, and its `details`."""

    id: int
    run_date: datetime
    model_version: str
    status: TrainingRunStatus
    dataset_path: str
    test_split: float
    random_state: int
    target_column: str
    n_estimators: int
    notes: str
    model_path: str | None = None
    # See RunOutcome.model_sha256; None for a run trained before digests were recorded.
    model_sha256: str | None = None
    dataset_id: uuid.UUID | None = None
    trained_by_id: int | None = None
    # The trainer, when the run was read together with its user row (lists and single reads
    # join it); None for a run without a trainer or read without the join.
    trained_by: User | None = None
    error_message: str | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1_score: float | None = None
    training_duration_seconds: float | None = None
    total_samples: int | None = None
    train_samples: int | None = None
    test_samples: int | None = None
    updated_at: datetime | None = None
    # None when the run was read without them: list pages leave them out (see
    # TrainingRunDetails).
    details: TrainingRunDetails | None = None
    # The lifecycle: how many executions claimed the run, the token of the newest dispatch,
    # who runs it (while RUNNING) and until when its lease lasts.
    attempt: int = 0
    fencing_token: int = 0
    worker: str | None = None
    lease_expires_at: datetime | None = None
    attempt_started_at: datetime | None = None
    error_code: RunFailure | None = None

    @property
    def trained_by_username(self) -> str | None:
        return None if self.trained_by is None else self.trained_by.username


class OrderDirection(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class TrainingRunOrderField(enum.StrEnum):
    RUN_DATE = "RUN_DATE"
    ACCURACY = "ACCURACY"
    F1_SCORE = "F1_SCORE"
    MODEL_VERSION = "MODEL_VERSION"


@dataclass(frozen=True, slots=True)
class TrainingRunFilter:
    """Which runs a list shows; every condition given must hold (None: no condition).

    `run_date_from` is inclusive and `run_date_to` exclusive; `min_accuracy` leaves out runs
    without an accuracy.
    """

    statuses: frozenset[TrainingRunStatus] | None = None
    trained_by: str | None = None
    model_version: str | None = None
    dataset_id: uuid.UUID | None = None
    run_date_from: datetime | None = None
    run_date_to: datetime | None = None
    min_accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class TrainingRunOrder:
    """How a list of runs is ordered; `id` (same direction) breaks ties.

    A NULL metric (a run not COMPLETED) sorts below every value: last in DESC, first in ASC.
    """

    field: TrainingRunOrderField = TrainingRunOrderField.RUN_DATE
    direction: OrderDirection = OrderDirection.DESC


@dataclass(frozen=True, slots=True)
class ModelAlias:
    """A name pointing at one COMPLETED run ("production"), and who pointed it there last."""

    alias: str
    training_run: TrainingRun
    updated_at: datetime
    updated_by_id: int | None


@dataclass(frozen=True, slots=True)
class ModelAliasChange:
    """One change of an alias, as the log keeps it: `from_training_run_id` None when the
    change created the alias, `to_training_run_id` None when it deleted it."""

    id: int
    alias: str
    from_training_run_id: int | None
    to_training_run_id: int | None
    changed_by_id: int | None
    changed_at: datetime
