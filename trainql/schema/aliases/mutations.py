from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import model_aliases
from trainql.schema.aliases.types import ModelAliasType
from trainql.schema.context import GraphQLContext, resolver_context


@strawberry.type
class ModelAliasMutations:
    @strawberry.mutation(
        description="Point `alias` at a COMPLETED run whose model file is present, creating "
        "the alias or moving it there atomically (a prediction by alias uses the old model or "
        "the new one, never a mix), and log the change. Alias names: 1 to 64 of A-Z a-z 0-9 "
        "'.' '_' '-', starting with a letter or digit. HR_STAFF only."
    )
    async def set_model_alias(
        self, info: Info[GraphQLContext, None], alias: str, training_run_id: strawberry.ID
    ) -> ModelAliasType:
        found = await model_aliases.set_model_alias(
            ctx=resolver_context(info), alias=alias, training_run_id=training_run_id
        )
        return ModelAliasType.from_domain(found)

    @strawberry.mutation(
        description="Delete `alias` and log it: true when it was deleted, false when there "
        "was no such alias (nothing changes then). HR_STAFF only."
    )
    async def delete_model_alias(self, info: Info[GraphQLContext, None], alias: str) -> bool:
        return await model_aliases.delete_model_alias(ctx=resolver_context(info), alias=alias)
