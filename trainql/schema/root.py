"""Root Query / Mutation composed from the domain folders, and the schema object."""

from __future__ import annotations

from strawberry.tools import merge_types

from trainql.schema.datasets.mutations import DatasetMutations
from trainql.schema.datasets.queries import DatasetQueries
from trainql.schema.errors import ErrorMapping, TrainqlSchema
from trainql.schema.training.mutations import TrainingMutations
from trainql.schema.training.queries import TrainingRunQueries
from trainql.schema.users.mutations import UserMutations
from trainql.schema.users.queries import UserQueries

QUERY_TYPES: tuple[type, ...] = (UserQueries, TrainingRunQueries, DatasetQueries)
MUTATION_TYPES: tuple[type, ...] = (UserMutations, TrainingMutations, DatasetMutations)

Query = merge_types("Query", QUERY_TYPES)
Mutation = merge_types("Mutation", MUTATION_TYPES)

schema = TrainqlSchema(query=Query, mutation=Mutation, extensions=[ErrorMapping])
