"""One training: load, split, fit, evaluate, save. Pure: no HTTP, no database."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from trainql.domain import ClassMetrics, FeatureColumn, FeatureKind
from trainql.ml import loading, model_store
from trainql.ml.jobs import TrainingJob, TrainingResult
from trainql.ml.pipeline import build_pipeline, split_feature_kinds


def evaluate(y_true: pd.Series, y_pred: np.ndarray[Any, Any], labels: list[str]) -> dict[str, Any]:
    """Accuracy, weighted precision/recall/F1, per-class metrics and the confusion matrix.

    A class's accuracy is the share of its test rows predicted correctly (its recall), as the
    old API reported it. Precision of a class never predicted is 0, not an error (and so is
    any other ratio with nothing to divide by, as scikit-learn's zero_division=0 has it).

    Every number comes from one confusion matrix counted over label codes: scikit-learn's
    metric functions would each re-encode the string labels, which at a million rows took
    longer than predicting them.
    """
    index = pd.Index(labels)
    true_codes = index.get_indexer(y_true).astype(np.int64)
    pred_codes = index.get_indexer(y_pred).astype(np.int64)
    if (true_codes < 0).any() or (pred_codes < 0).any():
        raise ValueError(f"labels outside {labels} in the test split or the predictions")
    k = len(labels)
    matrix = np.bincount(true_codes * k + pred_codes, minlength=k * k).reshape(k, k)
    hits = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)
    weights = support / support.sum()
    per_class = {
        label: ClassMetrics(
            accuracy=float(recall[i]),
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1_score=float(f1[i]),
            support=int(support[i]),
        )
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": float(hits.sum() / support.sum()),
        "precision": float(precision @ weights),
        "recall": float(recall @ weights),
        "f1_score": float(f1 @ weights),
        "per_class_metrics": per_class,
        "confusion_matrix": {"labels": labels, "matrix": matrix.astype(int).tolist()},
    }


def _ratio(numerator: NDArray[Any], denominator: NDArray[Any]) -> NDArray[Any]:
    """numerator / denominator, 0 where the denominator is 0."""
    out = np.zeros(len(numerator), dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


@contextlib.contextmanager
def _forest_backend(job: TrainingJob, *, rows: int) -> Iterator[None]:
    """Where the forest's trees are built: this process's threads, or (a split fit, for a
    large enough training split, on a cluster of two workers or more) joblib's Dask backend,
    which sends batches of trees to the cluster's workers. The trees are the same either
    way: each one's seed is drawn before any is built. Only the forest (n_jobs=-1) follows
    the backend; the encoders (n_jobs unset) stay sequential here."""
    split = job.split_fit
    if split is None or rows < split.min_rows:
        yield
        return
    import joblib
    from distributed import Client

    with Client(split.scheduler, set_as_default=False, timeout=30) as client:
        if len(client.scheduler_info(n_workers=-1)["workers"]) < 2:
            # One worker: shipping the data and the trees to it and back only costs time.
            yield
            return
        with joblib.parallel_config(backend="dask", client=client):
            yield


def fitted_input_schema(
    pipeline: Any, *, categorical: list[str], numeric: list[str]
) -> tuple[FeatureColumn, ...]:
    """The input columns of a fitted pipeline in its order (categoricals, then numerics),
    each categorical with the categories its encoder saw in the training split, as text
    (a missing value is not a category)."""
    encoder = pipeline.named_steps["encode"].named_transformers_.get("categorical")
    seen = [] if encoder is None or not categorical else encoder.categories_
    columns = [
        FeatureColumn(
            name=name,
            kind=FeatureKind.CATEGORICAL,
            categories=tuple(str(c) for c in categories if not pd.isna(c)),
        )
        for name, categories in zip(categorical, seen, strict=True)
    ]
    columns += [FeatureColumn(name=name, kind=FeatureKind.NUMERIC) for name in numeric]
    return tuple(columns)


def train(job: TrainingJob) -> TrainingResult:
    """Load the dataset, fit the pipeline on a stratified split, evaluate it on the rest and
    (when `job.model_path` is set) save it.

    Raises DatasetInvalid for a dataset that cannot be trained on, and whatever
    scikit-learn raises when fitting fails.
    """
    started = time.perf_counter()
    features, target = loading.load_training_frame(
        str(job.dataset_path),
        display=job.dataset_display,
        target_column=job.target_column,
        test_split=job.test_split,
    )
    loaded = time.perf_counter()
    x_train, x_test, y_train, y_test = train_test_split(
        features,
        target,
        test_size=job.test_split,
        stratify=target,
        random_state=job.random_state,
    )
    categorical, numeric = split_feature_kinds(features)
    pipeline = build_pipeline(
        categorical=categorical,
        numeric=numeric,
        hyperparameters=job.hyperparameters,
        random_state=job.random_state,
        n_jobs=job.n_jobs,
    )
    with _forest_backend(job, rows=len(y_train)):
        pipeline.fit(x_train, y_train)
    fitted = time.perf_counter()
    labels = sorted(str(label) for label in target.unique())
    metrics = evaluate(y_test, pipeline.predict(x_test), labels)
    importances = pipeline.named_steps["forest"].feature_importances_
    duration = time.perf_counter() - started
    saved = None
    if job.model_path is not None:
        saved = model_store.save_model(pipeline, str(job.model_path))
    input_schema = fitted_input_schema(pipeline, categorical=categorical, numeric=numeric)
    return TrainingResult(
        **metrics,
        features_used=[str(c) for c in features.columns],
        feature_importances={
            name: float(value)
            for name, value in zip(categorical + numeric, importances, strict=True)
        },
        total_samples=len(target),
        train_samples=len(y_train),
        test_samples=len(y_test),
        training_duration_seconds=duration,
        model_path=None if saved is None else saved.location,
        model_sha256=None if saved is None else saved.sha256,
        input_schema=input_schema,
        timings={
            "load_seconds": loaded - started,
            "fit_seconds": fitted - loaded,
            "evaluate_seconds": started + duration - fitted,
            "save_seconds": time.perf_counter() - started - duration,
        },
    )
