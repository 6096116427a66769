"""watch_training_run without a transport: checks before the stream, one event per status."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import Factory
from trainql.db import training_runs as run_store
from trainql.domain import TrainingRunStatus
from trainql.errors import AuthenticationError, NotFound, PermissionDenied
from trainql.resolvers.context import Context, Services
from trainql.resolvers.training_runs import watch_training_run

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
    events = await watch_training_run(
        ctx=Context(services=services, user=manager.user), run_id=run.id, poll_interval=POLL
    )

    async def move(status: TrainingRunStatus) -> None:
        await asyncio.sleep(POLL * 5)  # several polls see no change
        async with services.db.session() as session:
            await run_store.update_training_run(session, run_id=run.id, status=status.value)

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
