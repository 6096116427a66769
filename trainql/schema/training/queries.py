from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import training_runs
from trainql.resolvers.pagination import PageRequest
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.pagination import Connection, connection
from trainql.schema.training.inputs import TrainingRunFilterInput, TrainingRunOrderInput
from trainql.schema.training.types import TrainingRunType


@strawberry.type
class TrainingRunQueries:
    @strawberry.field(
        description="HR_STAFF or MANAGER. Null, with a NOT_FOUND error, when no such run."
    )
    async def training_run(
        self, info: Info[GraphQLContext, None], id: strawberry.ID
    ) -> TrainingRunType | None:
        run = await training_runs.get_training_run(ctx=resolver_context(info), run_id=id)
        return TrainingRunType.from_domain(run)

    @strawberry.field(description="HR_STAFF or MANAGER. first: 1 to 100, default 20.")
    async def training_runs(
        self,
        info: Info[GraphQLContext, None],
        *,
        filter: TrainingRunFilterInput | None = None,
        order_by: TrainingRunOrderInput | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TrainingRunType]:
        page = await training_runs.list_training_runs(
            ctx=resolver_context(info),
            run_filter=None if filter is None else filter.to_domain(),
            order=None if order_by is None else order_by.to_domain(),
            page=PageRequest(first=first, after=after, last=last, before=before),
        )
        return connection(page, TrainingRunType.from_domain)
