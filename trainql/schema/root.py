"""Root Query / Mutation / Subscription composed from the domain folders, and the schema object."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from trainql.config import Settings
from trainql.db.persisted_queries import PersistedQueryStore
from trainql.schema.aliases.mutations import ModelAliasMutations
from trainql.schema.aliases.queries import ModelAliasQueries
from trainql.schema.datasets.mutations import DatasetMutations
from trainql.schema.datasets.queries import DatasetQueries
from trainql.schema.document_cache import document_cache_extensions
from trainql.schema.errors import ErrorMapping, TrainqlSchema
from trainql.schema.execution import TrainqlExecutionContext
from trainql.schema.limits import limit_extensions
from trainql.schema.persisted_queries import AutomaticPersistedQueries
from trainql.schema.predictions.queries import PredictionQueries
from trainql.schema.training.mutations import TrainingMutations
from trainql.schema.training.queries import TrainingRunQueries
from trainql.schema.training.subscriptions import TrainingRunSubscriptions
from trainql.schema.users.mutations import UserMutations
from trainql.schema.users.queries import UserQueries

QUERY_TYPES: tuple[type, ...] = (
    UserQueries,
    TrainingRunQueries,
    DatasetQueries,
    PredictionQueries,
    ModelAliasQueries,
)
MUTATION_TYPES: tuple[type, ...] = (
    UserMutations,
    TrainingMutations,
    DatasetMutations,
    ModelAliasMutations,
)
SUBSCRIPTION_TYPES: tuple[type, ...] = (TrainingRunSubscriptions,)

Query = merge_types("Query", QUERY_TYPES)
Mutation = merge_types("Mutation", MUTATION_TYPES)
Subscription = merge_types("Subscription", SUBSCRIPTION_TYPES)


def build_schema(
    settings: Settings | None = None, *, persisted_queries: PersistedQueryStore | None = None
) -> TrainqlSchema:
    """The schema as an app serves it: the settings' limits and batch size, and APQ on
    `persisted_queries`. Without settings: no limits, no batching (printing, plain tests)."""
    extensions: list[Callable[[], SchemaExtension]] = []
    if persisted_queries is not None:
        # First: its refusals happen before any other extension is entered.
        extensions.append(partial(AutomaticPersistedQueries, persisted_queries))
    extensions.append(ErrorMapping)
    config = StrawberryConfig()
    if settings is not None:
        # After ErrorMapping, so their errors are coded before it maps the rest.
        extensions.extend(limit_extensions(settings))
        extensions.extend(document_cache_extensions())
        if settings.graphql_max_batch > 0:
            config = StrawberryConfig(
                batching_config={"max_operations": settings.graphql_max_batch}
            )
    return TrainqlSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=config,
        execution_context_class=TrainqlExecutionContext,
        # The contract declares the JSON scalar (PredictInput.rows takes it); declared here
        # too, so it is in the schema whichever fields use it.
        types=[JSON],
    )


# The default instance: what `trainql schema` prints and the schema file test compares.
schema = build_schema()
