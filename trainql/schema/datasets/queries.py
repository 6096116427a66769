from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from trainql.domain import DatasetTrainingStatus
from trainql.resolvers import datasets
from trainql.resolvers.pagination import PageRequest
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.datasets.types import DatasetType
from trainql.schema.pagination import Connection, connection


@strawberry.type
class DatasetQueries:
    @strawberry.field(description="The owner, or anyone for an ownerless dataset.")
    async def dataset(self, info: Info[GraphQLContext, None], id: uuid.UUID) -> DatasetType | None:
        found = await datasets.get_dataset(ctx=resolver_context(info), dataset_id=id)
        return DatasetType.from_domain(found)

    @strawberry.field(
        description="The authenticated user's datasets, newest first. first: 1 to 100, default 20."
    )
    async def datasets(
        self,
        info: Info[GraphQLContext, None],
        training_status: DatasetTrainingStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[DatasetType]:
        page = await datasets.list_datasets(
            ctx=resolver_context(info),
            training_status=training_status,
            page=PageRequest(first=first, after=after),
        )
        return connection(page, DatasetType.from_domain)
