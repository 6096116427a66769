"""model aliases (a name pointing at one run) and the log of their changes

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('model_alias_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('from_training_run_id', sa.Integer(), nullable=True),
    sa.Column('to_training_run_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_alias_changes'))
    )
    with op.batch_alter_table('model_alias_changes', schema=None) as batch_op:
        batch_op.create_index('ix_model_alias_changes_alias', ['alias', 'id'], unique=False)

    op.create_table('model_aliases',
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('training_run_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('previous_training_run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['training_run_id'], ['training_runs.id'], name=op.f('fk_model_aliases_training_run_id_training_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_model_aliases_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('alias', name=op.f('pk_model_aliases'))
    )
    with op.batch_alter_table('model_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_aliases_training_run_id'), ['training_run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_aliases_training_run_id'))

    op.drop_table('model_aliases')
    with op.batch_alter_table('model_alias_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_model_alias_changes_alias')

    op.drop_table('model_alias_changes')
