"""training runs: the model file's SHA-256 and the model's input schema (predictions)

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs COMPLETED before this revision keep NULL in both: they have no digest to check
    # their model against, so predictions refuse them (retrain to predict).
    # Plain ALTER TABLE, not a batch, as in 0007: copying the table would lose its
    # expression indexes (0003), which SQLite cannot reflect.
    for column in COLUMNS:
        op.add_column('training_runs', column)


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column('training_runs', column.name)


COLUMNS = [
    sa.Column('model_sha256', sa.String(length=64), nullable=True),
    sa.Column('input_schema', sa.JSON(), nullable=True),
]
