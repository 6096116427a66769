"""The datasets table: the CHECK constraint holds even for code that bypasses the API."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.factories import Factory
from trainql.db import datasets as dataset_store
from trainql.db.engine import ConstraintViolation
from trainql.domain import DatasetTrainingStatus
from trainql.services import Services


def _id_param(services: Services, dataset_id: uuid.UUID) -> object:
    # sa.Uuid keeps a UUID as 32 hex digits on SQLite and as a native uuid on PostgreSQL.
    return dataset_id.hex if services.db.dialect == "sqlite" else dataset_id


async def test_check_constraint_refuses_another_status_on_update(
    services: Services, factory: Factory
):
    dataset = await factory.dataset()
    with pytest.raises(ConstraintViolation) as caught:
        async with services.db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                text("UPDATE datasets SET training_status = 'training' WHERE id = :id"),
                params={"id": _id_param(services, dataset.id)},
            )
    assert caught.value.constraint == "ck_datasets_training_status"
    async with services.db.session() as session:
        found = await dataset_store.get_dataset(session, dataset_id=dataset.id)
    assert found is not None and found.training_status is DatasetTrainingStatus.NOT_TRAINED


async def test_check_constraint_refuses_another_status_on_insert(services: Services):
    with pytest.raises(ConstraintViolation) as caught:
        async with services.db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                text(
                    "INSERT INTO datasets (id, name, training_status, file_path, columns, "
                    "created_at, updated_at) VALUES (:id, 'x', 'TRAINED', 'datasets/x.csv', "
                    "'[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                params={"id": _id_param(services, uuid.uuid4())},
            )
    assert caught.value.constraint == "ck_datasets_training_status"


async def test_update_training_status_of_a_missing_row_is_none(services: Services):
    async with services.db.session() as session:
        assert (
            await dataset_store.update_training_status(
                session, dataset_id=uuid.uuid4(), status=DatasetTrainingStatus.TRAINED
            )
            is None
        )
