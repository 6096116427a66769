"""Alembic owns the schema: migrations build it from nothing and match the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text
from sqlmodel import SQLModel

import trainql.db.models  # noqa: F401  (registers the tables)
from trainql.db import migrate
from trainql.db.engine import sync_url


def _diff(url: str) -> list[object]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))
    finally:
        engine.dispose()


def test_migrations_run_from_empty_and_match_the_models(empty_database_url: str):
    assert migrate.current_revision(empty_database_url) is None

    migrate.upgrade(empty_database_url)

    assert migrate.current_revision(empty_database_url) == migrate.head_revision()
    assert _diff(empty_database_url) == []


def test_downgrade_to_base_and_up_again(empty_database_url: str):
    migrate.upgrade(empty_database_url)
    command.downgrade(migrate.alembic_config(empty_database_url), "base")
    assert migrate.current_revision(empty_database_url) is None
    migrate.upgrade(empty_database_url)
    assert _diff(empty_database_url) == []


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        (
            "INSERT INTO datasets (id, name, training_status, file_path, columns, created_at,"
            " updated_at) VALUES ('00000000000000000000000000000001', 'x', 'half_trained',"
            " 'f.csv', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "training_status",
        ),
        (
            "INSERT INTO training_runs (run_date, model_version, dataset_path, status,"
            " test_split, n_estimators, hyperparameters, per_class_metrics, features_used,"
            " feature_importances, updated_at) VALUES (CURRENT_TIMESTAMP, 'v', 'd.csv',"
            " 'DONE', 0.2, 10, '{}', '{}', '[]', '{}', CURRENT_TIMESTAMP)",
            "status",
        ),
    ],
)
def test_check_constraints_refuse_values_outside_the_enums(
    empty_database_url: str, statement: str, constraint: str
):
    migrate.upgrade(empty_database_url)
    engine = create_engine(sync_url(empty_database_url), poolclass=pool.NullPool)
    if engine.dialect.name == "postgresql":
        statement = statement.replace(
            "'00000000000000000000000000000001'", "'00000000-0000-0000-0000-000000000001'"
        )
    try:
        pattern = rf"(?i)check.*{constraint}|{constraint}.*check"
        with pytest.raises(Exception, match=pattern), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
