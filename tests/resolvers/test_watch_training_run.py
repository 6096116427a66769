"""watch_training_run without a transport: checks before the stream, one event per status."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import Factory
from tests.statements import on_every_statement
from trainql.db import training_runs as run_store
from trainql.domain import TrainingRunStatus
from trainql.errors import AuthenticationError, NotFound, PermissionDenied
from trainql.resolvers.context import Context
from trainql.resolvers.training_runs import watch_training_run
from trainql.services import Services

POLL = 0.02


async def test_refusals_come_before_the_stream(services: Services, factory: Factory):
    run = await factory.training_run(status="QUEUED", accuracy=None)
    plain = await factory.account("pat")
    manager = await factory.manager()

    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        await watch_training_run(ctx=Context(services=services), run_id=run.id)
    with pytest.raises(PermissionDenied, match="Required role: HR_STAFF or MANAGER"):
        await watch_training_run(ctx=Context(services=services, user=plain.user), run_id=run.id)
    for unknown in (run.id + 1000, "0", "abc"):
        with pytest.raises(NotFound, match=r"^Not found\.$"):
            await watch_training_run(
                ctx=Context(services=services, user=manager.user), run_id=unknown
            )


async def test_each_status_change_once_then_the_stream_ends(services: Services, factory: Factory):
    # given
    manager = await factory.manager()
    run = await factory.training_run(status="QUEUED", accuracy=None)
    fast = Services.create(
        services.settings.model_copy(update={"subscription_poll_interval_s": POLL}),
        db=services.db,
    )
    events = await watch_training_run(ctx=Context(services=fast, user=manager.user), run_id=run.id)

    async def move(status: TrainingRunStatus) -> None:
        await asyncio.sleep(POLL * 5)  # several polls see no change
        async with services.db.session() as session:
            await run_store.set_training_run_status(session, run_id=run.id, status=status)

    # when
    seen = []
    async for event in events:
        seen.append(event.status)
        if event.status == TrainingRunStatus.QUEUED:
            await move(TrainingRunStatus.RUNNING)
        elif event.status == TrainingRunStatus.RUNNING:
            await move(TrainingRunStatus.FAILED)

    # then
    assert seen == [TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING, TrainingRunStatus.FAILED]
    await fast.run_statuses.stop()


async def test_one_query_per_poll_for_many_watchers(services: Services, factory: Factory):
    """However many subscriptions wait, each interval costs one statement."""

    manager = await factory.manager()
    fast = Services.create(
        services.settings.model_copy(update={"subscription_poll_interval_s": POLL}),
        db=services.db,
    )
    runs = [await factory.training_run(status="QUEUED", accuracy=None) for _ in range(20)]
    ctx = Context(services=fast, user=manager.user)
    streams = [await watch_training_run(ctx=ctx, run_id=run.id) for run in runs]
    for stream in streams:
        assert (await anext(stream)).status == TrainingRunStatus.QUEUED
    waiting = [asyncio.ensure_future(anext(stream)) for stream in streams]

    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with on_every_statement(services, count):
        await asyncio.sleep(POLL * 10)
    polls = [s for s in statements if "training_runs.status" in s]
    # about ten intervals passed: ten-ish polls, not twenty watchers times ten
    assert 3 <= len(polls) <= 15, len(polls)
    assert not any(task.done() for task in waiting)

    # a change reaches its watcher only
    async with services.db.session() as session:
        await run_store.set_training_run_status(
            session, run_id=runs[3].id, status=TrainingRunStatus.RUNNING
        )
    moved = await asyncio.wait_for(waiting[3], 5)
    assert moved.id == runs[3].id
    assert moved.status == TrainingRunStatus.RUNNING
    assert [task.done() for task in waiting].count(True) == 1
    for task in waiting:
        task.cancel()
    await fast.run_statuses.stop()
