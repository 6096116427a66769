from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, cast, overload

import strawberry

from trainql import domain
from trainql.ml.serving import RowsPrediction
from trainql.resolvers.predictions import PredictionResult
from trainql.schema.enums import FeatureKind
from trainql.schema.execution import TYPENAME, Selection, keyed_template

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


class PredictionList(Sequence[PredictionType]):
    """The `predictions` of a PredictionResult: RowsPrediction's columns, completed in one
    pass for the fields of Prediction and ClassProbability (schema/execution.py); iterated,
    one PredictionType per row (what graphql-core's general completion reads)."""

    def __init__(self, prediction: RowsPrediction) -> None:
        self._prediction = prediction

    def __len__(self) -> int:
        return len(self._prediction.labels)

    @overload
    def __getitem__(self, index: int) -> PredictionType: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PredictionType]: ...
    def __getitem__(self, index: int | slice) -> PredictionType | Sequence[PredictionType]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        classes = self._prediction.classes
        return PredictionType(
            label=self._prediction.labels[index],
            probabilities=[
                ClassProbabilityType(label=c, probability=p)
                for c, p in zip(classes, self._prediction.probabilities[index], strict=True)
            ],
        )

    def complete(self, selection: Selection) -> list[dict[str, Any]] | None:
        """Each row's Prediction as graphql-core completes it for `selection`; None if the
        selection holds a field this does not know."""
        label_keys: list[str] = []
        # Per `probabilities` selection: its key, one template per class, probability keys.
        nested: list[tuple[str, list[dict[str, Any]], list[str]]] = []
        for field in selection.fields:
            if field.name == "label":
                label_keys.append(field.key)
            elif field.name == "probabilities" and field.selection is not None:
                inner = field.selection
                if any(f.name not in {"label", "probability", TYPENAME} for f in inner.fields):
                    return None
                templates = [keyed_template(inner, {"label": c}) for c in self._prediction.classes]
                keys = [f.key for f in inner.fields if f.name == "probability"]
                nested.append((field.key, templates, keys))
            elif field.name != TYPENAME:
                return None
        row_template = keyed_template(selection, {})
        completed = []
        for label, probabilities in zip(
            self._prediction.labels, self._prediction.probabilities, strict=True
        ):
            row = row_template.copy()
            for key in label_keys:
                row[key] = label
            for key, templates, probability_keys in nested:
                items = []
                for template, probability in zip(templates, probabilities, strict=True):
                    item = template.copy()
                    for probability_key in probability_keys:
                        item[probability_key] = probability
                    items.append(item)
                row[key] = items
            completed.append(row)
        return completed


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

        return cls(
            training_run=TrainingRunType.from_domain(result.run),
            # A Sequence standing in for the list: it completes itself (PredictionList).
            predictions=cast(list[PredictionType], PredictionList(result.prediction)),
            ignored_columns=result.ignored_columns,
        )
