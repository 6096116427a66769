"""initial schema: users, API tokens, datasets, training runs

Revision ID: 0001
Revises: 
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('digest', name=op.f('uq_api_tokens_digest'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('datasets',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('training_status', sa.String(length=16), server_default='not_trained', nullable=False),
    sa.Column('file_path', sa.String(length=1024), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=True),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("training_status IN ('not_trained', 'trained')", name=op.f('ck_datasets_training_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_datasets_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets'))
    )
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.create_index('ix_datasets_owner_created', ['owner_id', 'created_at', 'id'], unique=False)

    op.create_table('training_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('model_path', sa.String(length=1024), nullable=True),
    sa.Column('dataset_path', sa.String(length=1024), nullable=False),
    sa.Column('dataset_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('accuracy', sa.Float(), nullable=True),
    sa.Column('precision', sa.Float(), nullable=True),
    sa.Column('recall', sa.Float(), nullable=True),
    sa.Column('f1_score', sa.Float(), nullable=True),
    sa.Column('training_duration_seconds', sa.Float(), nullable=True),
    sa.Column('total_samples', sa.Integer(), nullable=True),
    sa.Column('train_samples', sa.Integer(), nullable=True),
    sa.Column('test_samples', sa.Integer(), nullable=True),
    sa.Column('test_split', sa.Float(), nullable=False),
    sa.Column('n_estimators', sa.Integer(), nullable=False),
    sa.Column('random_state', sa.Integer(), server_default='42', nullable=False),
    sa.Column('target_column', sa.String(length=255), server_default='future_need_level', nullable=False),
    sa.Column('hyperparameters', sa.JSON(), nullable=False),
    sa.Column('per_class_metrics', sa.JSON(), nullable=False),
    sa.Column('features_used', sa.JSON(), nullable=False),
    sa.Column('feature_importances', sa.JSON(), nullable=False),
    sa.Column('confusion_matrix', sa.JSON(), nullable=True),
    sa.Column('trained_by_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED')", name=op.f('ck_training_runs_status')),
    sa.CheckConstraint('n_estimators >= 1', name=op.f('ck_training_runs_n_estimators')),
    sa.CheckConstraint('test_split >= 0.1 AND test_split <= 0.5', name=op.f('ck_training_runs_test_split')),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_training_runs_dataset_id_datasets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trained_by_id'], ['users.id'], name=op.f('fk_training_runs_trained_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_runs')),
    sa.UniqueConstraint('model_version', name=op.f('uq_training_runs_model_version'))
    )
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.create_index('ix_training_runs_accuracy_id', ['accuracy', 'id'], unique=False)
        batch_op.create_index('ix_training_runs_dataset_run_date_id', ['dataset_id', 'run_date', 'id'], unique=False)
        batch_op.create_index('ix_training_runs_f1_score_id', ['f1_score', 'id'], unique=False)
        batch_op.create_index('ix_training_runs_run_date_id', ['run_date', 'id'], unique=False)
        batch_op.create_index('ix_training_runs_status_run_date_id', ['status', 'run_date', 'id'], unique=False)
        batch_op.create_index('ix_training_runs_trained_by_run_date_id', ['trained_by_id', 'run_date', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_training_runs_trained_by_run_date_id')
        batch_op.drop_index('ix_training_runs_status_run_date_id')
        batch_op.drop_index('ix_training_runs_run_date_id')
        batch_op.drop_index('ix_training_runs_f1_score_id')
        batch_op.drop_index('ix_training_runs_dataset_run_date_id')
        batch_op.drop_index('ix_training_runs_accuracy_id')

    op.drop_table('training_runs')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_index('ix_datasets_owner_created')

    op.drop_table('datasets')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
