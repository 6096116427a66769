from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import predictions
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.predictions.inputs import PredictInput
from trainql.schema.predictions.types import PredictionResultType


@strawberry.type
class PredictionQueries:
    @strawberry.field(
        description="HR_STAFF or MANAGER. The predicted label and each class's probability "
        "for every row, with the model of the run chosen by id, model version or alias."
    )
    async def predict(
        self, info: Info[GraphQLContext, None], input: PredictInput
    ) -> PredictionResultType:
        result = await predictions.predict(
            ctx=resolver_context(info), selector=input.selector(), rows=input.rows
        )
        return PredictionResultType.from_domain(result)
