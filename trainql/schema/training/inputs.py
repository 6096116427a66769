from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

import strawberry

from trainql import domain
from trainql.schema.enums import OrderDirection, TrainingRunOrderField, TrainingRunStatus
from trainql.schema.input_plans import plan_inputs
from trainql.training_request import Hyperparameters, TrainRequest, describe


# Fields and descriptions come from TrainRequest, which holds the bounds and defaults; a test
# checks that these inputs have exactly its fields. Fields left out of a request stay UNSET
# (the resolver applies the defaults); the ones shown with a default show TrainRequest's.
@strawberry.input(name="HyperparametersInput")
class HyperparametersInput:
    n_estimators: int | None = strawberry.field(
        default=strawberry.UNSET, description=describe("n_estimators", Hyperparameters)
    )
    max_depth: int | None = strawberry.field(
        default=strawberry.UNSET, description=describe("max_depth", Hyperparameters)
    )
    min_samples_split: int | None = strawberry.field(
        default=strawberry.UNSET, description=describe("min_samples_split", Hyperparameters)
    )


@strawberry.input(name="TrainModelInput")
class TrainModelInput:
    dataset_path: str | None = strawberry.field(
        default=strawberry.UNSET, description=describe("dataset_path")
    )
    dataset_id: uuid.UUID | None = strawberry.field(
        default=strawberry.UNSET, description=describe("dataset_id")
    )
    test_split: float | None = strawberry.field(
        default=TrainRequest.default_of("test_split"), description=describe("test_split")
    )
    target_column: str | None = strawberry.field(
        default=TrainRequest.default_of("target_column"), description=describe("target_column")
    )
    hyperparameters: HyperparametersInput | None = strawberry.UNSET
    model_version: str | None = strawberry.field(
        default=strawberry.UNSET, description=describe("model_version")
    )
    notes: str | None = strawberry.field(
        default=TrainRequest.default_of("notes"), description=describe("notes")
    )
    background: bool | None = strawberry.field(
        default=TrainRequest.default_of("background"), description=describe("background")
    )

    def request_fields(self) -> dict[str, Any]:
        """The fields the client gave (snake_case, as TrainRequest names them)."""
        given = _given(self)
        if isinstance(self.hyperparameters, HyperparametersInput):
            given["hyperparameters"] = _given(self.hyperparameters)
        return given


def _given(value: TrainModelInput | HyperparametersInput) -> dict[str, Any]:
    return {
        item.name: found
        for item in dataclasses.fields(value)
        if (found := getattr(value, item.name)) is not strawberry.UNSET
    }


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


# Every page request converts these two (schema/input_plans.py).
plan_inputs(TrainingRunFilterInput, TrainingRunOrderInput)
