"""Dataset rows: conversion to the domain object and single-row reads."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import DatasetRow
from trainql.domain import Dataset, DatasetTrainingStatus


def dataset_to_domain(row: DatasetRow) -> Dataset:
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
