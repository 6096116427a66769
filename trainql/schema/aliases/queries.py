from __future__ import annotations

import strawberry
from strawberry.types import Info

from trainql.resolvers import model_aliases
from trainql.schema.aliases.types import ModelAliasChangeType, ModelAliasType
from trainql.schema.context import GraphQLContext, resolver_context


@strawberry.type
class ModelAliasQueries:
    @strawberry.field(description="Every model alias with its run, by name. HR_STAFF or MANAGER.")
    async def model_aliases(self, info: Info[GraphQLContext, None]) -> list[ModelAliasType]:
        found = await model_aliases.list_model_aliases(ctx=resolver_context(info))
        return [ModelAliasType.from_domain(alias) for alias in found]

    @strawberry.field(
        description="The log of model alias changes, newest first: who changed which alias "
        "when, from which run to which. `alias`: only that alias's (deleted aliases too; "
        "null: every alias). first: 1 to 100, default 20; `before`: only changes older than "
        "the change with that id (the next page). HR_STAFF or MANAGER."
    )
    async def model_alias_changes(
        self,
        info: Info[GraphQLContext, None],
        alias: str | None = None,
        first: int | None = None,
        before: strawberry.ID | None = None,
    ) -> list[ModelAliasChangeType]:
        found = await model_aliases.list_model_alias_changes(
            ctx=resolver_context(info), alias=alias, first=first, before=before
        )
        return [ModelAliasChangeType.from_domain(change) for change in found]
