from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from trainql import domain
from trainql.schema.context import GraphQLContext
from trainql.schema.enums import DatasetTrainingStatus
from trainql.schema.loaders import UserByIdLoader, loader
from trainql.schema.permissions import ctx_of
from trainql.schema.users.types import UserType


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
