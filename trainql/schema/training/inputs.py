from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from trainql import domain
from trainql.schema.enums import OrderDirection, TrainingRunOrderField, TrainingRunStatus


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
