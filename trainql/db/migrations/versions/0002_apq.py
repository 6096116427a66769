"""automatic persisted queries, shared by every process

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('persisted_queries',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_persisted_queries'))
    )
    with op.batch_alter_table('persisted_queries', schema=None) as batch_op:
        batch_op.create_index('ix_persisted_queries_last_used_at', ['last_used_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('persisted_queries', schema=None) as batch_op:
        batch_op.drop_index('ix_persisted_queries_last_used_at')

    op.drop_table('persisted_queries')
