"""Reading training runs: one run, cursor pages (GraphQL), numbered pages (REST), and
watching a run for status changes (subscriptions)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from trainql.db import training_runs as run_store
from trainql.db.pagination import Position
from trainql.db.types import MAX_INTEGER_ID
from trainql.domain import (
    TrainingRun,
    TrainingRunFilter,
    TrainingRunOrder,
    TrainingRunOrderField,
    TrainingRunStatus,
)
from trainql.errors import InvalidInput, NotFound
from trainql.resolvers.context import Context
from trainql.resolvers.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorCodec,
    Page,
    PageRequest,
    datetime_from_json,
    datetime_to_json,
    keyset_result,
    window_for,
)
from trainql.resolvers.permissions import IS_HR_STAFF_OR_MANAGER, require
from trainql.services import Services

logger = logging.getLogger("trainql.training_runs")


def parse_run_id(raw: str | int) -> int:
    """A run id from a path or a GraphQL ID; anything that is not an integer from 1 to the
    largest id the database can hold (MAX_INTEGER_ID) is NotFound."""
    # int() would also take "1_0", " 7" and other scripts' digits: an id is ASCII digits.
    if isinstance(raw, str) and not (raw.isascii() and raw.isdigit()):
        raise NotFound("Not found.")
    try:
        run_id = int(raw)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None
    if not 1 <= run_id <= MAX_INTEGER_ID:
        raise NotFound("Not found.")
    return run_id


async def get_training_run(*, ctx: Context, run_id: str | int) -> TrainingRun:
    """One run, for HR_STAFF or MANAGER; NotFound when there is no such run."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    parsed = parse_run_id(run_id)
    async with ctx.db.read() as conn:
        run = await run_store.get_training_run(conn, run_id=parsed)
    if run is None:
        raise NotFound("Not found.")
    return run


# Filters and orders of run lists ----------------------------------------------------------


def _metric(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("metric must be a number")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("model version must be a string")
    return value


# Past any table's rows, within a 64-bit integer.
MAX_OFFSET = 2**62

CURSOR_CODECS = {
    TrainingRunOrderField.RUN_DATE: CursorCodec("RUN_DATE", datetime_to_json, datetime_from_json),
    TrainingRunOrderField.ACCURACY: CursorCodec("ACCURACY", _metric, _metric),
    TrainingRunOrderField.F1_SCORE: CursorCodec("F1_SCORE", _metric, _metric),
    TrainingRunOrderField.MODEL_VERSION: CursorCodec("MODEL_VERSION", _text, _text),
}


def parse_statuses(values: Iterable[str]) -> frozenset[TrainingRunStatus]:
    """Run statuses from their names (any case); InvalidInput naming the allowed ones."""
    allowed = ", ".join(TrainingRunStatus)
    statuses = set()
    for value in values:
        try:
            statuses.add(TrainingRunStatus(value.strip().upper()))
        except ValueError:
            raise InvalidInput(
                f"Unknown status {value!r}. Allowed: {allowed}.",
                fields={"status": [f"Must be one of {allowed}."]},
            ) from None
    return frozenset(statuses)


def _as_utc(value: datetime | None, field: str) -> datetime | None:
    # A date-time without an offset is read as UTC, the zone every run date is kept in.
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        message = f"{field} is outside the dates that can be compared: years 1 to 9999 in UTC."
        raise InvalidInput(message, fields={field: [message]}) from None


def validate_filter(run_filter: TrainingRunFilter | None) -> TrainingRunFilter:
    """`run_filter` checked and normalized (no filter: every run)."""
    if run_filter is None:
        return TrainingRunFilter()
    if run_filter.min_accuracy is not None and not 0.0 <= run_filter.min_accuracy <= 1.0:
        raise InvalidInput(
            f"minAccuracy must be between 0 and 1, got {run_filter.min_accuracy}.",
            fields={"minAccuracy": ["Must be between 0 and 1."]},
        )
    date_from = _as_utc(run_filter.run_date_from, "runDateFrom")
    date_to = _as_utc(run_filter.run_date_to, "runDateTo")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidInput(
            "runDateFrom must not be after runDateTo.",
            fields={"runDateFrom": ["Must not be after runDateTo."]},
        )
    return replace(run_filter, run_date_from=date_from, run_date_to=date_to)


async def list_training_runs(
    *,
    ctx: Context,
    run_filter: TrainingRunFilter | None = None,
    order: TrainingRunOrder | None = None,
    page: PageRequest | None = None,
) -> Page[TrainingRun]:
    """A cursor page of runs, for HR_STAFF or MANAGER.

    Ordered by `order` (default newest run first) with the id breaking ties; `page.first` /
    `page.last` are 1..100 (default 20). The page's `count()` runs a COUNT only when awaited.
    """
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    checked = validate_filter(run_filter)
    order = order or TrainingRunOrder()
    codec = CURSOR_CODECS[order.field]
    window = window_for(page or PageRequest(), codec)
    async with ctx.db.read() as conn:
        found = await run_store.list_training_runs(conn, checked, order, window)

    async def count() -> int:
        async with ctx.db.session() as session:
            return await run_store.count_training_runs(session, checked)

    return keyset_result(
        found,
        codec=codec,
        position=lambda run: Position(key=run_store.order_key(run, order.field), id=run.id),
        count=count,
    )


async def list_dataset_training_runs(
    *, ctx: Context, dataset_ids: Sequence[uuid.UUID], page: PageRequest
) -> dict[uuid.UUID, Page[TrainingRun]]:
    """For each dataset, a cursor page of its runs, newest first, for HR_STAFF or MANAGER:
    what `list_training_runs` gives with a dataset filter, for a whole page of datasets in a
    constant number of statements. The pages' counts are one grouped COUNT, run when the
    first of them is awaited."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    codec = CURSOR_CODECS[TrainingRunOrderField.RUN_DATE]
    window = window_for(page, codec)
    async with ctx.db.read() as conn:
        found = await run_store.list_training_runs_by_dataset(
            conn, dataset_ids=dataset_ids, window=window
        )
    counted: asyncio.Task[dict[uuid.UUID, int]] | None = None

    async def count_all() -> dict[uuid.UUID, int]:
        async with ctx.db.read() as conn:
            return await run_store.count_training_runs_by_dataset(conn, dataset_ids=dataset_ids)

    def count_of(dataset_id: uuid.UUID) -> Callable[[], Awaitable[int]]:
        async def count() -> int:
            nonlocal counted
            if counted is None:
                counted = asyncio.ensure_future(count_all())
            return (await counted)[dataset_id]

        return count

    return {
        dataset_id: keyset_result(
            runs,
            codec=codec,
            position=lambda run: Position(key=run.run_date, id=run.id),
            count=count_of(dataset_id),
        )
        for dataset_id, runs in found.items()
    }


@dataclass(frozen=True, slots=True)
class NumberedPage:
    """A page of a page-number list: its runs, the total count, and its neighbours."""

    items: list[TrainingRun]
    count: int
    page: int
    has_next: bool
    has_previous: bool


def _positive_int(raw: str | int | None, default: int) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value >= 1 else None


async def list_training_runs_by_page(
    *,
    ctx: Context,
    run_filter: TrainingRunFilter | None = None,
    page: str | int | None = None,
    page_size: str | int | None = None,
) -> NumberedPage:
    """Page `page` (from 1) of runs, newest first, for HR_STAFF or MANAGER.

    `page_size` defaults to 20; larger than 100 is clamped to 100, not a positive integer is
    InvalidInput. A page that is not a positive integer or lies past the end is NotFound
    ("Invalid page."); page 1 of an empty list is an empty page.
    """
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    checked = validate_filter(run_filter)
    size = _positive_int(page_size, DEFAULT_PAGE_SIZE)
    if size is None:
        raise InvalidInput(
            f"page_size must be a positive integer, got {page_size!r}.",
            fields={
                "page_size": [f"A positive integer; default {DEFAULT_PAGE_SIZE}, at most 100."]
            },
        )
    size = min(size, MAX_PAGE_SIZE)
    number = _positive_int(page, 1)
    if number is None:
        raise NotFound("Invalid page.")
    # Any offset past every row is the same empty page; the clamp keeps a huge page number
    # inside the database's integers.
    offset = min((number - 1) * size, MAX_OFFSET)
    async with ctx.db.read() as conn:
        total, items = await run_store.numbered_page(
            conn, checked, TrainingRunOrder(), offset=offset, limit=size
        )
    last_page = max(1, -(-total // size))
    if number > last_page:
        raise NotFound("Invalid page.")
    return NumberedPage(
        items=items,
        count=total,
        page=number,
        has_next=number < last_page,
        has_previous=number > 1,
    )


# Watching one run (subscriptions) ------------------------------------------------------------


async def watch_training_run(*, ctx: Context, run_id: str | int) -> AsyncIterator[TrainingRun]:
    """The run now, then again on each status change, ending after COMPLETED or FAILED.

    Permission (HR_STAFF or MANAGER) and existence are checked before this returns, so a
    caller gets UNAUTHENTICATED, FORBIDDEN or NotFound at once rather than from the stream.

    Changes are found by the process's RunStatusPoller (every `subscription_poll_interval_s`):
    the run may be trained by any process using the same database. The whole run is read
    only when its status moved. A status that lasts less than one interval (a QUEUED run
    picked up at once) may be skipped; the final status is always emitted.
    """
    first = await get_training_run(ctx=ctx, run_id=run_id)
    return _status_changes(ctx.services, first)


async def _status_changes(services: Services, first: TrainingRun) -> AsyncIterator[TrainingRun]:
    yield first
    poller = services.run_statuses
    last = first.status
    while not last.is_final:
        if await poller.changed(first.id, last) is None:
            raise NotFound("Not found.")
        async with services.db.session() as session:
            run = await run_store.get_training_run(session, run_id=first.id)
        if run is None:
            raise NotFound("Not found.")
        last = run.status
        yield run
