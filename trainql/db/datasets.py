"""Dataset rows: conversion to the domain object, reads, the insert, the status update, and
an owner's datasets as keyset pages."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Row, func, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import DatasetRow
from trainql.db.pagination import KeysetPage, Sort, Window, keyset_page
from trainql.db.types import utcnow
from trainql.domain import Dataset, DatasetTrainingStatus


def dataset_to_domain(row: DatasetRow | Row[Any]) -> Dataset:
    """From an ORM row or a plain row of the table's columns."""
    return Dataset(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        training_status=DatasetTrainingStatus(row.training_status),
        file_path=row.file_path,
        row_count=row.row_count,
        columns=list(row.columns),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_dataset(session: AsyncSession, *, dataset_id: uuid.UUID) -> Dataset | None:
    row = await session.get(DatasetRow, dataset_id)
    return None if row is None else dataset_to_domain(row)


async def get_datasets_by_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, Dataset]:
    rows = (await session.exec(select(DatasetRow).where(col(DatasetRow.id).in_(ids)))).all()
    return {row.id: dataset_to_domain(row) for row in rows}


async def insert_dataset(
    session: AsyncSession,
    *,
    dataset_id: uuid.UUID,
    name: str,
    owner_id: int | None,
    file_path: str,
    row_count: int,
    columns: list[str],
) -> Dataset:
    """Insert a dataset row, not trained, created and updated now."""
    now = utcnow()
    row = DatasetRow(
        id=dataset_id,
        name=name,
        owner_id=owner_id,
        file_path=file_path,
        row_count=row_count,
        columns=columns,
        training_status=DatasetTrainingStatus.NOT_TRAINED.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return dataset_to_domain(row)


async def update_training_status(
    session: AsyncSession, *, dataset_id: uuid.UUID, status: DatasetTrainingStatus
) -> Dataset | None:
    """Set a dataset's training status and move `updated_at`; None when there is no such row.

    The first UPDATE takes the row's write lock (the database's, on SQLite) and the time is
    read only after it, so concurrent writers stamp `updated_at` in their commit order.
    """
    locked = await session.exec(
        update(DatasetRow)
        .where(col(DatasetRow.id) == dataset_id)
        .values(training_status=status.value)
    )
    if locked.rowcount == 0:
        return None
    await session.exec(
        update(DatasetRow).where(col(DatasetRow.id) == dataset_id).values(updated_at=utcnow())
    )
    row = await session.get(DatasetRow, dataset_id, populate_existing=True)
    return None if row is None else dataset_to_domain(row)


# The datasets list's one order: newest first, the id breaking ties.
DATASETS_NEWEST_FIRST = Sort(key=col(DatasetRow.created_at), id=col(DatasetRow.id), descending=True)


def _owned_by(owner_id: int, status: DatasetTrainingStatus | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(DatasetRow.owner_id) == owner_id]
    if status is not None:
        conditions.append(col(DatasetRow.training_status) == status.value)
    return conditions


async def list_owned_datasets(
    conn: AsyncConnection,
    *,
    owner_id: int,
    status: DatasetTrainingStatus | None,
    window: Window,
) -> KeysetPage[Dataset]:
    """One keyset page of one owner's datasets (with the status, when given) in
    DATASETS_NEWEST_FIRST order; served by the (owner_id, created_at, id) index."""
    conditions = _owned_by(owner_id, status)
    page = await keyset_page(
        conn,
        select(DatasetRow).where(*conditions),
        select(DatasetRow.id).where(*conditions),
        sort=DATASETS_NEWEST_FIRST,
        window=window,
    )
    return KeysetPage(
        items=[dataset_to_domain(row) for row in page.items],
        has_next=page.has_next,
        has_previous=page.has_previous,
    )


async def count_owned_datasets(
    session: AsyncSession, *, owner_id: int, status: DatasetTrainingStatus | None
) -> int:
    statement = select(func.count()).select_from(DatasetRow).where(*_owned_by(owner_id, status))
    return int((await session.exec(statement)).one())
