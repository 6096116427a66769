"""One training: load, split, fit, evaluate, save. Pure: no HTTP, no database."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from trainql.domain import ClassMetrics
from trainql.ml import loading, model_store
from trainql.ml.jobs import TrainingJob, TrainingResult
from trainql.ml.pipeline import build_pipeline, split_feature_kinds


def evaluate(y_true: pd.Series, y_pred: np.ndarray[Any, Any], labels: list[str]) -> dict[str, Any]:
    """Accuracy, weighted precision/recall/F1, per-class metrics and the confusion matrix.

    A class's accuracy is the share of its test rows predicted correctly (its recall), as the
    old API reported it. Precision of a class never predicted is 0, not an error.
    """
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=0
    )
    per_p, per_r, per_f, per_s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    per_class = {
        label: ClassMetrics(
            accuracy=float(per_r[i]),
            precision=float(per_p[i]),
            recall=float(per_r[i]),
            f1_score=float(per_f[i]),
            support=int(per_s[i]),
        )
        for i, label in enumerate(labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1_score": float(f1),
        "per_class_metrics": per_class,
        "confusion_matrix": {"labels": labels, "matrix": matrix.astype(int).tolist()},
    }


def train(job: TrainingJob) -> TrainingResult:
    """Load the dataset, fit the pipeline on a stratified split, evaluate it on the rest and
    (when `job.model_path` is set) save it.

    Raises DatasetInvalid for a dataset that cannot be trained on, and whatever
    scikit-learn raises when fitting fails.
    """
    started = time.perf_counter()
    features, target = loading.load_training_frame(
        job.dataset_path,
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
        n_estimators=job.n_estimators,
        max_depth=job.max_depth,
        min_samples_split=job.min_samples_split,
        random_state=job.random_state,
        n_jobs=job.n_jobs,
    )
    pipeline.fit(x_train, y_train)
    fitted = time.perf_counter()
    labels = sorted(str(label) for label in target.unique())
    metrics = evaluate(y_test, pipeline.predict(x_test), labels)
    importances = pipeline.named_steps["forest"].feature_importances_
    duration = time.perf_counter() - started
    saved = None
    if job.model_path is not None:
        saved = model_store.save_model(pipeline, job.model_path)
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
        model_path=saved,
        timings={
            "load_seconds": loaded - started,
            "fit_seconds": fitted - loaded,
            "evaluate_seconds": started + duration - fitted,
            "save_seconds": time.perf_counter() - started - duration,
        },
    )
