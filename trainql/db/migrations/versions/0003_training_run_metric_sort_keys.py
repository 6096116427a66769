"""training runs: order metrics by coalesce(metric, -1.0) so NULL metrics page like values

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_training_runs_accuracy_id')
        batch_op.drop_index('ix_training_runs_f1_score_id')
    op.create_index('ix_training_runs_accuracy_key_id', 'training_runs', [sa.text('coalesce(accuracy, -1.0)'), 'id'], unique=False)
    op.create_index('ix_training_runs_f1_score_key_id', 'training_runs', [sa.text('coalesce(f1_score, -1.0)'), 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_training_runs_f1_score_key_id', table_name='training_runs')
    op.drop_index('ix_training_runs_accuracy_key_id', table_name='training_runs')
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.create_index('ix_training_runs_f1_score_id', ['f1_score', 'id'], unique=False)
        batch_op.create_index('ix_training_runs_accuracy_id', ['accuracy', 'id'], unique=False)
