"""The runs the benches load leave the served instance's reconciler nothing to do."""

from __future__ import annotations

from sqlalchemy import text

from bench.bench_runs import fill
from trainql.db.engine import Database
from trainql.db.training_runs import unowned_training_runs
from trainql.domain import TrainingRunStatus


async def test_filled_runs_are_not_taken_for_runs_whose_worker_was_lost(database_url: str):
    # given: the benches' rows, a RUNNING run among every eight
    await fill(database_url, 64)
    db = Database(database_url)
    try:
        async with db.session() as session:
            # when: the reconciler's own query for runs nobody runs
            unowned = await unowned_training_runs(session, limit=100)
        async with db.read() as conn:
            running = await conn.execute(
                text("SELECT count(*) FROM training_runs WHERE status = :s"),
                {"s": TrainingRunStatus.RUNNING.value},
            )
            running_runs = running.scalar_one()
    finally:
        await db.dispose()
    # then: none, though 8 runs are RUNNING (each holds a lease that outlives the bench)
    assert running_runs == 8
    assert unowned == []
