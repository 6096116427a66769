"""The run list resolver: every filter and order against an independent computation, cursor
walks in both directions, validation and permissions."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import Factory
from trainql.domain import (
    OrderDirection,
    Role,
    TrainingRunFilter,
    TrainingRunOrder,
    TrainingRunOrderField,
    TrainingRunStatus,
)
from trainql.errors import AuthenticationError, InvalidInput, NotFound, PermissionDenied
from trainql.resolvers.context import Context
from trainql.resolvers.pagination import CursorCodec, PageRequest
from trainql.resolvers.training_runs import (
    CURSOR_CODECS,
    list_training_runs,
    list_training_runs_by_page,
)
from trainql.services import Services

BASE = datetime(2025, 1, 1, tzinfo=UTC)
ORDERS = [TrainingRunOrder(f, d) for f in TrainingRunOrderField for d in OrderDirection]


@dataclass(frozen=True)
class Run:
    id: int
    run_date: datetime
    model_version: str
    status: TrainingRunStatus
    accuracy: float | None
    f1_score: float | None
    trained_by: str | None
    dataset_id: uuid.UUID | None


@dataclass
class World:
    ctx: Context
    runs: list[Run]
    datasets: list[uuid.UUID]


async def make_world(factory: Factory, services: Services, count: int = 60) -> World:
    """Runs with many ties (run dates, metrics), NULL metrics, several trainers and datasets."""
    rng = random.Random(4)
    reader = await factory.account("reader", Role.MANAGER)
    users = {
        "ana": (await factory.hr_staff("ana")).user.id,
        "bo": (await factory.hr_staff("bo")).user.id,
    }
    datasets = [await factory.dataset_row("d1"), await factory.dataset_row("d2")]
    versions = rng.sample(range(1000, 9999), count)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        status = rng.choice(list(TrainingRunStatus) + [TrainingRunStatus.COMPLETED] * 3)
        done = status is TrainingRunStatus.COMPLETED
        rows.append(
            {
                "run_date": BASE + timedelta(minutes=rng.randrange(15)),
                "model_version": f"mv{versions[i]}",
                "status": status.value,
                "accuracy": rng.choice([0.5, 0.7, 0.7, 0.9, 1.0]) if done else None,
                "f1_score": rng.choice([0.4, 0.8, 0.8, 0.95]) if done else None,
                "trained_by_id": rng.choice([*users.values(), None]),
                "dataset_id": rng.choice([*datasets, None]),
            }
        )
    ids = await factory.training_runs(rows)
    names = {v: k for k, v in users.items()}
    runs = [
        Run(
            id=i,
            run_date=row["run_date"],
            model_version=row["model_version"],
            status=TrainingRunStatus(row["status"]),
            accuracy=row["accuracy"],
            f1_score=row["f1_score"],
            trained_by=names.get(row["trained_by_id"]),
            dataset_id=row["dataset_id"],
        )
        for i, row in zip(ids, rows, strict=True)
    ]
    return World(ctx=Context(services=services, user=reader.user), runs=runs, datasets=datasets)


def expected(runs: list[Run], run_filter: TrainingRunFilter, order: TrainingRunOrder) -> list[int]:
    """The ids the list must return, computed in Python."""

    def keep(run: Run) -> bool:
        f = run_filter
        return (
            (f.statuses is None or run.status in f.statuses)
            and (f.trained_by is None or run.trained_by == f.trained_by)
            and (f.model_version is None or run.model_version == f.model_version)
            and (f.dataset_id is None or run.dataset_id == f.dataset_id)
            and (f.run_date_from is None or run.run_date >= f.run_date_from)
            and (f.run_date_to is None or run.run_date < f.run_date_to)
            and (f.min_accuracy is None or (run.accuracy or -1) >= f.min_accuracy)
        )

    def key(run: Run) -> tuple[Any, int]:
        value: Any = {
            TrainingRunOrderField.RUN_DATE: run.run_date,
            TrainingRunOrderField.ACCURACY: -1.0 if run.accuracy is None else run.accuracy,
            TrainingRunOrderField.F1_SCORE: -1.0 if run.f1_score is None else run.f1_score,
            TrainingRunOrderField.MODEL_VERSION: run.model_version,
        }[order.field]
        return (value, run.id)

    chosen = sorted(filter(keep, runs), key=key)
    ordered = chosen[::-1] if order.direction is OrderDirection.DESC else chosen
    return [run.id for run in ordered]


async def walk_forward(
    ctx: Context, run_filter: TrainingRunFilter, order: TrainingRunOrder, size: int
) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = await list_training_runs(
            ctx=ctx, run_filter=run_filter, order=order, page=PageRequest(first=size, after=after)
        )
        assert page.has_previous_page is (after is not None and bool(ids))
        ids += [run.id for run in page.items]
        if not page.has_next_page:
            return ids
        after = page.end_cursor


async def walk_backward(
    ctx: Context, run_filter: TrainingRunFilter, order: TrainingRunOrder, size: int
) -> list[int]:
    ids: list[int] = []
    before = None
    while True:
        page = await list_training_runs(
            ctx=ctx, run_filter=run_filter, order=order, page=PageRequest(last=size, before=before)
        )
        assert page.has_next_page is (before is not None and bool(ids))
        ids = [run.id for run in page.items] + ids
        if not page.has_previous_page:
            return ids
        before = page.start_cursor


def filters(world: World) -> list[TrainingRunFilter]:
    done = frozenset({TrainingRunStatus.COMPLETED})
    some = frozenset({TrainingRunStatus.FAILED, TrainingRunStatus.QUEUED})
    early, late = BASE + timedelta(minutes=3), BASE + timedelta(minutes=11)
    return [
        TrainingRunFilter(),
        TrainingRunFilter(statuses=done),
        TrainingRunFilter(statuses=some),
        TrainingRunFilter(trained_by="ana"),
        TrainingRunFilter(trained_by="nobody"),
        TrainingRunFilter(model_version=world.runs[7].model_version),
        TrainingRunFilter(dataset_id=world.datasets[0]),
        TrainingRunFilter(run_date_from=early),
        TrainingRunFilter(run_date_to=late),
        TrainingRunFilter(run_date_from=early, run_date_to=late),
        TrainingRunFilter(min_accuracy=0.7),
        TrainingRunFilter(min_accuracy=0.0),
        TrainingRunFilter(statuses=some, trained_by="bo"),
        TrainingRunFilter(trained_by="ana", dataset_id=world.datasets[1], run_date_from=early),
        TrainingRunFilter(statuses=done, min_accuracy=0.9, run_date_to=late),
    ]


async def test_every_filter_and_order_matches_an_independent_computation(
    factory: Factory, services: Services
):
    # given
    world = await make_world(factory, services)
    for run_filter in filters(world):
        for order in ORDERS:
            want = expected(world.runs, run_filter, order)
            # when
            forward = await walk_forward(world.ctx, run_filter, order, size=7)
            backward = await walk_backward(world.ctx, run_filter, order, size=6)
            page = await list_training_runs(ctx=world.ctx, run_filter=run_filter, order=order)
            # then
            assert forward == want, (run_filter, order)
            assert backward == want, (run_filter, order)
            assert await page.count() == len(want)


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o.field}-{o.direction}")
async def test_runs_inserted_between_pages_leave_every_run_once(
    factory: Factory, services: Services, order: TrainingRunOrder
):
    # given: runs with NULL metrics and ties, and a walk that inserts runs on both sides of
    # its cursor after every page
    world = await make_world(factory, services, count=40)
    rng = random.Random(7)
    seen: list[int] = []
    after = None
    inserted = 0
    while True:
        page = await list_training_runs(
            ctx=world.ctx, order=order, page=PageRequest(first=6, after=after)
        )
        seen += [run.id for run in page.items]
        if not page.has_next_page:
            break
        after = page.end_cursor
        done = rng.random() < 0.5
        await factory.training_runs(
            [
                {
                    "run_date": BASE + timedelta(minutes=rng.randrange(-3, 18)),
                    "model_version": f"ins{inserted}-{j}",
                    "status": "COMPLETED" if done else "RUNNING",
                    "accuracy": rng.choice([0.5, 0.7, 1.0]) if done else None,
                    "f1_score": rng.choice([0.4, 0.8]) if done else None,
                }
                for j in range(2)
            ]
        )
        inserted += 1
    # then: no run twice, every run that existed before the walk exactly once
    assert len(seen) == len(set(seen))
    assert {run.id for run in world.runs} <= set(seen)
    # and the walk saw rows inserted ahead of its cursor (they are part of the final order)
    everything = await list_training_runs(ctx=world.ctx, order=order, page=PageRequest(first=100))
    final = [run.id for run in everything.items]
    assert [i for i in final if i in set(seen)] == seen


async def test_null_metrics_page_exactly_once_by_accuracy(factory: Factory, services: Services):
    # given: 25 runs without accuracy between runs with accuracy
    reader = await factory.manager()
    ctx = Context(services=services, user=reader.user)
    rows = [
        {
            "run_date": BASE,
            "model_version": f"n{i:02d}",
            "status": "COMPLETED" if i % 5 == 0 else "FAILED",
            "accuracy": 0.8 if i % 5 == 0 else None,
        }
        for i in range(30)
    ]
    ids = await factory.training_runs(rows)
    nulls = [i for i, row in zip(ids, rows, strict=True) if row["accuracy"] is None]
    valued = [i for i, row in zip(ids, rows, strict=True) if row["accuracy"] is not None]
    for direction, want in (
        (OrderDirection.DESC, valued[::-1] + nulls[::-1]),
        (OrderDirection.ASC, nulls + valued),
    ):
        order = TrainingRunOrder(TrainingRunOrderField.ACCURACY, direction)
        # when / then
        assert await walk_forward(ctx, TrainingRunFilter(), order, size=4) == want
        assert await walk_backward(ctx, TrainingRunFilter(), order, size=4) == want


async def test_default_order_is_newest_first_and_20_runs(factory: Factory, services: Services):
    reader = await factory.manager()
    ids = await factory.training_runs(
        [
            {"run_date": BASE + timedelta(hours=i), "model_version": f"d{i}", "status": "COMPLETED"}
            for i in range(25)
        ]
    )
    page = await list_training_runs(ctx=Context(services=services, user=reader.user))
    assert [run.id for run in page.items] == ids[::-1][:20]
    assert page.has_next_page and not page.has_previous_page
    assert page.start_cursor == page.cursors[0] and page.end_cursor == page.cursors[-1]


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        (PageRequest(first=0), "first", "first must be between 1 and 100, got 0."),
        (PageRequest(first=101), "first", "first must be between 1 and 100, got 101."),
        (PageRequest(last=-1), "last", "last must be between 1 and 100, got -1."),
        (PageRequest(first=5, last=5), "last", "Pass first (with after) or last"),
        (PageRequest(after="not a cursor!"), "after", "Invalid cursor in after"),
        (PageRequest(before="e30="), "before", "Invalid cursor in before"),
    ],
)
async def test_page_requests_outside_the_rules_are_invalid_input(
    factory: Factory, services: Services, request_: PageRequest, field: str, message: str
):
    reader = await factory.manager()
    ctx = Context(services=services, user=reader.user)
    with pytest.raises(InvalidInput, match=re.escape(message)) as caught:
        await list_training_runs(ctx=ctx, page=request_)
    assert list(caught.value.fields) == [field]


def _forge(document: Any) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("cursor", "why"),
    [
        (
            _forge({"v": 0, "o": "RUN_DATE", "k": "2025-01-01T00:00:00+00:00", "i": 1}),
            "out of date",
        ),
        (_forge({"v": 1, "o": "ACCURACY", "k": 0.5, "i": 1}), "belongs to the order 'ACCURACY'"),
        (_forge({"v": 1, "o": "RUN_DATE", "k": 12, "i": 1}), "not a cursor this service issued"),
        (_forge({"v": 1, "o": "RUN_DATE", "k": "yesterday", "i": 1}), "not a cursor"),
        (_forge({"v": 1, "o": "RUN_DATE", "k": "2025-01-01T00:00:00", "i": 1}), "not a cursor"),
        (
            _forge({"v": 1, "o": "RUN_DATE", "k": "2025-01-01T00:00:00+00:00", "i": "1"}),
            "not a cursor",
        ),
        (
            _forge({"v": 1, "o": "RUN_DATE", "k": "2025-01-01T00:00:00+00:00", "i": True}),
            "not a cursor",
        ),
        (_forge({"v": 1, "o": "RUN_DATE", "k": "2025-01-01T00:00:00+00:00"}), "not a cursor"),
        (_forge([1, 2]), "not a cursor"),
        ("%%%", "not a cursor"),
        (
            _forge({"v": 1, "o": "RUN_DATE", "k": "2025-01-01T00:00:00+00:00", "i": 1})[:-3],
            "not a cursor",
        ),
    ],
)
async def test_forged_or_stale_cursors_are_invalid_input(
    factory: Factory, services: Services, cursor: str, why: str
):
    reader = await factory.manager()
    ctx = Context(services=services, user=reader.user)
    with pytest.raises(InvalidInput, match=why) as caught:
        await list_training_runs(ctx=ctx, page=PageRequest(after=cursor))
    assert "after" in caught.value.fields


def test_cursors_round_trip_every_order_key():
    when = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    codec: CursorCodec
    for field, key in (
        (TrainingRunOrderField.RUN_DATE, when),
        (TrainingRunOrderField.ACCURACY, 0.1 + 0.2),
        (TrainingRunOrderField.ACCURACY, None),
        (TrainingRunOrderField.F1_SCORE, 1.0),
        (TrainingRunOrderField.MODEL_VERSION, "v3.0-é"),
    ):
        from trainql.db.pagination import Position

        codec = CURSOR_CODECS[field]
        assert codec.decode(codec.encode(Position(key, 42)), argument="after") == Position(key, 42)


@pytest.mark.parametrize(
    ("run_filter", "field"),
    [
        (TrainingRunFilter(min_accuracy=1.5), "minAccuracy"),
        (TrainingRunFilter(min_accuracy=-0.1), "minAccuracy"),
        (
            TrainingRunFilter(run_date_from=BASE, run_date_to=BASE - timedelta(days=1)),
            "runDateFrom",
        ),
    ],
)
async def test_filters_outside_their_ranges_are_invalid_input(
    factory: Factory, services: Services, run_filter: TrainingRunFilter, field: str
):
    reader = await factory.manager()
    with pytest.raises(InvalidInput) as caught:
        await list_training_runs(
            ctx=Context(services=services, user=reader.user), run_filter=run_filter
        )
    assert list(caught.value.fields) == [field]


async def test_naive_run_dates_in_a_filter_are_utc(factory: Factory, services: Services):
    reader = await factory.manager()
    ids = await factory.training_runs(
        [
            {"run_date": BASE + timedelta(hours=h), "model_version": f"h{h}", "status": "RUNNING"}
            for h in range(4)
        ]
    )
    page = await list_training_runs(
        ctx=Context(services=services, user=reader.user),
        run_filter=TrainingRunFilter(
            run_date_from=datetime(2025, 1, 1, 1), run_date_to=datetime(2025, 1, 1, 3)
        ),
    )
    assert [run.id for run in page.items] == [ids[2], ids[1]]


async def test_listing_needs_hr_staff_or_manager(factory: Factory, services: Services):
    plain = await factory.account("plain")
    with pytest.raises(AuthenticationError):
        await list_training_runs(ctx=Context(services=services))
    with pytest.raises(PermissionDenied, match="HR_STAFF or MANAGER"):
        await list_training_runs(ctx=Context(services=services, user=plain.user))
    with pytest.raises(PermissionDenied):
        await list_training_runs_by_page(ctx=Context(services=services, user=plain.user))
    hr = await factory.hr_staff()
    assert (await list_training_runs(ctx=Context(services=services, user=hr.user))).items == []


async def test_numbered_pages_match_the_cursor_walk(factory: Factory, services: Services):
    world = await make_world(factory, services, count=45)
    run_filter = TrainingRunFilter(statuses=frozenset({TrainingRunStatus.COMPLETED}))
    want = expected(world.runs, run_filter, TrainingRunOrder())
    got: list[int] = []
    number = 1
    while True:
        page = await list_training_runs_by_page(
            ctx=world.ctx, run_filter=run_filter, page=number, page_size=8
        )
        assert page.count == len(want)
        got += [run.id for run in page.items]
        if not page.has_next:
            break
        number += 1
    assert got == want
    with pytest.raises(NotFound, match=r"Invalid page\."):
        await list_training_runs_by_page(
            ctx=world.ctx, run_filter=run_filter, page=number + 1, page_size=8
        )
