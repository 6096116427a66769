"""Training run rows: the list queries use the indexes (no sort of the whole table, on either
database), the counts the database keeps equal COUNT(*) whatever writes them, and the
lifecycle's writes are compare-and-sets that exactly one of several racing processes wins."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlmodel import col

from tests.factories import Factory
from tests.statements import on_every_statement
from trainql.db import training_runs as run_store
from trainql.db.models import TrainingRunRow, UserRow
from trainql.domain import (
    ClassMetrics,
    OrderDirection,
    RunFailure,
    RunOutcome,
    TrainingRun,
    TrainingRunFilter,
    TrainingRunOrder,
    TrainingRunOrderField,
    TrainingRunStatus,
)
from trainql.resolvers.context import Context
from trainql.resolvers.pagination import PageRequest
from trainql.resolvers.training_runs import list_training_runs
from trainql.services import Services
from trainql.training_request import Hyperparameters

ROWS = 5000

FILL_POSTGRES = f"""
INSERT INTO training_runs (run_date, model_version, dataset_path, status, accuracy, f1_score,
    test_split, n_estimators, hyperparameters, per_class_metrics, features_used,
    feature_importances, updated_at)
SELECT timestamptz '2025-01-01' + n * interval '1 minute', 'x' || n, 'd.csv',
    CASE WHEN n % 4 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
    CASE WHEN n % 4 = 0 THEN NULL ELSE (n % 1000) / 1000.0 END,
    CASE WHEN n % 4 = 0 THEN NULL ELSE (n % 997) / 997.0 END,
    0.2, 10, '{{}}', '{{}}', '[]', '{{}}', now()
FROM generate_series(1, {ROWS}) AS n
"""

FILL_SQLITE = f"""
WITH RECURSIVE n(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM n WHERE n < {ROWS})
INSERT INTO training_runs (run_date, model_version, dataset_path, status, accuracy, f1_score,
    test_split, n_estimators, hyperparameters, per_class_metrics, features_used,
    feature_importances, updated_at)
SELECT strftime('%Y-%m-%d %H:%M:%f000', '2025-01-01', '+' || n || ' minutes'), 'x' || n, 'd.csv',
    CASE WHEN n % 4 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
    CASE WHEN n % 4 = 0 THEN NULL ELSE (n % 1000) / 1000.0 END,
    CASE WHEN n % 4 = 0 THEN NULL ELSE (n % 997) / 997.0 END,
    0.2, 10, '{{}}', '{{}}', '[]', '{{}}', '2025-01-01 00:00:00.000000'
FROM n
"""


async def _fill(services: Services) -> None:
    postgres = services.db.dialect == "postgresql"
    async with services.db.engine.begin() as conn:
        await conn.execute(text(FILL_POSTGRES if postgres else FILL_SQLITE))
    async with services.db.engine.connect() as conn:
        if postgres:
            # VACUUM cannot run in a transaction; autocommit for it.
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE training_runs"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.commit()


async def _plans(services: Services, ctx: Context, **kwargs: Any) -> list[str]:
    """The plan of every statement the resolver runs on training_runs."""
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM training_runs" in statement:
            captured.append((statement, parameters))

    with on_every_statement(services, record):
        await list_training_runs(ctx=ctx, **kwargs)
    assert captured
    postgres = services.db.dialect == "postgresql"
    plans = []
    async with services.db.engine.connect() as conn:
        for statement, parameters in captured:
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = await conn.exec_driver_sql(prefix + statement, parameters)
            plans.append("\n".join(" ".join(map(str, row)) for row in rows.all()))
    return plans


async def test_default_list_query_scans_the_run_date_index_without_sorting(
    factory: Factory, services: Services
):
    # given
    reader = await factory.manager()
    ctx = Context(services=services, user=reader.user)
    await _fill(services)
    deep = await list_training_runs(ctx=ctx, page=PageRequest(first=100))
    for _ in range(20):
        deep = await list_training_runs(ctx=ctx, page=PageRequest(first=100, after=deep.end_cursor))
    # when
    first_page = await _plans(services, ctx)
    deep_page = await _plans(services, ctx, page=PageRequest(after=deep.end_cursor))
    # then
    for plan in first_page + deep_page:
        assert "ix_training_runs_run_date_id" in plan, plan
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
    if services.db.dialect == "postgresql":
        assert "Index Scan Backward using ix_training_runs_run_date_id" in first_page[0]
        assert "Index Cond: (ROW(run_date, id) < ROW(" in deep_page[0]


@pytest.mark.parametrize("direction", list(OrderDirection))
@pytest.mark.parametrize("field", [TrainingRunOrderField.ACCURACY, TrainingRunOrderField.F1_SCORE])
async def test_metric_orders_seek_their_index(
    factory: Factory, services: Services, field: TrainingRunOrderField, direction: OrderDirection
):
    reader = await factory.manager()
    ctx = Context(services=services, user=reader.user)
    await _fill(services)
    order = TrainingRunOrder(field, direction)
    page = await list_training_runs(ctx=ctx, order=order, page=PageRequest(first=100))
    for _ in range(10):
        page = await list_training_runs(
            ctx=ctx, order=order, page=PageRequest(first=100, after=page.end_cursor)
        )
    index = f"ix_training_runs_{field.value.lower()}_key_id"
    for plan in await _plans(services, ctx, order=order, page=PageRequest(after=page.end_cursor)):
        assert index in plan, plan
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
        assert "SCAN training_runs" not in plan, plan  # SQLite: a SEARCH (a seek), not a scan


# Kept counts (migration 0006) ---------------------------------------------------------------

ALL_STATUSES = list(TrainingRunStatus)
OUTCOME = RunOutcome(
    accuracy=0.9,
    precision=0.9,
    recall=0.9,
    f1_score=0.9,
    per_class_metrics={"A": ClassMetrics(0.9, 0.9, 0.9, 0.9, 10)},
    features_used=["x"],
    feature_importances={"x": 1.0},
    confusion_matrix={"labels": ["A"], "matrix": [[10]]},
    total_samples=50,
    train_samples=40,
    test_samples=10,
    training_duration_seconds=0.1,
)


def _filters(trainers: list[str]) -> list[TrainingRunFilter]:
    """Every combination of the REST filters: any set of statuses (or none) x a trainer (or
    none, or one who has no runs)."""
    status_sets: list[frozenset[TrainingRunStatus] | None] = [None]
    for size in range(len(ALL_STATUSES) + 1):
        status_sets += [frozenset(c) for c in itertools.combinations(ALL_STATUSES, size)]
    return [
        TrainingRunFilter(statuses=statuses, trained_by=trainer)
        for statuses in status_sets
        for trainer in [None, *trainers, "nobody"]
    ]


async def _kept_and_counted(services: Services, run_filter: TrainingRunFilter) -> tuple[int, int]:
    kept = run_store.kept_count_statement(run_filter)
    assert kept is not None
    counted = (
        select(func.count())
        .select_from(TrainingRunRow)
        .where(*run_store.filter_conditions(run_filter))
    )
    # One statement, so both are read at one snapshot: the reconciler may still be failing
    # the writers' leftover runs while this reads.
    both = select(kept.scalar_subquery(), counted.scalar_subquery())
    async with services.db.read() as conn:
        found = (await conn.execute(both)).one()
    return int(found[0]), int(found[1])


async def _writer(services: Services, trainer_ids: list[int | None], seed: int) -> None:
    """Inserts runs, moves them through their statuses and deletes some, each write in its
    own transaction, through the storage functions the service uses."""
    rng = random.Random(seed)
    mine: list[int] = []
    for step in range(15):
        async with services.db.session() as session:
            if not mine or rng.random() < 0.45:
                mine.append(
                    await run_store.insert_training_run(
                        session,
                        model_version=f"w{seed}-{step}",
                        status=rng.choice([TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING]),
                        dataset_path="d.csv",
                        dataset_id=None,
                        test_split=0.2,
                        target_column="t",
                        hyperparameters=Hyperparameters(n_estimators=10),
                        random_state=42,
                        notes="",
                        trained_by_id=rng.choice(trainer_ids),
                    )
                )
            elif rng.random() < 0.15:
                await session.exec(
                    delete(TrainingRunRow).where(col(TrainingRunRow.id) == mine.pop())
                )
            else:
                run_id = rng.choice(mine)
                move = rng.random()
                if move < 0.4:
                    # As an execution does: claim a QUEUED run, record a RUNNING one's outcome.
                    run = await run_store.get_training_run(session, run_id=run_id)
                    assert run is not None
                    if run.status == TrainingRunStatus.QUEUED:
                        await run_store.claim_training_run(
                            session,
                            run_id=run_id,
                            token=run.fencing_token,
                            owner=f"writer {seed}",
                            lease_s=60,
                        )
                    elif run.status == TrainingRunStatus.RUNNING:
                        await run_store.record_training_outcome(
                            session, run_id=run_id, token=run.fencing_token, outcome=OUTCOME
                        )
                else:
                    status = TrainingRunStatus.RUNNING if move < 0.7 else TrainingRunStatus.FAILED
                    await run_store.set_training_run_status(
                        session, run_id=run_id, status=status, error_message=None
                    )
        await asyncio.sleep(0)


async def test_kept_counts_equal_count_star_under_concurrent_writes(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given three trainers, one of them training for real through the REST API
    hr = await factory.hr_staff("t0")
    trainers = [hr.user, (await factory.hr_staff("t1")).user, (await factory.hr_staff("t2")).user]
    reader = await factory.manager("reader")
    trainer_ids: list[int | None] = [t.id for t in trainers] + [None]
    names = [t.username for t in trainers]
    seen: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def read_pages() -> None:
        # Fewer runs than a page holds: every page's count must be the length of its results,
        # whatever is being written meanwhile (count and page are read at one snapshot).
        rng = random.Random(7)
        while not done.is_set():
            params: dict[str, Any] = {"page_size": "100"}
            statuses = rng.sample(ALL_STATUSES, rng.randint(0, len(ALL_STATUSES)))
            if statuses:
                params["status"] = ",".join(statuses)
            if rng.random() < 0.6:
                params["trained_by"] = rng.choice(names)
            response = await client.get(
                "/api/training/runs/", params=params, headers=reader.headers
            )
            assert response.status_code == 200, response.text
            body = response.json()
            seen.append((body["count"], len(body["results"])))

    async def train() -> None:
        for version in ("real-1", "real-2"):
            response = await client.post(
                "/api/training/train/",
                json={
                    "hyperparameters": {"n_estimators": 5},
                    "async_training": True,
                    "model_version": version,
                },
                headers=hr.headers,
            )
            assert response.status_code == 202, response.text

    async def reconcile() -> None:
        # The reconciler's writes: runs the writers left without a lease are dispatched
        # (and trained, failing: d.csv does not exist), retried or failed.
        for _ in range(3):
            await asyncio.sleep(0.05)
            await services.reconciler.reconcile_once()

    # when writers, a reconciler, real trainings and a reader run at once
    reading = asyncio.create_task(read_pages())
    await asyncio.gather(
        *(_writer(services, trainer_ids, seed) for seed in range(4)), train(), reconcile()
    )
    await services.trainings.wait()
    done.set()
    await reading

    # then every page agreed with its count, and the kept counts equal COUNT(*) for every
    # combination of the REST filters
    assert seen and all(count == results for count, results in seen), seen
    async with services.db.read() as conn:
        statuses = {
            status
            for (status,) in (
                await conn.execute(select(col(TrainingRunRow.status)).distinct())
            ).all()
        }
    assert {"COMPLETED", "FAILED"} <= statuses, statuses
    for run_filter in _filters(names):
        kept, counted = await _kept_and_counted(services, run_filter)
        assert kept == counted, run_filter


async def test_kept_counts_follow_a_trainer_removed_by_the_foreign_key(
    factory: Factory, services: Services
):
    # given runs of a trainer
    trainer = (await factory.hr_staff("leaver")).user
    await factory.training_runs(
        [
            {
                "model_version": f"l{i}",
                "status": "COMPLETED",
                "trained_by_id": trainer.id,
                "run_date": datetime(2025, 1, 1, tzinfo=UTC),
            }
            for i in range(3)
        ]
    )
    by_trainer = TrainingRunFilter(trained_by="leaver")
    assert await _kept_and_counted(services, by_trainer) == (3, 3)
    # when the user is deleted (ON DELETE SET NULL empties trained_by_id)
    async with services.db.session() as session:
        await session.exec(delete(UserRow).where(col(UserRow.id) == trainer.id))
    # then the runs count as nobody's, and still count per status
    assert await _kept_and_counted(services, by_trainer) == (0, 0)
    completed = TrainingRunFilter(statuses=frozenset({TrainingRunStatus.COMPLETED}))
    assert await _kept_and_counted(services, completed) == (3, 3)


# --- The lifecycle: claims, leases and fencing tokens ------------------------------------------


async def _queued(factory: Factory, **overrides: Any) -> int:
    run = await factory.training_run(
        **{"status": "QUEUED", "accuracy": None, "lease_expires_at": None, **overrides}
    )
    return run.id


async def _read(services: Services, run_id: int) -> TrainingRun:
    async with services.db.session() as session:
        run = await run_store.get_training_run(session, run_id=run_id)
    assert run is not None
    return run


async def _expire_lease(services: Services, run_id: int) -> None:
    async with services.db.engine.begin() as conn:
        await conn.execute(
            update(TrainingRunRow)
            .where(col(TrainingRunRow.id) == run_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_one_of_two_racing_claims_wins(factory: Factory, services: Services):
    # given
    run_id = await _queued(factory)

    async def claim(owner: str) -> run_store.Claim | None:
        async with services.db.session() as session:
            return await run_store.claim_training_run(
                session, run_id=run_id, token=0, owner=owner, lease_s=30
            )

    # when: two executions of the same dispatch claim at once
    claims = await asyncio.gather(claim("worker-a"), claim("worker-b"))
    # then
    won = [c for c in claims if c is not None]
    assert won == [run_store.Claim(token=1, attempt=1)]
    run = await _read(services, run_id)
    assert run.status == TrainingRunStatus.RUNNING
    assert run.worker in {"worker-a", "worker-b"}
    assert (run.attempt, run.fencing_token) == (1, 1)
    assert run.lease_expires_at is not None
    assert run.lease_expires_at > datetime.now(UTC) + timedelta(seconds=20)


async def test_an_execution_that_lost_its_run_can_write_nothing(
    factory: Factory, services: Services
):
    # given: attempt 1 claimed the run, then its lease ran out and a reconciler requeued it
    run_id = await _queued(factory)
    async with services.db.session() as session:
        first = await run_store.claim_training_run(
            session, run_id=run_id, token=0, owner="old", lease_s=30
        )
    assert first is not None
    async with services.db.session() as session:
        alive = await run_store.requeue_training_run(
            session, run_id=run_id, token=first.token, dispatch_lease_s=30, lease_over=True
        )
    assert alive is None  # the lease is alive: a reconciler may not take the run
    await _expire_lease(services, run_id)
    async with services.db.session() as session:
        new_token = await run_store.requeue_training_run(
            session, run_id=run_id, token=first.token, dispatch_lease_s=30, lease_over=True
        )
    assert new_token == first.token + 1
    # when: the old execution heartbeats, records, fails
    outcome = RunOutcome(
        accuracy=1.0,
        precision=1.0,
        recall=1.0,
        f1_score=1.0,
        per_class_metrics={},
        features_used=[],
        feature_importances={},
        confusion_matrix={"labels": [], "matrix": []},
        total_samples=1,
        train_samples=1,
        test_samples=1,
        training_duration_seconds=1.0,
    )
    async with services.db.session() as session:
        renewed = await run_store.renew_training_run_lease(
            session, run_id=run_id, token=first.token, lease_s=30
        )
        recorded = await run_store.record_training_outcome(
            session, run_id=run_id, token=first.token, outcome=outcome
        )
        failed = await run_store.fail_training_run(
            session,
            run_id=run_id,
            token=first.token,
            error_message="late",
            error_code=RunFailure.TRAINING_ERROR,
        )
    # then: nothing changed; the new dispatch claims it as attempt 2
    assert (renewed, recorded, failed) == (False, False, False)
    run = await _read(services, run_id)
    assert (run.status, run.accuracy, run.error_message) == (TrainingRunStatus.QUEUED, None, None)
    async with services.db.session() as session:
        stale = await run_store.claim_training_run(
            session, run_id=run_id, token=first.token, owner="old", lease_s=30
        )
        second = await run_store.claim_training_run(
            session, run_id=run_id, token=new_token, owner="new", lease_s=30
        )
    assert stale is None
    assert second == run_store.Claim(token=new_token + 1, attempt=2)
    async with services.db.session() as session:
        assert await run_store.record_training_outcome(
            session, run_id=run_id, token=second.token, outcome=outcome
        )
    done = await _read(services, run_id)
    assert (done.status, done.accuracy, done.attempt, done.worker) == (
        TrainingRunStatus.COMPLETED,
        1.0,
        2,
        "new",
    )
    assert done.lease_expires_at is None


async def test_only_runs_without_a_live_lease_are_unowned(factory: Factory, services: Services):
    # given
    never_dispatched = await _queued(factory)
    vouched = await _queued(factory, lease_expires_at=datetime.now(UTC) + timedelta(minutes=1))
    expired = await factory.training_run(status="RUNNING", accuracy=None)
    await _expire_lease(services, expired.id)
    alive = await factory.training_run(status="RUNNING", accuracy=None)
    await factory.training_run(status="COMPLETED")
    await factory.training_run(status="FAILED", error_message="x")
    # when
    async with services.db.session() as session:
        unowned = await run_store.unowned_training_runs(session, limit=10)
    # then
    assert [run.id for run in unowned] == [never_dispatched, expired.id]
    assert vouched not in [run.id for run in unowned] and alive.id not in [r.id for r in unowned]
    assert unowned[0].details is not None


async def test_one_reconciler_takes_over_a_dispatch_whose_lease_ran_out(
    factory: Factory, services: Services
):
    run_id = await _queued(factory)

    async def vouch() -> bool:
        async with services.db.session() as session:
            return await run_store.vouch_for_dispatch(
                session, run_id=run_id, token=0, dispatch_lease_s=30
            )

    assert sorted(await asyncio.gather(vouch(), vouch())) == [False, True]
    assert await vouch() is False  # the lease it set is alive
