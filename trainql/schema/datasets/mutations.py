from __future__ import annotations

import uuid

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from trainql.domain import DatasetTrainingStatus
from trainql.resolvers import datasets
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.datasets.types import DatasetType, SetTrainingStatusPayload


@strawberry.type
class DatasetMutations:
    @strawberry.mutation(
        description="Upload a UTF-8 CSV (header row, at least one data row) as a GraphQL "
        "multipart request, with an Apollo-Require-Preflight or X-Apollo-Operation-Name "
        "header. Anonymous callers create ownerless datasets."
    )
    async def create_dataset(
        self, info: Info[GraphQLContext, None], name: str, file: Upload
    ) -> DatasetType:
        created = await datasets.create_dataset(ctx=resolver_context(info), name=name, file=file)  # type: ignore[arg-type]
        return DatasetType.from_domain(created)

    @strawberry.mutation(description="The owner, or anyone for an ownerless dataset.")
    async def set_training_status(
        self,
        info: Info[GraphQLContext, None],
        dataset_id: uuid.UUID,
        training_status: DatasetTrainingStatus,
    ) -> SetTrainingStatusPayload:
        change = await datasets.set_training_status(
            ctx=resolver_context(info), dataset_id=dataset_id, training_status=training_status
        )
        return SetTrainingStatusPayload.from_change(change)
