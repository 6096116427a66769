from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import training_runs
from trainql.schema.context import GraphQLContext
from trainql.schema.permissions import ctx_of
from trainql.schema.training.types import TrainingRunType


@strawberry.type
class TrainingRunQueries:
    @strawberry.field(
        description="HR_STAFF or MANAGER. Null, with a NOT_FOUND error, when no such run."
    )
    async def training_run(
        self, info: Info[GraphQLContext, None], id: strawberry.ID
    ) -> TrainingRunType | None:
        run = await training_runs.get_training_run(ctx=ctx_of(info), run_id=id)
        return TrainingRunType.from_domain(run)
