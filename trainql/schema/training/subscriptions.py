from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
from strawberry.types import Info

from trainql.domain import TrainingRun
from trainql.resolvers import training_runs
from trainql.resolvers.context import Context
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.training.types import TrainingRunType


async def _as_types(
    ctx: Context, runs: AsyncIterator[TrainingRun]
) -> AsyncGenerator[TrainingRunType, None]:
    async for run in runs:
        # A WebSocket's context lives as long as the connection: without this, each event
        # would show the trainer and dataset as the connection's first event loaded them.
        ctx.loaders.clear()
        yield TrainingRunType.from_domain(run)


@strawberry.type
class TrainingRunSubscriptions:
    @strawberry.subscription(
        description="Emits the run on every status change, then completes once it is "
        "COMPLETED or FAILED."
    )
    async def training_run_updated(
        self, info: Info[GraphQLContext, None], id: strawberry.ID
    ) -> AsyncGenerator[TrainingRunType, None]:
        # Not itself a generator: permission and NOT_FOUND errors are raised here, before the
        # stream starts, so graphql-transport-ws answers them with an `error` message.
        ctx = resolver_context(info)
        runs = await training_runs.watch_training_run(ctx=ctx, run_id=id)
        return _as_types(ctx, runs)
