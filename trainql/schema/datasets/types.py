from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from trainql import domain
from trainql.resolvers import datasets as dataset_resolvers
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.enums import DatasetTrainingStatus
from trainql.schema.loaders import (
    DatasetRunsPage,
    TrainingRunsByDatasetLoader,
    UserByIdLoader,
    loader,
)
from trainql.schema.pagination import Connection, connection
from trainql.schema.users.types import UserType

if TYPE_CHECKING:
    from trainql.schema.training.types import TrainingRunType

# TrainingRun.dataset and Dataset.trainingRuns refer to each other: resolved lazily.
LazyTrainingRun = Annotated["TrainingRunType", strawberry.lazy("trainql.schema.training.types")]


@strawberry.type(name="Dataset")
class DatasetType:
    id: uuid.UUID
    name: str
    training_status: DatasetTrainingStatus
    row_count: int | None
    columns: list[str]
    created_at: datetime
    updated_at: datetime
    owner_id: strawberry.Private[int | None]

    @strawberry.field(
        description="Runs trained on this dataset, newest first (HR_STAFF or MANAGER). "
        "first: 1 to 100, default 20."
    )
    async def training_runs(
        self, info: Info[GraphQLContext, None], first: int | None = 20, after: str | None = None
    ) -> Connection[LazyTrainingRun]:
        from trainql.schema.training.types import TrainingRunType

        # Through the request's loader: a page of datasets reads all their runs in one batch.
        page = await loader(resolver_context(info), TrainingRunsByDatasetLoader).load(
            DatasetRunsPage(dataset_id=self.id, first=first, after=after)
        )
        return connection(page, TrainingRunType.from_domain)

    @strawberry.field(description="Null for a dataset created anonymously.")
    async def owner(self, info: Info[GraphQLContext, None]) -> UserType | None:
        if self.owner_id is None:
            return None
        user = await loader(resolver_context(info), UserByIdLoader).load(self.owner_id)
        return None if user is None else UserType.from_domain(user)

    @classmethod
    def from_domain(cls, dataset: domain.Dataset) -> DatasetType:
        return cls(
            id=dataset.id,
            name=dataset.name,
            training_status=dataset.training_status,
            row_count=dataset.row_count,
            columns=list(dataset.columns),
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
            owner_id=dataset.owner_id,
        )


@strawberry.type(name="SetTrainingStatusPayload")
class SetTrainingStatusPayload:
    success: bool
    dataset_id: uuid.UUID
    training_status: DatasetTrainingStatus
    message: str
    dataset: DatasetType

    @classmethod
    def from_change(cls, change: dataset_resolvers.StatusChange) -> SetTrainingStatusPayload:
        return cls(
            success=True,
            dataset_id=change.dataset.id,
            training_status=change.dataset.training_status,
            message=change.message,
            dataset=DatasetType.from_domain(change.dataset),
        )
