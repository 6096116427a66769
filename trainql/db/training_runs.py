"""Training run rows: conversion to the domain object and single-row reads and writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import TrainingRunRow, UserRow
from trainql.db.types import utcnow
from trainql.domain import ClassMetrics, TrainingRun, TrainingRunStatus


def run_to_domain(row: TrainingRunRow, trained_by_username: str | None = None) -> TrainingRun:
    assert row.id is not None
    return TrainingRun(
        id=row.id,
        run_date=row.run_date,
        model_version=row.model_version,
        status=TrainingRunStatus(row.status),
        dataset_path=row.dataset_path,
        dataset_id=row.dataset_id,
        test_split=row.test_split,
        random_state=row.random_state,
        target_column=row.target_column,
        n_estimators=row.n_estimators,
        hyperparameters=dict(row.hyperparameters),
        notes=row.notes,
        model_path=row.model_path,
        trained_by_id=row.trained_by_id,
        trained_by_username=trained_by_username,
        error_message=row.error_message,
        accuracy=row.accuracy,
        precision=row.precision,
        recall=row.recall,
        f1_score=row.f1_score,
        training_duration_seconds=row.training_duration_seconds,
        total_samples=row.total_samples,
        train_samples=row.train_samples,
        test_samples=row.test_samples,
        per_class_metrics={
            label: ClassMetrics(**values) for label, values in row.per_class_metrics.items()
        },
        features_used=list(row.features_used),
        feature_importances=dict(row.feature_importances),
        confusion_matrix=row.confusion_matrix,
        updated_at=row.updated_at,
    )


def with_username_statement() -> Any:
    """SELECT run, username with the trainer joined: one statement for runs and their names."""
    return select(TrainingRunRow, UserRow.username).outerjoin(
        UserRow, col(UserRow.id) == col(TrainingRunRow.trained_by_id)
    )


async def get_training_run(session: AsyncSession, *, run_id: int) -> TrainingRun | None:
    found = (
        await session.exec(with_username_statement().where(col(TrainingRunRow.id) == run_id))
    ).first()
    if found is None:
        return None
    row, username = found
    return run_to_domain(row, username)


async def get_training_run_statuses(
    session: AsyncSession, *, run_ids: list[int]
) -> dict[int, TrainingRunStatus]:
    """The status of each of `run_ids` that exists (primary-key lookups of one column)."""
    found = await session.exec(
        select(TrainingRunRow.id, TrainingRunRow.status).where(col(TrainingRunRow.id).in_(run_ids))
    )
    return {run_id: TrainingRunStatus(status) for run_id, status in found.all() if run_id}


async def insert_training_run(session: AsyncSession, **values: Any) -> TrainingRun:
    """Insert a run row; a duplicate model_version raises ConstraintViolation on commit."""
    row = TrainingRunRow(**values)
    session.add(row)
    await session.flush()
    return run_to_domain(row)


async def update_training_run(session: AsyncSession, *, run_id: int, **values: Any) -> None:
    """Set the given columns of one run (and `updated_at`)."""
    row = await session.get(TrainingRunRow, run_id)
    if row is None:
        raise LookupError(f"training run {run_id} does not exist")
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()


async def model_version_exists(session: AsyncSession, *, model_version: str) -> bool:
    found = await session.exec(
        select(TrainingRunRow.id).where(col(TrainingRunRow.model_version) == model_version)
    )
    return found.first() is not None


async def fail_unfinished_runs(session: AsyncSession, *, error_message: str) -> list[int]:
    """Mark every QUEUED or RUNNING run FAILED with `error_message`; returns their ids."""
    unfinished = (TrainingRunStatus.QUEUED.value, TrainingRunStatus.RUNNING.value)
    ids = list(
        (
            await session.exec(
                select(TrainingRunRow.id).where(col(TrainingRunRow.status).in_(unfinished))
            )
        ).all()
    )
    if ids:
        await session.exec(
            update(TrainingRunRow)
            .where(col(TrainingRunRow.id).in_(ids))
            .where(col(TrainingRunRow.status).in_(unfinished))
            .values(
                status=TrainingRunStatus.FAILED.value,
                error_message=error_message,
                updated_at=utcnow(),
            )
        )
    return [i for i in ids if i is not None]
