from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from trainql import domain
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.loaders import UserByIdLoader, loader
from trainql.schema.training.types import TrainingRunType
from trainql.schema.users.types import UserType


async def _user(info: Info[GraphQLContext, None], user_id: int | None) -> UserType | None:
    if user_id is None:
        return None
    user = await loader(resolver_context(info), UserByIdLoader).load(user_id)
    return None if user is None else UserType.from_domain(user)


@strawberry.type(
    name="ModelAlias",
    description="A name for one COMPLETED run's model, the way teams promote a model "
    '("production", "staging"). Predictions by alias use the run it points at now.',
)
class ModelAliasType:
    alias: str
    training_run: TrainingRunType
    updated_at: datetime = strawberry.field(description="When it was last set.")
    updated_by_id: strawberry.Private[int | None]

    @strawberry.field(description="Who set it last; null when that user no longer exists.")
    async def updated_by(self, info: Info[GraphQLContext, None]) -> UserType | None:
        return await _user(info, self.updated_by_id)

    @classmethod
    def from_domain(cls, alias: domain.ModelAlias) -> ModelAliasType:
        return cls(
            alias=alias.alias,
            training_run=TrainingRunType.from_domain(alias.training_run),
            updated_at=alias.updated_at,
            updated_by_id=alias.updated_by_id,
        )


@strawberry.type(
    name="ModelAliasChange",
    description="One change of a model alias, as the log keeps it: created (no "
    "fromTrainingRunId), moved, or deleted (no toTrainingRunId). The log keeps ids, not "
    "links: it outlives the runs and users it names.",
)
class ModelAliasChangeType:
    id: strawberry.ID = strawberry.field(
        description="Grows with every change: pass the last one seen as `before` for older ones."
    )
    alias: str
    from_training_run_id: strawberry.ID | None = strawberry.field(
        description="The run the alias pointed at before; null when this change created it."
    )
    to_training_run_id: strawberry.ID | None = strawberry.field(
        description="The run it points at after; null when this change deleted it."
    )
    changed_at: datetime
    changed_by_id: strawberry.Private[int | None]

    @strawberry.field(description="Who made the change; null when that user no longer exists.")
    async def changed_by(self, info: Info[GraphQLContext, None]) -> UserType | None:
        return await _user(info, self.changed_by_id)

    @classmethod
    def from_domain(cls, change: domain.ModelAliasChange) -> ModelAliasChangeType:
        return cls(
            id=strawberry.ID(str(change.id)),
            alias=change.alias,
            from_training_run_id=_id(change.from_training_run_id),
            to_training_run_id=_id(change.to_training_run_id),
            changed_at=change.changed_at,
            changed_by_id=change.changed_by_id,
        )


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))
