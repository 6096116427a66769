from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from trainql import domain
from trainql.resolvers import datasets as dataset_resolvers
from trainql.resolvers import training_runs as run_resolvers
from trainql.resolvers.pagination import PageRequest
from trainql.schema.context import GraphQLContext
from trainql.schema.enums import DatasetTrainingStatus
from trainql.schema.loaders import UserByIdLoader, loader
from trainql.schema.pagination import (
    Connection,
    PageInfo,
    connection,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from trainql.schema.permissions import ctx_of
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

        page = await run_resolvers.list_training_runs(
            ctx=ctx_of(info),
            run_filter=domain.TrainingRunFilter(dataset_id=self.id),
            page=PageRequest(first=first, after=after),
        )
        return connection(page, TrainingRunType.from_domain)

    @strawberry.field(description="Null for a dataset created anonymously.")
    async def owner(self, info: Info[GraphQLContext, None]) -> UserType | None:
        if self.owner_id is None:
            return None
        user = await loader(ctx_of(info), UserByIdLoader).load(self.owner_id)
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


def dataset_cursor(dataset: domain.Dataset) -> str:
    """The cursor of a dataset in the datasets list: its (created_at, id) keyset."""
    return encode_cursor([dataset.created_at.isoformat(), str(dataset.id)])


def dataset_position(cursor: str) -> dataset_resolvers.DatasetPosition:
    """The keyset position a `dataset_cursor` encodes; BAD_USER_INPUT for anything else."""
    created_at, dataset_id = decode_cursor(cursor, length=2)
    try:
        position = dataset_resolvers.DatasetPosition(
            created_at=datetime.fromisoformat(created_at), id=uuid.UUID(dataset_id)
        )
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if position.created_at.tzinfo is None:
        raise invalid_cursor()
    return position


@strawberry.type(name="DatasetEdge")
class DatasetEdge:
    cursor: str
    node: DatasetType


@strawberry.type(name="DatasetConnection")
class DatasetConnection:
    edges: list[DatasetEdge]
    page_info: PageInfo
    training_status: strawberry.Private[domain.DatasetTrainingStatus | None]

    @strawberry.field
    def nodes(self) -> list[DatasetType]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Counted only when asked for.")
    async def total_count(self, info: Info[GraphQLContext, None]) -> int:
        return await dataset_resolvers.count_datasets(
            ctx=ctx_of(info), training_status=self.training_status
        )

    @classmethod
    def from_page(
        cls,
        page: dataset_resolvers.DatasetPage,
        *,
        after: str | None,
        training_status: domain.DatasetTrainingStatus | None,
    ) -> DatasetConnection:
        edges = [
            DatasetEdge(cursor=dataset_cursor(d), node=DatasetType.from_domain(d))
            for d in page.datasets
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                # Forward-only pagination: a page reached with a cursor has one before it.
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            training_status=training_status,
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
