"""training runs: counts per status and per (trainer, status), kept by triggers

REST pages answer `count` from these rows (a sum over at most four per filter) instead of a
COUNT(*) over every matching run. The database keeps them: triggers on training_runs update
them in the same transaction as every insert, status or trainer change and delete, whoever
writes (the service, the start-up sweep, a bulk load, a foreign key setting trained_by_id to
NULL, a hand-written fix). PostgreSQL: statement-level triggers over the transition tables,
one upsert per touched count row, in key order (two concurrent write statements lock the
count rows they share in the same order, so they wait for each other rather than deadlock;
a statement that changes no status or trainer touches no count row); TRUNCATE empties the
counts. SQLite: row triggers
(SQLite has no other kind; its writers are serialized anyway).

Revision ID: 0006
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_COUNTS = 'training_run_status_counts'
TRAINER_COUNTS = 'training_run_trainer_counts'

# Both databases: add `delta` runs of (status, trainer) from a set of rows named `deltas`
# with columns status, trained_by_id, n.
_PG_APPLY = f"""
    INSERT INTO {STATUS_COUNTS} AS c (status, runs)
    SELECT status, sum(n) FROM deltas GROUP BY status HAVING sum(n) <> 0 ORDER BY status
    ON CONFLICT (status) DO UPDATE SET runs = c.runs + EXCLUDED.runs;
    INSERT INTO {TRAINER_COUNTS} AS c (trained_by_id, status, runs)
    SELECT trained_by_id, status, sum(n) FROM deltas WHERE trained_by_id IS NOT NULL
    GROUP BY trained_by_id, status HAVING sum(n) <> 0 ORDER BY trained_by_id, status
    ON CONFLICT (trained_by_id, status) DO UPDATE SET runs = c.runs + EXCLUDED.runs;
"""
_PG_DELTAS = {
    'INSERT': 'SELECT status, trained_by_id, 1 AS n FROM new_rows',
    'DELETE': 'SELECT status, trained_by_id, -1 AS n FROM old_rows',
    'UPDATE': 'SELECT status, trained_by_id, 1 AS n FROM new_rows'
    ' UNION ALL SELECT status, trained_by_id, -1 AS n FROM old_rows',
}
_PG_TRANSITIONS = {
    'INSERT': 'NEW TABLE AS new_rows',
    'DELETE': 'OLD TABLE AS old_rows',
    'UPDATE': 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
}


def _pg_function(operation: str) -> str:
    # A temporary view would need a name per transaction; the deltas are written out in each
    # statement instead (the transition tables are only visible inside the function).
    body = _PG_APPLY.replace('FROM deltas', f'FROM ({_PG_DELTAS[operation]}) AS deltas')
    return f"""
CREATE FUNCTION training_run_counts_{operation.lower()}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
{body}
    RETURN NULL;
END;
$$"""


_SQLITE_ADD = f"""
    INSERT INTO {STATUS_COUNTS} (status, runs) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET runs = runs + 1;
    INSERT INTO {TRAINER_COUNTS} (trained_by_id, status, runs)
    SELECT NEW.trained_by_id, NEW.status, 1 WHERE NEW.trained_by_id IS NOT NULL
    ON CONFLICT (trained_by_id, status) DO UPDATE SET runs = runs + 1;
"""
_SQLITE_REMOVE = f"""
    UPDATE {STATUS_COUNTS} SET runs = runs - 1 WHERE status = OLD.status;
    UPDATE {TRAINER_COUNTS} SET runs = runs - 1
    WHERE trained_by_id = OLD.trained_by_id AND status = OLD.status;
"""
_SQLITE_TRIGGERS = {
    'training_run_counts_insert': f'AFTER INSERT ON training_runs BEGIN {_SQLITE_ADD} END',
    'training_run_counts_delete': f'AFTER DELETE ON training_runs BEGIN {_SQLITE_REMOVE} END',
    'training_run_counts_update': (
        'AFTER UPDATE OF status, trained_by_id ON training_runs'
        ' WHEN OLD.status IS NOT NEW.status OR OLD.trained_by_id IS NOT NEW.trained_by_id'
        f' BEGIN {_SQLITE_REMOVE} {_SQLITE_ADD} END'
    ),
}


def upgrade() -> None:
    op.create_table(
        STATUS_COUNTS,
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('runs', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('status', name=op.f('pk_training_run_status_counts')),
    )
    op.create_table(
        TRAINER_COUNTS,
        sa.Column('trained_by_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('runs', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            'trained_by_id', 'status', name=op.f('pk_training_run_trainer_counts')
        ),
    )
    # The runs already there.
    op.execute(
        f'INSERT INTO {STATUS_COUNTS} (status, runs)'
        ' SELECT status, count(*) FROM training_runs GROUP BY status'
    )
    op.execute(
        f'INSERT INTO {TRAINER_COUNTS} (trained_by_id, status, runs)'
        ' SELECT trained_by_id, status, count(*) FROM training_runs'
        ' WHERE trained_by_id IS NOT NULL GROUP BY trained_by_id, status'
    )
    if op.get_bind().dialect.name == 'postgresql':
        for operation, transitions in _PG_TRANSITIONS.items():
            op.execute(_pg_function(operation))
            op.execute(
                f'CREATE TRIGGER training_run_counts_{operation.lower()} AFTER {operation}'
                f' ON training_runs REFERENCING {transitions} FOR EACH STATEMENT'
                f' EXECUTE FUNCTION training_run_counts_{operation.lower()}()'
            )
        op.execute(
            'CREATE FUNCTION training_run_counts_truncate() RETURNS trigger LANGUAGE plpgsql'
            f' AS $$ BEGIN DELETE FROM {STATUS_COUNTS}; DELETE FROM {TRAINER_COUNTS};'
            ' RETURN NULL; END; $$'
        )
        op.execute(
            'CREATE TRIGGER training_run_counts_truncate AFTER TRUNCATE ON training_runs'
            ' FOR EACH STATEMENT EXECUTE FUNCTION training_run_counts_truncate()'
        )
    else:
        for name, definition in _SQLITE_TRIGGERS.items():
            op.execute(f'CREATE TRIGGER {name} {definition}')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for operation in (*_PG_TRANSITIONS, 'TRUNCATE'):
            op.execute(f'DROP TRIGGER training_run_counts_{operation.lower()} ON training_runs')
            op.execute(f'DROP FUNCTION training_run_counts_{operation.lower()}()')
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER {name}')
    op.drop_table(TRAINER_COUNTS)
    op.drop_table(STATUS_COUNTS)
