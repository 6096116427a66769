"""The tables. Alembic (db/migrations) owns the schema; these classes describe it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from trainql.constants import DEFAULT_TARGET_COLUMN
from trainql.db.types import UTCDateTime, utcnow

# Deterministic constraint names, so migrations name what they create and can drop it again.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED")
DATASET_TRAINING_STATUSES = ("not_trained", "trained")
# The sort key of a metric column (accuracy, f1_score are in [0, 1], NULL until COMPLETED).
# Queries must spell it exactly like this (a literal, not a bound parameter) to use the index.
METRIC_NULL_SORT_KEY = -1.0
METRIC_SORT_KEY_SQL = "coalesce(%s, -1.0)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UserRow(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(150), nullable=False, unique=True))
    password_hash: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    roles: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    is_active: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true())
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )


class ApiTokenRow(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 hex digest of the token; the token itself is shown once and never stored.
    digest: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime, nullable=True)
    )


class DatasetRow(SQLModel, table=True):
    __tablename__ = "datasets"
    __table_args__ = (
        sa.CheckConstraint(
            _in("training_status", DATASET_TRAINING_STATUSES), name="training_status"
        ),
        sa.Index("ix_datasets_owner_created", "owner_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4, sa_column=sa.Column(sa.Uuid, primary_key=True)
    )
    name: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    owner_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
    )
    training_status: str = Field(
        default="not_trained",
        sa_column=sa.Column(sa.String(16), nullable=False, server_default="not_trained"),
    )
    # Relative to the data root, e.g. datasets/<uuid>.csv.
    file_path: str = Field(sa_column=sa.Column(sa.String(1024), nullable=False))
    row_count: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    columns: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )


class TrainingRunRow(SQLModel, table=True):
    __tablename__ = "training_runs"
    __table_args__ = (
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        sa.CheckConstraint("test_split >= 0.1 AND test_split <= 0.5", name="test_split"),
        sa.CheckConstraint("n_estimators >= 1", name="n_estimators"),
        # One index per list order and filter; each ends in id, the keyset tie-breaker.
        sa.Index("ix_training_runs_run_date_id", "run_date", "id"),
        # Metrics are NULL until a run completes; lists order them by a key where NULL is -1,
        # below every real value, so keyset cursors compare plain values on both databases.
        sa.Index(
            "ix_training_runs_accuracy_key_id", sa.text(METRIC_SORT_KEY_SQL % "accuracy"), "id"
        ),
        sa.Index(
            "ix_training_runs_f1_score_key_id", sa.text(METRIC_SORT_KEY_SQL % "f1_score"), "id"
        ),
        sa.Index("ix_training_runs_status_run_date_id", "status", "run_date", "id"),
        sa.Index("ix_training_runs_trained_by_run_date_id", "trained_by_id", "run_date", "id"),
        sa.Index("ix_training_runs_dataset_run_date_id", "dataset_id", "run_date", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_date: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    model_version: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    model_path: str | None = Field(default=None, sa_column=sa.Column(sa.String(1024)))
    # Hex SHA-256 of the model file's bytes as written (migration 0009; NULL for older runs):
    # a model whose bytes differ is never loaded.
    model_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    dataset_path: str = Field(sa_column=sa.Column(sa.String(1024), nullable=False))
    dataset_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("datasets.id", ondelete="SET NULL")),
    )
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    error_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    accuracy: float | None = Field(default=None, sa_column=sa.Column(sa.Float))
    precision: float | None = Field(default=None, sa_column=sa.Column(sa.Float))
    recall: float | None = Field(default=None, sa_column=sa.Column(sa.Float))
    f1_score: float | None = Field(default=None, sa_column=sa.Column(sa.Float))
    training_duration_seconds: float | None = Field(default=None, sa_column=sa.Column(sa.Float))
    total_samples: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    train_samples: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    test_samples: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    test_split: float = Field(sa_column=sa.Column(sa.Float, nullable=False))
    n_estimators: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    random_state: int = Field(
        default=42, sa_column=sa.Column(sa.Integer, nullable=False, server_default="42")
    )
    target_column: str = Field(
        default=DEFAULT_TARGET_COLUMN,
        # The server default is the initial migration's (runs recorded before the column).
        sa_column=sa.Column(sa.String(255), nullable=False, server_default=DEFAULT_TARGET_COLUMN),
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    per_class_metrics: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    features_used: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    feature_importances: dict[str, float] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    confusion_matrix: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    # The model's input columns, [{"name", "kind", "categories"}] (migration 0009; NULL until
    # COMPLETED, and for runs trained before it).
    input_schema: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    trained_by_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    notes: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    # The lifecycle (db/training_runs.py): which execution owns the run and until when.
    # `attempt` counts the executions that claimed the run; `fencing_token` moves on every
    # claim and every re-dispatch, and each write an execution makes names the token it was
    # given, so an execution that lost the run can never write over a newer one.
    attempt: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    fencing_token: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    # RUNNING: the worker running it; its lease is renewed by a heartbeat. QUEUED: until when
    # the dispatcher vouches that the run is submitted (after that a reconciler submits it
    # again). NULL: nobody (a reconciler takes it at once).
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    lease_expires_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    attempt_started_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    # What kind of failure a FAILED run had (trainql.domain.RunFailure), beside its message.
    error_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))


class TrainingRunStatusCountRow(SQLModel, table=True):
    """How many runs have each status. Kept by triggers on training_runs (migration 0006) in
    the same transaction as every write there; never written by the service."""

    __tablename__ = "training_run_status_counts"

    status: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True))
    runs: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class TrainingRunTrainerCountRow(SQLModel, table=True):
    """How many runs each trainer has in each status (runs without a trainer are only in the
    status counts). Kept by the same triggers."""

    __tablename__ = "training_run_trainer_counts"

    trained_by_id: int = Field(
        sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    )
    status: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True))
    runs: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class PersistedQueryRow(SQLModel, table=True):
    """An automatic persisted query, shared by every process on the database."""

    __tablename__ = "persisted_queries"
    __table_args__ = (sa.Index("ix_persisted_queries_last_used_at", "last_used_at"),)

    # Lower-case hex SHA-256 of the query text.
    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    query: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    last_used_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )


LOGIN_THROTTLE_SCOPES = ("username", "address")


class LoginThrottleRow(SQLModel, table=True):
    """Login attempts since the last success, per username and per client address.

    Shared by every process on a PostgreSQL database (SQLite keeps them in memory instead:
    resolvers/login_throttle.py). An attempt is counted when it starts, before its password
    is checked, so concurrent guesses cannot all slip in before the first one is recorded.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (
        sa.CheckConstraint(_in("scope", LOGIN_THROTTLE_SCOPES), name="scope"),
        sa.Index("ix_login_throttle_last_attempt_at", "last_attempt_at"),
    )

    scope: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True))
    # A username (longer ones are cut: no real username is over 150 characters) or an
    # address (IPv4, or an IPv6 /64 network).
    subject: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    attempts: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    last_attempt_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    # No attempt is checked before this; NULL while the attempts are within the free ones.
    locked_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class ModelAliasRow(SQLModel, table=True):
    """A name teams give a model ("production"): it points at one COMPLETED run. Moving it
    is one UPDATE of this row, so a prediction reads either the old run or the new one."""

    __tablename__ = "model_aliases"

    alias: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    # Deleting the run deletes its aliases (and the change log keeps what they pointed at).
    training_run_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("training_runs.id", ondelete="CASCADE"), nullable=False
        )
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    updated_by_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )


class ModelAliasChangeRow(SQLModel, table=True):
    """Every change of an alias: who, when, from which run to which (NULL from: created; NULL
    to: deleted). Plain ids, no foreign keys: the log outlives the runs and users it names."""

    __tablename__ = "model_alias_changes"
    __table_args__ = (sa.Index("ix_model_alias_changes_alias", "alias", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alias: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    from_training_run_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    to_training_run_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    changed_by_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    changed_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
