from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import training
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.training.inputs import TrainModelInput
from trainql.schema.training.types import TrainingRunType
from trainql.training_request import GRAPHQL_NAMES


@strawberry.type(name="TrainModelPayload")
class TrainModelPayload:
    training_run: TrainingRunType
    message: str


@strawberry.type
class TrainingMutations:
    @strawberry.mutation(
        description="HR_STAFF only. Trains a model and records the run; a training error "
        "returns the run FAILED with its errorMessage."
    )
    async def train_model(
        self, info: Info[GraphQLContext, None], input: TrainModelInput | None = None
    ) -> TrainModelPayload:
        result = await training.train_model(
            ctx=resolver_context(info),
            fields=None if input is None else input.request_fields(),
            names=GRAPHQL_NAMES,
        )
        return TrainModelPayload(
            training_run=TrainingRunType.from_domain(result.run), message=result.message
        )
