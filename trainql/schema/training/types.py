from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeAlias, TypeVar

import strawberry
from strawberry.types import Info

from trainql import domain
from trainql.schema.context import GraphQLContext, resolver_context
from trainql.schema.datasets.types import DatasetType
from trainql.schema.enums import TrainingRunStatus
from trainql.schema.loaders import (
    DatasetByIdLoader,
    TrainingRunDetailsByIdLoader,
    loader,
)
from trainql.schema.predictions.types import FeatureColumnType
from trainql.schema.users.types import UserType
from trainql.training_request import Hyperparameters

T = TypeVar("T")
# A detail field's value: at once for a run read with its details, else through the loader.
Detail: TypeAlias = T | Awaitable[T]


@strawberry.type(name="Hyperparameters")
class HyperparametersType:
    n_estimators: int
    max_depth: int | None = strawberry.field(description="Null means unlimited depth.")
    min_samples_split: int


@strawberry.type(name="ClassMetrics")
class ClassMetricsType:
    label: str
    accuracy: float
    precision: float
    recall: float
    f1_score: float
    support: int


@strawberry.type(name="Metrics")
class MetricsType:
    accuracy: float
    precision: float
    recall: float
    f1_score: float
    training_duration_seconds: float


@strawberry.type(name="FeatureImportance")
class FeatureImportanceType:
    feature: str
    importance: float


@strawberry.type(name="ConfusionMatrix")
class ConfusionMatrixType:
    labels: list[str] = strawberry.field(description="Row and column order of `matrix`.")
    matrix: list[list[int]] = strawberry.field(
        description="matrix[i][j]: test samples of class labels[i] predicted as labels[j]."
    )


@strawberry.type(name="TrainingRun")
class TrainingRunType:
    id: strawberry.ID = strawberry.field(
        description="The same integer id the REST routes use, as a string."
    )
    run_date: datetime
    model_version: str
    model_path: str | None
    dataset_path: str
    status: TrainingRunStatus
    error_message: str | None
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1_score: float | None
    training_duration_seconds: float | None
    total_samples: int | None
    train_samples: int | None
    test_samples: int | None
    test_split: float
    random_state: int
    target_column: str
    attempt: int = strawberry.field(
        description="How many executions have claimed this run: 1 for the first; a run "
        "whose worker was lost is retried as the next attempt (up to "
        "TRAINQL_TRAINING_MAX_ATTEMPTS). 0 while it waits for its first."
    )
    worker: str | None = strawberry.field(
        description="Who runs it (RUNNING) or ran its last attempt (COMPLETED, FAILED): a "
        "Dask worker's address and pid, or the API process's host and pid; null while "
        "QUEUED."
    )

    # The details are fields with resolvers: a run from a list page comes without them, and
    # they are then read for the whole page in one batch, only when a client selects one.
    # Not `async def`: a run read with its details answers with a plain value, and only a run
    # without them hands graphql-core an awaitable (`graphql_type` names the field's type,
    # since the annotation says "a value or an awaitable of it").
    @strawberry.field(graphql_type=HyperparametersType)
    def hyperparameters(self, info: Info[GraphQLContext, None]) -> Detail[HyperparametersType]:
        return self._from_details(info, self._hyperparameters)

    @strawberry.field(graphql_type=list[ClassMetricsType])
    def per_class_metrics(self, info: Info[GraphQLContext, None]) -> Detail[list[ClassMetricsType]]:
        return self._from_details(info, _per_class_metrics)

    @strawberry.field(graphql_type=list[str])
    def features_used(self, info: Info[GraphQLContext, None]) -> Detail[list[str]]:
        return self._from_details(info, lambda details: list(details.features_used))

    @strawberry.field(
        graphql_type=list[FeatureImportanceType],
        description="Mean decrease in impurity per input feature, largest first.",
    )
    def feature_importances(
        self, info: Info[GraphQLContext, None]
    ) -> Detail[list[FeatureImportanceType]]:
        return self._from_details(info, _feature_importances)

    @strawberry.field(
        graphql_type=ConfusionMatrixType | None,
        description="On the test split; null until the run has COMPLETED.",
    )
    def confusion_matrix(
        self, info: Info[GraphQLContext, None]
    ) -> Detail[ConfusionMatrixType | None]:
        return self._from_details(info, _confusion_matrix)

    @strawberry.field(
        graphql_type=list[FeatureColumnType] | None,
        description="The model's input columns in order, each with its kind and, for a "
        "categorical one, the categories seen in training: what `predict` rows hold. Null "
        "unless COMPLETED (and for runs trained before input schemas were recorded).",
    )
    def input_schema(
        self, info: Info[GraphQLContext, None]
    ) -> Detail[list[FeatureColumnType] | None]:
        if self.status != domain.TrainingRunStatus.COMPLETED:
            return None
        return self._from_details(info, _input_schema)

    notes: str
    trainer: strawberry.Private[domain.User | None]
    dataset_id: strawberry.Private[object | None]
    n_estimators: strawberry.Private[int]
    details: strawberry.Private[domain.TrainingRunDetails | None]

    def _from_details(
        self,
        info: Info[GraphQLContext, None],
        convert: Callable[[domain.TrainingRunDetails], T],
    ) -> Detail[T]:
        if self.details is not None:
            return convert(self.details)
        return self._load_details(info, convert)

    async def _load_details(
        self,
        info: Info[GraphQLContext, None],
        convert: Callable[[domain.TrainingRunDetails], T],
    ) -> T:
        details = await loader(resolver_context(info), TrainingRunDetailsByIdLoader).load(
            int(self.id)
        )
        # Runs are never deleted, so a run on a page still has its row.
        return convert(details or domain.TrainingRunDetails())

    def _hyperparameters(self, details: domain.TrainingRunDetails) -> HyperparametersType:
        # A hyperparameter a run did not record (an older run) shows the request's default.
        stored = {"n_estimators": self.n_estimators, **details.hyperparameters}
        hp = Hyperparameters.model_construct(
            **{name: stored[name] for name in Hyperparameters.model_fields if name in stored}
        )
        return HyperparametersType(
            n_estimators=hp.n_estimators,
            max_depth=hp.max_depth,
            min_samples_split=hp.min_samples_split,
        )

    @strawberry.field(description="Null until the run has COMPLETED.")
    def metrics(self) -> MetricsType | None:
        if self.status != domain.TrainingRunStatus.COMPLETED or self.accuracy is None:
            return None
        return MetricsType(
            accuracy=self.accuracy,
            precision=self.precision or 0.0,
            recall=self.recall or 0.0,
            f1_score=self.f1_score or 0.0,
            training_duration_seconds=self.training_duration_seconds or 0.0,
        )

    @strawberry.field
    def trained_by(self) -> UserType | None:
        # Every read of a run reads its trainer in the same statement (db/training_runs.py),
        # so this is a plain value: no loader, no awaitable per row.
        return None if self.trainer is None else UserType.from_domain(self.trainer)

    @strawberry.field
    async def dataset(self, info: Info[GraphQLContext, None]) -> DatasetType | None:
        if self.dataset_id is None:
            return None
        found = await loader(resolver_context(info), DatasetByIdLoader).load(self.dataset_id)  # type: ignore[arg-type]
        return None if found is None else DatasetType.from_domain(found)

    @classmethod
    def from_domain(cls, run: domain.TrainingRun) -> TrainingRunType:
        return cls(
            id=strawberry.ID(str(run.id)),
            run_date=run.run_date,
            model_version=run.model_version,
            model_path=run.model_path,
            dataset_path=run.dataset_path,
            status=run.status,
            error_message=run.error_message,
            accuracy=run.accuracy,
            precision=run.precision,
            recall=run.recall,
            f1_score=run.f1_score,
            training_duration_seconds=run.training_duration_seconds,
            total_samples=run.total_samples,
            train_samples=run.train_samples,
            test_samples=run.test_samples,
            test_split=run.test_split,
            random_state=run.random_state,
            target_column=run.target_column,
            attempt=run.attempt,
            worker=run.worker,
            notes=run.notes,
            trainer=run.trained_by,
            dataset_id=run.dataset_id,
            n_estimators=run.n_estimators,
            details=run.details,
        )


def _per_class_metrics(details: domain.TrainingRunDetails) -> list[ClassMetricsType]:
    return [
        ClassMetricsType(
            label=label,
            accuracy=m.accuracy,
            precision=m.precision,
            recall=m.recall,
            f1_score=m.f1_score,
            support=m.support,
        )
        for label, m in details.per_class_metrics.items()
    ]


def _feature_importances(details: domain.TrainingRunDetails) -> list[FeatureImportanceType]:
    return [
        FeatureImportanceType(feature=name, importance=value)
        for name, value in sorted(details.feature_importances.items(), key=lambda item: -item[1])
    ]


def _input_schema(details: domain.TrainingRunDetails) -> list[FeatureColumnType] | None:
    if details.input_schema is None:
        return None
    return [FeatureColumnType.from_domain(column) for column in details.input_schema]


def _confusion_matrix(details: domain.TrainingRunDetails) -> ConfusionMatrixType | None:
    matrix = details.confusion_matrix
    if not matrix:
        return None
    return ConfusionMatrixType(
        labels=list(matrix["labels"]), matrix=[list(map(int, row)) for row in matrix["matrix"]]
    )
