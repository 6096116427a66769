from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.types import Info

from trainql import domain
from trainql.schema.context import GraphQLContext
from trainql.schema.datasets.types import DatasetType
from trainql.schema.enums import TrainingRunStatus
from trainql.schema.loaders import DatasetByIdLoader, UserByIdLoader, loader
from trainql.schema.permissions import ctx_of
from trainql.schema.users.types import UserType


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
    hyperparameters: HyperparametersType
    per_class_metrics: list[ClassMetricsType]
    features_used: list[str]
    feature_importances: list[FeatureImportanceType] = strawberry.field(
        description="Mean decrease in impurity per input feature, largest first."
    )
    confusion_matrix: ConfusionMatrixType | None = strawberry.field(
        description="On the test split; null until the run has COMPLETED."
    )
    notes: str
    trained_by_id: strawberry.Private[int | None]
    trainer: strawberry.Private[domain.User | None]
    dataset_id: strawberry.Private[object | None]

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
    def trained_by(self, info: Info[GraphQLContext, None]) -> UserType | None:
        # Not `async def`: lists read the trainer with the run, and a plain value spares
        # graphql-core an awaitable per row. Runs read without it (a mutation's result) go
        # through the request's dataloader, and an awaitable result is awaited all the same.
        if self.trainer is not None:
            return UserType.from_domain(self.trainer)
        if self.trained_by_id is None:
            return None
        return cast(UserType | None, self._load_trainer(info, self.trained_by_id))

    @staticmethod
    async def _load_trainer(info: Info[GraphQLContext, None], user_id: int) -> UserType | None:
        user = await loader(ctx_of(info), UserByIdLoader).load(user_id)
        return None if user is None else UserType.from_domain(user)

    @strawberry.field
    async def dataset(self, info: Info[GraphQLContext, None]) -> DatasetType | None:
        if self.dataset_id is None:
            return None
        found = await loader(ctx_of(info), DatasetByIdLoader).load(self.dataset_id)  # type: ignore[arg-type]
        return None if found is None else DatasetType.from_domain(found)

    @classmethod
    def from_domain(cls, run: domain.TrainingRun) -> TrainingRunType:
        hp = run.hyperparameters
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
            hyperparameters=HyperparametersType(
                n_estimators=int(hp.get("n_estimators", run.n_estimators)),
                max_depth=hp.get("max_depth"),
                min_samples_split=int(hp.get("min_samples_split", 2)),
            ),
            per_class_metrics=[
                ClassMetricsType(
                    label=label,
                    accuracy=m.accuracy,
                    precision=m.precision,
                    recall=m.recall,
                    f1_score=m.f1_score,
                    support=m.support,
                )
                for label, m in run.per_class_metrics.items()
            ],
            features_used=list(run.features_used),
            feature_importances=[
                FeatureImportanceType(feature=name, importance=value)
                for name, value in sorted(
                    run.feature_importances.items(), key=lambda item: -item[1]
                )
            ],
            confusion_matrix=(
                ConfusionMatrixType(
                    labels=list(run.confusion_matrix["labels"]),
                    matrix=[list(map(int, row)) for row in run.confusion_matrix["matrix"]],
                )
                if run.confusion_matrix
                else None
            ),
            notes=run.notes,
            trained_by_id=run.trained_by_id,
            trainer=run.trained_by,
            dataset_id=run.dataset_id,
        )
