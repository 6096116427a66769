from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from trainql import domain
from trainql.schema.enums import OrderDirection, TrainingRunOrderField, TrainingRunStatus


@strawberry.input(name="HyperparametersInput")
class HyperparametersInput:
    n_estimators: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 1000; default 100."
    )
    max_depth: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 100, or null for unlimited; default null."
    )
    min_samples_split: int | None = strawberry.field(
        default=strawberry.UNSET, description="2 or more; default 2."
    )


@strawberry.input(name="TrainModelInput")
class TrainModelInput:
    dataset_path: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Relative to the service's data root; default "
        "ml/data/future_skills_dataset.csv.",
    )
    dataset_id: uuid.UUID | None = strawberry.field(
        default=strawberry.UNSET, description="Train on an uploaded dataset instead of a path."
    )
    test_split: float | None = strawberry.field(default=0.2, description="0.1 to 0.5; default 0.2.")
    target_column: str | None = "future_need_level"
    hyperparameters: HyperparametersInput | None = strawberry.UNSET
    model_version: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Letters, digits, '.', '_' and '-'; default api_v<timestamp>; unique.",
    )
    notes: str | None = ""
    background: bool | None = strawberry.field(
        default=False,
        description="Return at once with the run QUEUED instead of waiting for the result.",
    )


def _given(obj: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: getattr(obj, name) for name in names if getattr(obj, name) is not strawberry.UNSET
    }


def as_request(value: TrainModelInput | None) -> dict[str, Any]:
    """The input as the resolver's snake_case request (fields left out stay out)."""
    if value is None:
        return {}
    request = _given(
        value,
        (
            "dataset_path",
            "dataset_id",
            "test_split",
            "target_column",
            "model_version",
            "notes",
            "background",
        ),
    )
    hyper = value.hyperparameters
    if hyper is not None and hyper is not strawberry.UNSET:
        request["hyperparameters"] = _given(
            hyper, ("n_estimators", "max_depth", "min_samples_split")
        )
    return request


@strawberry.input(name="TrainingRunFilter")
class TrainingRunFilterInput:
    status: list[TrainingRunStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    trained_by: str | None = strawberry.field(default=None, description="The trainer's username.")
    model_version: str | None = None
    dataset_id: uuid.UUID | None = None
    run_date_from: datetime | None = strawberry.field(
        default=None, description="Inclusive; a date-time without offset is UTC."
    )
    run_date_to: datetime | None = strawberry.field(
        default=None, description="Exclusive; a date-time without offset is UTC."
    )
    min_accuracy: float | None = strawberry.field(
        default=None, description="0 to 1; leaves out runs without an accuracy."
    )

    def to_domain(self) -> domain.TrainingRunFilter:
        return domain.TrainingRunFilter(
            statuses=None if self.status is None else frozenset(self.status),
            trained_by=self.trained_by,
            model_version=self.model_version,
            dataset_id=self.dataset_id,
            run_date_from=self.run_date_from,
            run_date_to=self.run_date_to,
            min_accuracy=self.min_accuracy,
        )


@strawberry.input(
    name="TrainingRunOrder",
    description="Ties are broken by id. Runs without the metric come last in DESC, first in ASC.",
)
class TrainingRunOrderInput:
    field: TrainingRunOrderField = domain.TrainingRunOrderField.RUN_DATE
    direction: OrderDirection = domain.OrderDirection.DESC

    def to_domain(self) -> domain.TrainingRunOrder:
        return domain.TrainingRunOrder(field=self.field, direction=self.direction)
