"""training runs: leases, fencing tokens and attempts (one lifecycle for every executor)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs left QUEUED or RUNNING by an older version get no lease: the reconciler of the
    # first process started after the upgrade dispatches or retries them.
    # Plain ALTER TABLE, not a batch: SQLite adds (and, from 3.35, drops) these columns in
    # place, and copying the table would lose its expression indexes (0003), which SQLite
    # cannot reflect.
    for column in COLUMNS:
        op.add_column('training_runs', column)


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column('training_runs', column.name)


COLUMNS = [
    sa.Column('attempt', sa.Integer(), server_default='0', nullable=False),
    sa.Column('fencing_token', sa.Integer(), server_default='0', nullable=False),
    sa.Column('lease_owner', sa.String(length=255), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempt_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_code', sa.String(length=32), nullable=True),
]
