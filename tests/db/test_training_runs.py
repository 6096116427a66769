"""The list queries use the indexes: no sort of the whole table, on either database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from tests.factories import Factory
from trainql.domain import OrderDirection, TrainingRunOrder, TrainingRunOrderField
from trainql.resolvers.context import Context
from trainql.resolvers.pagination import PageRequest
from trainql.resolvers.training_runs import list_training_runs
from trainql.services import Services

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

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await list_training_runs(ctx=ctx, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", record)
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
