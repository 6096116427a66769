from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from trainql import domain
from trainql.resolvers.predictions import PredictionResult
from trainql.schema.enums import FeatureKind

if TYPE_CHECKING:
    from trainql.schema.training.types import TrainingRunType


@strawberry.type(name="FeatureColumn")
class FeatureColumnType:
    name: str
    kind: FeatureKind
    categories: list[str] | None = strawberry.field(
        description="For a categorical column, the categories seen in training (any other "
        "value is predicted as an unknown category); null for a numeric one."
    )

    @classmethod
    def from_domain(cls, column: domain.FeatureColumn) -> FeatureColumnType:
        return cls(
            name=column.name,
            kind=column.kind,
            categories=None if column.categories is None else list(column.categories),
        )


@strawberry.type(name="ClassProbability")
class ClassProbabilityType:
    label: str
    probability: float


@strawberry.type(name="Prediction")
class PredictionType:
    label: str = strawberry.field(description="The predicted class.")
    probabilities: list[ClassProbabilityType] = strawberry.field(
        description="One per class, in the model's class order; they sum to 1."
    )


@strawberry.type(name="PredictionResult")
class PredictionResultType:
    # Lazy: TrainingRun's inputSchema field uses FeatureColumn from this module.
    training_run: Annotated[TrainingRunType, strawberry.lazy("trainql.schema.training.types")] = (
        strawberry.field(description="The run whose model predicted.")
    )
    predictions: list[PredictionType] = strawberry.field(description="One per row, in order.")
    ignored_columns: list[str] = strawberry.field(
        description="Keys of the rows that are not input columns of the model (not used)."
    )

    @classmethod
    def from_domain(cls, result: PredictionResult) -> PredictionResultType:
        from trainql.schema.training.types import TrainingRunType

        classes = result.prediction.classes
        return cls(
            training_run=TrainingRunType.from_domain(result.run),
            predictions=[
                PredictionType(
                    label=label,
                    probabilities=[
                        ClassProbabilityType(label=c, probability=p)
                        for c, p in zip(classes, probabilities, strict=True)
                    ],
                )
                for label, probabilities in zip(
                    result.prediction.labels, result.prediction.probabilities, strict=True
                )
            ],
            ignored_columns=result.ignored_columns,
        )
