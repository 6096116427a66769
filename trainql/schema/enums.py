"""GraphQL enums, exposed from the domain enums (GraphQL uses the member names).

strawberry.enum() registers the GraphQL definition on the domain class itself, so types
annotate fields with the domain enums and import this module for the registration.
"""

from typing import TYPE_CHECKING

import strawberry

from trainql import domain

if TYPE_CHECKING:
    from trainql.domain import (
        DatasetTrainingStatus,
        FeatureKind,
        OrderDirection,
        Role,
        TrainingRunOrderField,
        TrainingRunStatus,
    )
else:
    Role = strawberry.enum(domain.Role, name="Role")
    TrainingRunStatus = strawberry.enum(domain.TrainingRunStatus, name="TrainingRunStatus")
    DatasetTrainingStatus = strawberry.enum(
        domain.DatasetTrainingStatus, name="DatasetTrainingStatus"
    )

    FeatureKind = strawberry.enum(domain.FeatureKind, name="FeatureKind")
    OrderDirection = strawberry.enum(domain.OrderDirection, name="OrderDirection")
    TrainingRunOrderField = strawberry.enum(
        domain.TrainingRunOrderField, name="TrainingRunOrderField"
    )

__all__ = [
    "DatasetTrainingStatus",
    "FeatureKind",
    "OrderDirection",
    "Role",
    "TrainingRunOrderField",
    "TrainingRunStatus",
]
