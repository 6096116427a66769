from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from trainql.resolvers.predictions import ModelSelector
from trainql.schema.input_plans import plan_inputs


@strawberry.input(
    name="PredictInput", description="Exactly one of trainingRunId, modelVersion and alias."
)
class PredictInput:
    rows: list[JSON] = strawberry.field(
        description="Objects of column values: every input column of the model (null for a "
        "missing value); other keys are ignored. At most TRAINQL_PREDICT_MAX_ROWS (default "
        "10,000)."
    )
    training_run_id: strawberry.ID | None = strawberry.field(
        default=None, description="A COMPLETED run's id."
    )
    model_version: str | None = strawberry.field(
        default=None, description="A COMPLETED run's model version."
    )
    alias: str | None = strawberry.field(
        default=None, description="A model alias (it names one COMPLETED run)."
    )

    def selector(self) -> ModelSelector:
        return ModelSelector(
            training_run_id=self.training_run_id,
            model_version=self.model_version,
            alias=self.alias,
        )


# Every prediction converts it (schema/input_plans.py).
plan_inputs(PredictInput)
