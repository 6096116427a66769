"""Fitting and evaluating the pipeline, without the service around it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from trainql.ml.default_dataset import default_dataset_source
from trainql.ml.generator import generate_future_skills
from trainql.ml.jobs import TrainingJob
from trainql.ml.model_store import load_model
from trainql.ml.training import evaluate, train
from trainql.training_request import Hyperparameters


def _job(path: Path, **overrides: object) -> TrainingJob:
    values: dict[str, object] = {
        "dataset_path": path,
        "dataset_display": path.name,
        "target_column": "future_need_level",
        "test_split": 0.2,
        "hyperparameters": Hyperparameters(n_estimators=10),
        "n_jobs": 1,
    }
    values.update(overrides)
    return TrainingJob(**values)  # type: ignore[arg-type]


def test_default_dataset_trains_well_but_not_perfectly(tmp_path: Path):
    result = train(_job(default_dataset_source(), model_path=tmp_path / "m.joblib"))
    assert 0.6 < result.accuracy < 1.0
    assert (result.total_samples, result.train_samples, result.test_samples) == (357, 285, 72)
    assert set(result.per_class_metrics) == {"LOW", "MEDIUM", "HIGH"}
    assert sum(m.support for m in result.per_class_metrics.values()) == 72
    assert result.confusion_matrix["labels"] == ["HIGH", "LOW", "MEDIUM"]
    assert sum(map(sum, result.confusion_matrix["matrix"])) == 72
    assert set(result.feature_importances) == set(result.features_used)
    assert sum(result.feature_importances.values()) == pytest.approx(1.0)
    assert len(result.features_used) == 11


def test_saved_model_predicts_rows_with_unseen_and_missing_categories(tmp_path: Path):
    path = tmp_path / "m.joblib"
    train(_job(default_dataset_source(), model_path=path))
    rows = generate_future_skills(3, seed=1).drop(columns=["future_need_level"])
    rows.loc[0, "skill_name"] = "Quantum Basket Weaving"
    rows.loc[1, "job_role_name"] = None
    rows.loc[2, "trend_score"] = None
    assert set(load_model(path).predict(rows)) <= {"LOW", "MEDIUM", "HIGH"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.joblib"]


def test_a_users_file_with_two_classes_and_numeric_labels_trains(tmp_path: Path):
    frame = generate_future_skills(120, seed=3)
    frame = frame[frame["future_need_level"] != "MEDIUM"]
    frame["future_need_level"] = (frame["future_need_level"] == "HIGH").astype(int)
    frame["flag"] = frame["trend_score"] > 50
    path = tmp_path / "own.csv"
    frame.to_csv(path, index=False)
    result = train(_job(path))
    assert set(result.per_class_metrics) == {"0", "1"}
    assert "flag" in result.features_used


def test_fitting_raises_on_a_value_too_large_for_the_forest(tmp_path: Path):
    frame = generate_future_skills(60)
    frame["avg_salary_k"] = frame["avg_salary_k"].astype(float)
    frame.loc[5, "avg_salary_k"] = 1e39  # finite as float64; the forest works in float32
    path = tmp_path / "huge.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="too large"):
        train(_job(path, model_path=tmp_path / "never.joblib"))
    assert not (tmp_path / "never.joblib").exists()


def test_rows_without_a_target_are_left_out(tmp_path: Path):
    frame = generate_future_skills(100)
    frame.loc[:9, "future_need_level"] = None
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    assert train(_job(path)).total_samples == 90
    assert pd.read_csv(path)["future_need_level"].isna().sum() == 10


LABELS = ["HIGH", "LOW", "MEDIUM", "NONE"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(LABELS[:3]), st.sampled_from(LABELS)), min_size=1, max_size=60
    )
)
def test_evaluate_agrees_with_scikit_learns_metric_functions(pairs: list[tuple[str, str]]):
    # "NONE" is a label never (or rarely) seen on one side: its zero divisions must give 0.
    y_true = pd.Series([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs], dtype=object)
    got = evaluate(y_true, y_pred, LABELS)
    weighted = precision_recall_fscore_support(
        y_true, y_pred, labels=LABELS, average="weighted", zero_division=0
    )
    per_p, per_r, per_f, per_s = precision_recall_fscore_support(
        y_true, y_pred, labels=LABELS, average=None, zero_division=0
    )
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert (got["precision"], got["recall"], got["f1_score"]) == pytest.approx(weighted[:3])
    for i, label in enumerate(LABELS):
        metrics = got["per_class_metrics"][label]
        assert metrics.precision == pytest.approx(per_p[i])
        assert metrics.recall == pytest.approx(per_r[i]) == pytest.approx(metrics.accuracy)
        assert metrics.f1_score == pytest.approx(per_f[i])
        assert metrics.support == per_s[i]
    assert got["confusion_matrix"] == {
        "labels": LABELS,
        "matrix": confusion_matrix(y_true, y_pred, labels=LABELS).tolist(),
    }


def test_evaluate_refuses_a_prediction_outside_the_labels():
    with pytest.raises(ValueError, match="labels outside"):
        evaluate(pd.Series(["LOW", "HIGH"]), np.array(["LOW", "SOMETHING"]), ["HIGH", "LOW"])
