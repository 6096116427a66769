"""Training run rows: conversion to the domain object, single-row reads and writes, and the
filtered, ordered lists (keyset pages for cursors, offset pages for page numbers)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Row,
    RowMapping,
    bindparam,
    func,
    inspect,
    literal,
    literal_column,
    true,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import (
    METRIC_NULL_SORT_KEY,
    TrainingRunRow,
    TrainingRunStatusCountRow,
    TrainingRunTrainerCountRow,
    UserRow,
)
from trainql.db.pagination import KeysetPage, Sort, Window, first_keyset_page, keyset_page
from trainql.db.types import utcnow
from trainql.db.users import user_columns, user_from_columns
from trainql.domain import (
    ClassMetrics,
    FeatureColumn,
    FeatureKind,
    OrderDirection,
    RunFailure,
    RunOutcome,
    TrainingRun,
    TrainingRunDetails,
    TrainingRunFilter,
    TrainingRunOrder,
    TrainingRunOrderField,
    TrainingRunStatus,
    User,
    class_metrics_fields,
)
from trainql.training_request import Hyperparameters

# Columns read into TrainingRunDetails: left out of list pages unless asked for.
DETAIL_COLUMNS = frozenset(
    {
        "hyperparameters",
        "per_class_metrics",
        "features_used",
        "feature_importances",
        "confusion_matrix",
        "input_schema",
    }
)
TRAINER_PREFIX = "trainer_"


# The stored JSON of a run's details. These shapes are the database's, not a transport's: the
# REST and GraphQL layers shape their own answers from the domain objects.


def class_metrics_json(metrics: ClassMetrics) -> dict[str, float | int]:
    """One class's metrics as the `per_class_metrics` column stores them (its field names)."""
    return class_metrics_fields(metrics)


def hyperparameters_json(hyperparameters: Hyperparameters) -> dict[str, Any]:
    """The hyperparameters as the `hyperparameters` column stores them (every one, by name)."""
    return hyperparameters.model_dump()


def input_schema_json(columns: Sequence[FeatureColumn]) -> list[dict[str, Any]]:
    """The input schema as the `input_schema` column stores it."""
    return [
        {
            "name": c.name,
            "kind": c.kind.value,
            "categories": None if c.categories is None else list(c.categories),
        }
        for c in columns
    ]


def input_schema_from_json(stored: list[dict[str, Any]] | None) -> tuple[FeatureColumn, ...] | None:
    if stored is None:
        return None
    return tuple(
        FeatureColumn(
            name=str(c["name"]),
            kind=FeatureKind(c["kind"]),
            categories=None if c.get("categories") is None else tuple(c["categories"]),
        )
        for c in stored
    )


def details_to_domain(get: Callable[[str], Any]) -> TrainingRunDetails:
    """The details of the row whose columns `get` reads by name."""
    return TrainingRunDetails(
        hyperparameters=dict(get("hyperparameters")),
        per_class_metrics={
            label: ClassMetrics(**values) for label, values in get("per_class_metrics").items()
        },
        features_used=list(get("features_used")),
        feature_importances=dict(get("feature_importances")),
        confusion_matrix=get("confusion_matrix"),
        input_schema=input_schema_from_json(get("input_schema")),
    )


_STATUSES = {status.value: status for status in TrainingRunStatus}


def run_to_domain(
    row: TrainingRunRow | Row[Any] | RowMapping,
    trainer: User | None = None,
    *,
    details: bool = True,
) -> TrainingRun:
    """From an ORM row or a plain row of the table's columns, or its mapping (and the trainer,
    when read); `details=False` for a row read without the DETAIL_COLUMNS."""
    # A plain row is read through its mapping: attribute access on a Row costs several
    # times a key lookup, and a list page reads two dozen columns of 20 rows.
    get: Callable[[str], Any]
    if isinstance(row, RowMapping):
        get = row.__getitem__
    elif isinstance(row, Row):
        get = row._mapping.__getitem__
    else:
        get = functools.partial(getattr, row)
    run_id = get("id")
    assert run_id is not None
    return TrainingRun(
        id=run_id,
        run_date=get("run_date"),
        model_version=get("model_version"),
        status=_STATUSES[get("status")],
        dataset_path=get("dataset_path"),
        dataset_id=get("dataset_id"),
        test_split=get("test_split"),
        random_state=get("random_state"),
        target_column=get("target_column"),
        n_estimators=get("n_estimators"),
        notes=get("notes"),
        model_path=get("model_path"),
        model_sha256=get("model_sha256"),
        trained_by_id=get("trained_by_id"),
        trained_by=trainer,
        error_message=get("error_message"),
        accuracy=get("accuracy"),
        precision=get("precision"),
        recall=get("recall"),
        f1_score=get("f1_score"),
        training_duration_seconds=get("training_duration_seconds"),
        total_samples=get("total_samples"),
        train_samples=get("train_samples"),
        test_samples=get("test_samples"),
        updated_at=get("updated_at"),
        details=details_to_domain(get) if details else None,
        attempt=get("attempt"),
        fencing_token=get("fencing_token"),
        worker=get("lease_owner"),
        lease_expires_at=get("lease_expires_at"),
        attempt_started_at=get("attempt_started_at"),
        error_code=_failure(get("error_code")),
    )


def _failure(code: str | None) -> RunFailure | None:
    # A code this version does not know (written by a newer one) reads as none.
    return RunFailure(code) if code is not None and code in RunFailure._value2member_map_ else None


@functools.cache
def with_trainer_statement(*, details: bool) -> Any:
    """SELECT the run's columns (without DETAIL_COLUMNS unless `details`) and its trainer's:
    one statement for runs and their trainers. Rows are plain, read by `_to_domain`.

    Built once (statements are immutable; `.where()` makes a new one): every list request
    starts from it."""
    run_columns = [
        c
        for c in inspect(TrainingRunRow).local_table.columns
        if details or c.name not in DETAIL_COLUMNS
    ]
    return sa_select(*run_columns, *user_columns(TRAINER_PREFIX)).outerjoin(
        UserRow, col(UserRow.id) == col(TrainingRunRow.trained_by_id)
    )


# Built once: reading one run is the whole cost of a detail request.
_RUN_BY_ID = with_trainer_statement(details=True).where(
    col(TrainingRunRow.id) == bindparam("run_id")
)


def _to_domain(found: Sequence[Row[Any]], *, details: bool) -> list[TrainingRun]:
    # A page holds a handful of trainers: each is made once and shared (User is frozen).
    trainers: dict[Any, User | None] = {}
    runs = []
    for row in found:
        columns = row._mapping  # a new mapping object at every access: taken once per row
        trainer_id = columns[TRAINER_PREFIX + "id"]
        if trainer_id not in trainers:
            trainers[trainer_id] = user_from_columns(columns, TRAINER_PREFIX)
        runs.append(run_to_domain(columns, trainers[trainer_id], details=details))
    return runs


async def get_training_run(
    db: AsyncSession | AsyncConnection, *, run_id: int
) -> TrainingRun | None:
    """One run with its trainer and details; in a session (whose other reads it must agree
    with) or on a plain connection (`Database.read()`: one round trip, no transaction)."""
    statement = _RUN_BY_ID
    params = {"run_id": run_id}
    if isinstance(db, AsyncSession):
        found = (await db.exec(statement, params=params)).first()
    else:
        found = (await db.execute(statement, params)).first()
    return None if found is None else _to_domain([found], details=True)[0]


# Built once, like _RUN_BY_ID: predictions by model version read one run this way.
_RUN_BY_VERSION = with_trainer_statement(details=True).where(
    col(TrainingRunRow.model_version) == bindparam("model_version")
)


async def get_training_run_by_version(
    conn: AsyncConnection, *, model_version: str
) -> TrainingRun | None:
    """The run of `model_version` (versions are unique), with its trainer and details."""
    found = (await conn.execute(_RUN_BY_VERSION, {"model_version": model_version})).first()
    return None if found is None else _to_domain([found], details=True)[0]


async def get_training_run_details(
    conn: AsyncConnection, *, run_ids: list[int]
) -> dict[int, TrainingRunDetails]:
    """The details of each of `run_ids` that exists (one primary-key lookup)."""
    columns = [col(getattr(TrainingRunRow, name)) for name in sorted(DETAIL_COLUMNS)]
    statement = sa_select(col(TrainingRunRow.id), *columns).where(
        col(TrainingRunRow.id).in_(run_ids)
    )
    found = (await conn.execute(statement)).mappings().all()
    return {columns["id"]: details_to_domain(columns.__getitem__) for columns in found}


async def get_training_run_statuses(
    session: AsyncSession, *, run_ids: list[int]
) -> dict[int, TrainingRunStatus]:
    """The status of each of `run_ids` that exists (primary-key lookups of one column)."""
    found = await session.exec(
        select(TrainingRunRow.id, TrainingRunRow.status).where(col(TrainingRunRow.id).in_(run_ids))
    )
    return {run_id: TrainingRunStatus(status) for run_id, status in found.all() if run_id}


async def insert_training_run(
    session: AsyncSession,
    *,
    model_version: str,
    status: TrainingRunStatus,
    dataset_path: str,
    dataset_id: uuid.UUID | None,
    test_split: float,
    target_column: str,
    hyperparameters: Hyperparameters,
    random_state: int,
    notes: str,
    trained_by_id: int | None,
    dispatch_lease_s: float | None = None,
) -> int:
    """Insert a run as a request asked for it and return its id; a duplicate model_version
    raises ConstraintViolation on commit.

    A QUEUED run with `dispatch_lease_s` is vouched for that long by the dispatcher that is
    about to submit it; without one, a reconciler dispatches it at its next pass.
    """
    row = TrainingRunRow(
        model_version=model_version,
        status=status.value,
        dataset_path=dataset_path,
        dataset_id=dataset_id,
        test_split=test_split,
        target_column=target_column,
        n_estimators=hyperparameters.n_estimators,
        hyperparameters=hyperparameters_json(hyperparameters),
        random_state=random_state,
        notes=notes,
        trained_by_id=trained_by_id,
    )
    if dispatch_lease_s is not None:
        # This process's clock (an ORM insert binds values); every later lease write and
        # every comparison uses the database's, as the lifecycle section below says.
        row.lease_expires_at = utcnow() + timedelta(seconds=dispatch_lease_s)
    session.add(row)
    await session.flush()
    assert row.id is not None
    return row.id


async def set_training_run_status(
    session: AsyncSession,
    *,
    run_id: int,
    status: TrainingRunStatus,
    error_message: str | None = None,
) -> None:
    """Move one run to `status` whoever owns it (an operator's or a test's write: an
    execution writes through the fenced functions below)."""
    await _update(session, run_id, status=status.value, error_message=error_message)


# --- The lifecycle ---------------------------------------------------------------------------
#
# QUEUED -> RUNNING -> COMPLETED | FAILED, owned by one execution at a time. Every write below
# is a compare-and-set on (status, fencing_token[, lease expired]): of two processes racing
# for the same run (two reconcilers, two copies of one dispatch, a worker that lost its lease
# and the one that took over) exactly one write matches, and the others change nothing.
# Leases are timed by the database's clock on PostgreSQL, so hosts whose clocks differ
# agree on when a lease ends.


@dataclass(frozen=True, slots=True)
class Claim:
    """What an execution holds once it claimed a run: the token every later write names,
    and which attempt it is (1 for the first execution)."""

    token: int
    attempt: int


def _now(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.now()
    return utcnow()


def _lease_ends(session: AsyncSession, seconds: float) -> Any:
    return _now(session) + timedelta(seconds=seconds)


def _lease_over(session: AsyncSession) -> Any:
    ends = col(TrainingRunRow.lease_expires_at)
    return ends.is_(None) | (ends < _now(session))


async def _transition(
    session: AsyncSession,
    run_id: int,
    *,
    expected: TrainingRunStatus,
    token: int,
    values: dict[str, Any],
    lease_over: bool = False,
) -> Row[Any] | None:
    """The one compare-and-set every lifecycle write goes through: when the run is
    `expected` with `token` (and, with `lease_over`, its lease has run out), set `values`;
    returns the run's attempt and token as written, None when nothing matched."""
    conditions = [
        col(TrainingRunRow.id) == run_id,
        col(TrainingRunRow.status) == expected.value,
        col(TrainingRunRow.fencing_token) == token,
    ]
    if lease_over:
        conditions.append(_lease_over(session))
    found = await session.exec(
        update(TrainingRunRow)
        .where(*conditions)
        .values(**values, updated_at=utcnow())
        .returning(col(TrainingRunRow.attempt), col(TrainingRunRow.fencing_token))
    )
    return found.first()


async def claim_training_run(
    session: AsyncSession, *, run_id: int, token: int, owner: str, lease_s: float
) -> Claim | None:
    """Take a QUEUED run dispatched with `token` and mark it RUNNING by `owner` for one
    lease: None when another execution has it already (or it is no longer QUEUED)."""
    done = await _transition(
        session,
        run_id,
        expected=TrainingRunStatus.QUEUED,
        token=token,
        values={
            "status": TrainingRunStatus.RUNNING.value,
            "fencing_token": token + 1,
            "attempt": col(TrainingRunRow.attempt) + 1,
            "lease_owner": owner[:255],
            "lease_expires_at": _lease_ends(session, lease_s),
            "attempt_started_at": _now(session),
        },
    )
    return None if done is None else Claim(token=done.fencing_token, attempt=done.attempt)


async def renew_training_run_lease(
    session: AsyncSession, *, run_id: int, token: int, lease_s: float
) -> bool:
    """The heartbeat: extend the lease of the execution holding `token`; False when that
    execution no longer owns the run (a reconciler gave it to another)."""
    done = await _transition(
        session,
        run_id,
        expected=TrainingRunStatus.RUNNING,
        token=token,
        values={"lease_expires_at": _lease_ends(session, lease_s)},
    )
    return done is not None


async def record_training_outcome(
    session: AsyncSession, *, run_id: int, token: int, outcome: RunOutcome
) -> bool:
    """Mark the run COMPLETED with its test-split metrics and where its model was saved, if
    the execution holding `token` still owns it (False otherwise: nothing was written)."""
    done = await _transition(
        session,
        run_id,
        expected=TrainingRunStatus.RUNNING,
        token=token,
        values={
            **_finished(),
            "status": TrainingRunStatus.COMPLETED.value,
            "model_path": outcome.model_path,
            "model_sha256": outcome.model_sha256,
            "input_schema": (
                None if outcome.input_schema is None else input_schema_json(outcome.input_schema)
            ),
            "accuracy": outcome.accuracy,
            "precision": outcome.precision,
            "recall": outcome.recall,
            "f1_score": outcome.f1_score,
            "training_duration_seconds": outcome.training_duration_seconds,
            "total_samples": outcome.total_samples,
            "train_samples": outcome.train_samples,
            "test_samples": outcome.test_samples,
            "per_class_metrics": {
                label: class_metrics_json(m) for label, m in outcome.per_class_metrics.items()
            },
            "features_used": list(outcome.features_used),
            "feature_importances": dict(outcome.feature_importances),
            "confusion_matrix": outcome.confusion_matrix,
        },
    )
    return done is not None


async def fail_training_run(
    session: AsyncSession,
    *,
    run_id: int,
    token: int,
    error_message: str,
    error_code: RunFailure,
    lease_over: bool = False,
) -> bool:
    """Mark the RUNNING run FAILED if the execution holding `token` still owns it (with
    `lease_over`: only once that execution's lease has run out, as a reconciler does)."""
    done = await _transition(
        session,
        run_id,
        expected=TrainingRunStatus.RUNNING,
        token=token,
        lease_over=lease_over,
        values={
            **_finished(),
            "status": TrainingRunStatus.FAILED.value,
            "error_message": error_message,
            "error_code": error_code.value,
        },
    )
    return done is not None


async def requeue_training_run(
    session: AsyncSession,
    *,
    run_id: int,
    token: int,
    dispatch_lease_s: float | None,
    lease_over: bool = False,
) -> int | None:
    """Give the RUNNING run held by `token` back to the queue under a new token, returned
    (None when that execution no longer owns it). A reconciler does it with `lease_over`
    for a run whose worker was lost, vouching for the re-dispatch it is about to make for
    `dispatch_lease_s`; a process that stops releases its runs with no lease (None), for
    any reconciler to dispatch at once."""
    done = await _transition(
        session,
        run_id,
        expected=TrainingRunStatus.RUNNING,
        token=token,
        lease_over=lease_over,
        values={
            **_finished(),
            "status": TrainingRunStatus.QUEUED.value,
            "lease_owner": None,
            "fencing_token": token + 1,
            "lease_expires_at": None
            if dispatch_lease_s is None
            else _lease_ends(session, dispatch_lease_s),
        },
    )
    return None if done is None else int(done.fencing_token)


async def vouch_for_dispatch(
    session: AsyncSession, *, run_id: int, token: int, dispatch_lease_s: float
) -> bool:
    """Take over the dispatch of a QUEUED run whose dispatch lease ran out (a reconciler):
    True for the one process that should submit it again, with the same token."""
    done = await _transition(
        session,
        run_id,
        expected=TrainingRunStatus.QUEUED,
        token=token,
        lease_over=True,
        values={"lease_expires_at": _lease_ends(session, dispatch_lease_s)},
    )
    return done is not None


def _finished() -> dict[str, Any]:
    """What leaving RUNNING clears: the lease (the owner stays, as who ran the attempt)."""
    return {"lease_expires_at": None}


async def unowned_training_runs(session: AsyncSession, *, limit: int) -> list[TrainingRun]:
    """QUEUED and RUNNING runs whose lease ran out (or that have none), oldest first, with
    their details: what a reconciler dispatches again, retries or fails."""
    unfinished = (TrainingRunStatus.QUEUED.value, TrainingRunStatus.RUNNING.value)
    found = await session.exec(
        with_trainer_statement(details=True)
        .where(col(TrainingRunRow.status).in_(unfinished), _lease_over(session))
        .order_by(col(TrainingRunRow.id))
        .limit(limit)
    )
    return _to_domain(found.all(), details=True)


async def _update(session: AsyncSession, run_id: int, **columns: object) -> None:
    # Private: the public writes above name (and type) every column they set.
    found = await session.exec(
        update(TrainingRunRow)
        .where(col(TrainingRunRow.id) == run_id)
        .values(**columns, updated_at=utcnow())
    )
    if found.rowcount == 0:
        raise LookupError(f"training run {run_id} does not exist")


async def model_version_exists(session: AsyncSession, *, model_version: str) -> bool:
    found = await session.exec(
        select(TrainingRunRow.id).where(col(TrainingRunRow.model_version) == model_version)
    )
    return found.first() is not None


def metric_sort_key(column: Any) -> Any:
    """The sort key of a metric, spelled as the indexes spell it (NULL below every value)."""
    return func.coalesce(column, literal_column(str(METRIC_NULL_SORT_KEY)))


def _metric_bind(value: float | None) -> float:
    return METRIC_NULL_SORT_KEY if value is None else value


# Each order: the key expression the index is on, how a cursor key binds, and the run's key.
_ORDER_KEYS: dict[TrainingRunOrderField, tuple[Any, Callable[[Any], Any]]] = {
    TrainingRunOrderField.RUN_DATE: (col(TrainingRunRow.run_date), lambda v: v),
    TrainingRunOrderField.ACCURACY: (metric_sort_key(TrainingRunRow.accuracy), _metric_bind),
    TrainingRunOrderField.F1_SCORE: (metric_sort_key(TrainingRunRow.f1_score), _metric_bind),
    TrainingRunOrderField.MODEL_VERSION: (col(TrainingRunRow.model_version), lambda v: v),
}


def order_key(run: TrainingRun, field: TrainingRunOrderField) -> Any:
    """The value `run` is ordered by under `field` (None for a missing metric)."""
    return {
        TrainingRunOrderField.RUN_DATE: run.run_date,
        TrainingRunOrderField.ACCURACY: run.accuracy,
        TrainingRunOrderField.F1_SCORE: run.f1_score,
        TrainingRunOrderField.MODEL_VERSION: run.model_version,
    }[field]


def sort_for(order: TrainingRunOrder) -> Sort:
    key, bind = _ORDER_KEYS[order.field]
    return Sort(
        key=key,
        id=col(TrainingRunRow.id),
        descending=order.direction is OrderDirection.DESC,
        bind=bind,
    )


def _filter_values(run_filter: TrainingRunFilter) -> dict[str, Any]:
    """The conditions `run_filter` sets, by name, each with the value it compares with."""
    values = {
        "statuses": None if run_filter.statuses is None else sorted(run_filter.statuses),
        "trained_by": run_filter.trained_by,
        "model_version": run_filter.model_version,
        "dataset_id": run_filter.dataset_id,
        "run_date_from": run_filter.run_date_from,
        "run_date_to": run_filter.run_date_to,
        "min_accuracy": run_filter.min_accuracy,
    }
    return {name: value for name, value in values.items() if value is not None}


def _conditions(values: dict[str, Any]) -> list[Any]:
    """WHERE conditions on training_runs alone (no join), each served by an index: one per
    entry of `values` (named as `_filter_values` names them), comparing with its value, a
    plain value or a bound parameter."""
    run = TrainingRunRow
    conditions: list[Any] = []
    if "statuses" in values:
        conditions.append(col(run.status).in_(values["statuses"]))
    if "trained_by" in values:
        conditions.append(col(run.trained_by_id) == _user_id(values["trained_by"]))
    if "model_version" in values:
        conditions.append(col(run.model_version) == values["model_version"])
    if "dataset_id" in values:
        conditions.append(col(run.dataset_id) == values["dataset_id"])
    if "run_date_from" in values:
        conditions.append(col(run.run_date) >= values["run_date_from"])
    if "run_date_to" in values:
        conditions.append(col(run.run_date) < values["run_date_to"])
    if "min_accuracy" in values:
        # On the sort key (same rows for a bound >= 0): one index serves filter and order.
        conditions.append(metric_sort_key(run.accuracy) >= values["min_accuracy"])
    return conditions


def filter_conditions(run_filter: TrainingRunFilter) -> list[Any]:
    """WHERE conditions on training_runs alone (no join), each served by an index."""
    return _conditions(_filter_values(run_filter))


@functools.cache
def _first_page_statement(
    order: TrainingRunOrder, conditions: tuple[str, ...], *, backward: bool
) -> Any:
    """The statement of a page without cursors for filters on `conditions` (names of
    `_filter_values`), every value a bound parameter of that name: built once per shape, as
    the REST page's is. A first page is most of what clients ask for."""
    params: dict[str, Any] = {
        name: bindparam(name, expanding=name == "statuses") for name in conditions
    }
    rows = with_trainer_statement(details=False).where(*_conditions(params))
    return sort_for(order).first_rows(rows, backward=backward)


async def list_training_runs(
    conn: AsyncConnection, run_filter: TrainingRunFilter, order: TrainingRunOrder, window: Window
) -> KeysetPage[TrainingRun]:
    """One keyset page of runs (with their trainers, without their details) matching
    `run_filter`."""
    values = _filter_values(run_filter)
    if window.after is None and window.before is None:
        statement = _first_page_statement(order, tuple(values), backward=window.backward)
        page = await first_keyset_page(conn, statement, values, window=window)
    else:
        conditions = _conditions(values)
        page = await keyset_page(
            conn,
            with_trainer_statement(details=False).where(*conditions),
            select(TrainingRunRow.id).where(*conditions),
            sort=sort_for(order),
            window=window,
        )
    return KeysetPage(
        items=_to_domain(page.items, details=False),
        has_next=page.has_next,
        has_previous=page.has_previous,
    )


def _numbered_statement(
    conditions: list[Any], count: Any, sort: Sort, *, offset: Any, limit: Any
) -> Any:
    """The count (a one-column SELECT named `runs`) and the page of the rows matching
    `conditions`, in one statement: the count left-joined to the page, so an empty page still
    answers its count. A page starting past the count reads no index at all."""
    ids = (
        select(TrainingRunRow.id)
        .where(*conditions, offset < count.scalar_subquery())
        .order_by(*sort.order_by())
        .offset(offset)
        .limit(limit)
        .subquery("page_ids")
    )
    page = (
        with_trainer_statement(details=False)
        .add_columns(sort.key.label("sort_key"))
        .join(ids, ids.c.id == col(TrainingRunRow.id))
        .subquery("page")
    )
    total = count.subquery("total")
    key, run_id = page.c.sort_key, page.c.id
    return (
        sa_select(total.c.runs.label("total_runs"), page)
        .select_from(total.outerjoin(page, true()))
        .order_by(*(c.desc() if sort.descending else c.asc() for c in (key, run_id)))
    )


@functools.cache
def _kept_numbered_statement(order: TrainingRunOrder, *, statuses: bool, trainer: bool) -> Any:
    """`_numbered_statement` for filters on statuses and the trainer alone (all the REST list
    has), with every value a bound parameter: built once per shape. Building it per request
    (two subqueries, whose columns SQLAlchemy copies, and their cache key) cost more CPU
    than the rest of a REST page."""
    run_status, trained_by = col(TrainingRunRow.status), col(TrainingRunRow.trained_by_id)
    conditions: list[Any] = []
    if statuses:
        conditions.append(run_status.in_(bindparam("statuses", expanding=True)))
    if trainer:
        conditions.append(trained_by == _user_id(bindparam("trained_by")))
    count = _kept_count(
        statuses=bindparam("statuses", expanding=True) if statuses else None,
        trainer=bindparam("trained_by") if trainer else None,
    )
    return _numbered_statement(
        conditions,
        count,
        sort_for(order),
        offset=bindparam("offset", type_=BigInteger),
        limit=bindparam("limit", type_=Integer),
    )


async def numbered_page(
    conn: AsyncConnection,
    run_filter: TrainingRunFilter,
    order: TrainingRunOrder,
    *,
    offset: int,
    limit: int,
) -> tuple[int, list[TrainingRun]]:
    """How many runs match `run_filter`, and `limit` of them (without their details) from
    `offset` on, for page-number pagination.

    One statement, so the count and the page are read from one snapshot and always agree.
    The count comes from the kept count rows when the filter allows (see `count_statement`).
    """
    if counts_are_kept(run_filter):
        # Not kept_count_statement: building a statement only to test it cost a REST page
        # a few per cent of its CPU.
        statement = _kept_numbered_statement(
            order,
            statuses=run_filter.statuses is not None,
            trainer=run_filter.trained_by is not None,
        )
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if run_filter.statuses is not None:
            params["statuses"] = sorted(run_filter.statuses)
        if run_filter.trained_by is not None:
            params["trained_by"] = run_filter.trained_by
        found = (await conn.execute(statement, params)).all()
    else:
        statement = _numbered_statement(
            filter_conditions(run_filter),
            count_statement(run_filter),
            sort_for(order),
            offset=literal(offset, BigInteger),
            limit=literal(limit),
        )
        found = (await conn.execute(statement)).all()
    runs = [row for row in found if row._mapping["id"] is not None]
    return int(found[0]._mapping["total_runs"]), _to_domain(runs, details=False)


async def list_training_runs_by_dataset(
    conn: AsyncConnection, *, dataset_ids: Sequence[uuid.UUID], window: Window
) -> dict[uuid.UUID, KeysetPage[TrainingRun]]:
    """For each dataset, one forward keyset page of its runs, newest first (with trainers,
    without details): two statements for any number of datasets, a windowed one for the pages
    and, when `window.after` is given, one for which datasets have runs behind it."""
    if window.backward or window.before is not None:
        raise ValueError("pages of a dataset's runs go forward only")
    sort = sort_for(TrainingRunOrder())
    conditions = [col(TrainingRunRow.dataset_id).in_(dataset_ids)]
    if window.after is not None:
        conditions.append(sort.beyond(window.after, after=True))
    rank = func.row_number().over(
        partition_by=col(TrainingRunRow.dataset_id), order_by=sort.order_by()
    )
    ranked = (
        with_trainer_statement(details=False).add_columns(rank.label("rank")).where(*conditions)
    ).subquery("ranked")
    found = (
        await conn.execute(
            sa_select(ranked)
            .where(ranked.c.rank <= window.limit + 1)
            .order_by(ranked.c.dataset_id, ranked.c.rank)
        )
    ).all()
    rows: dict[uuid.UUID, list[Row[Any]]] = {dataset_id: [] for dataset_id in dataset_ids}
    for row in found:
        rows[row.dataset_id].append(row)
    behind: set[uuid.UUID] = set()
    if window.after is not None:
        probe = (
            select(TrainingRunRow.dataset_id)
            .where(
                col(TrainingRunRow.dataset_id).in_(dataset_ids),
                sort.beyond(window.after, after=False, inclusive=True),
            )
            .distinct()
        )
        behind = {dataset_id for (dataset_id,) in (await conn.execute(probe)).all()}
    return {
        dataset_id: KeysetPage(
            items=_to_domain(page[: window.limit], details=False),
            has_next=len(page) > window.limit,
            has_previous=dataset_id in behind,
        )
        for dataset_id, page in rows.items()
    }


async def count_training_runs_by_dataset(
    conn: AsyncConnection, *, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many runs each dataset has (one grouped statement; 0 for a dataset without)."""
    statement = (
        select(TrainingRunRow.dataset_id, func.count())
        .where(col(TrainingRunRow.dataset_id).in_(dataset_ids))
        .group_by(col(TrainingRunRow.dataset_id))
    )
    counted = {dataset_id: int(n) for dataset_id, n in (await conn.execute(statement)).all()}
    return {dataset_id: counted.get(dataset_id, 0) for dataset_id in dataset_ids}


def _user_id(username: Any) -> Any:
    """The id of the user named `username` (a value or a bound parameter), as a scalar
    subquery, not a join: the planner then seeks (trained_by_id, run_date, id)."""
    return select(UserRow.id).where(UserRow.username == username).scalar_subquery()


def _kept_count(*, statuses: Any, trainer: Any) -> Any:
    conditions: list[Any] = []
    if trainer is None:
        runs, status = col(TrainingRunStatusCountRow.runs), col(TrainingRunStatusCountRow.status)
    else:
        counts = TrainingRunTrainerCountRow
        runs, status = col(counts.runs), col(counts.status)
        conditions.append(col(counts.trained_by_id) == _user_id(trainer))
    if statuses is not None:
        conditions.append(status.in_(statuses))
    return sa_select(func.coalesce(func.sum(runs), 0).label("runs")).where(*conditions)


def counts_are_kept(run_filter: TrainingRunFilter) -> bool:
    """Whether the count rows the database keeps answer how many runs match `run_filter`:
    it filters on statuses and the trainer, or on nothing."""
    uncounted = (
        run_filter.model_version,
        run_filter.dataset_id,
        run_filter.run_date_from,
        run_filter.run_date_to,
        run_filter.min_accuracy,
    )
    return all(value is None for value in uncounted)


def kept_count_statement(run_filter: TrainingRunFilter) -> Any | None:
    """SELECT the number of runs matching `run_filter` from the count rows the database keeps
    (migration 0006: per status, and per trainer and status), or None when the filter uses
    more than statuses and the trainer. At most four rows are summed, whatever the runs."""
    if not counts_are_kept(run_filter):
        return None
    statuses = None if run_filter.statuses is None else sorted(run_filter.statuses)
    return _kept_count(statuses=statuses, trainer=run_filter.trained_by)


def count_statement(run_filter: TrainingRunFilter) -> Any:
    """SELECT the number of runs matching `run_filter` (one column, `runs`): from the kept
    counts when the filter allows, else a COUNT(*) of the matching rows."""
    kept = kept_count_statement(run_filter)
    if kept is not None:
        return kept
    return (
        sa_select(func.count().label("runs"))
        .select_from(TrainingRunRow)
        .where(*filter_conditions(run_filter))
    )


async def count_training_runs(session: AsyncSession, run_filter: TrainingRunFilter) -> int:
    """How many runs match `run_filter`."""
    return int((await session.exec(count_statement(run_filter))).one()[0])
