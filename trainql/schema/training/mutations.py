from __future__ import annotations

import strawberry
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from trainql.errors import InvalidInput
from trainql.resolvers import training
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.training.inputs import TrainModelInput, as_request
from trainql.schema.training.types import TrainingRunType


@strawberry.type(name="TrainModelPayload")
class TrainModelPayload:
    training_run: TrainingRunType
    message: str


def _graphql_names(error: InvalidInput) -> InvalidInput:
    """The same errors, with fields named as in the GraphQL input (testSplit, ...)."""
    fields = {
        ".".join(to_camel_case(part) for part in name.split(".")): messages
        for name, messages in error.fields.items()
    }
    return InvalidInput(training.invalid_message(fields), fields=fields)


@strawberry.type
class TrainingMutations:
    @strawberry.mutation(
        description="HR_STAFF only. Trains a model and records the run; a training error "
        "returns the run FAILED with its errorMessage."
    )
    async def train_model(
        self, info: Info[GraphQLContext, None], input: TrainModelInput | None = None
    ) -> TrainModelPayload:
        try:
            result = await training.train_model(
                ctx=resolver_context(info), request=as_request(input)
            )
        except InvalidInput as exc:
            raise _graphql_names(exc) from exc
        return TrainModelPayload(
            training_run=TrainingRunType.from_domain(result.run), message=result.message
        )
