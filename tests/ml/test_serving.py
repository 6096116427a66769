"""The serving engine without the service: a trained pipeline converted to ONNX predicts what
scikit-learn predicts, refuses a file whose bytes changed, validates rows; the model cache
bounds its bytes, loads once for concurrent callers and notices a changed file."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from trainql.domain import FeatureKind
from trainql.errors import InvalidInput, ModelUnavailable
from trainql.ml import loading, serving
from trainql.ml.default_dataset import default_dataset_source
from trainql.ml.jobs import TrainingJob, TrainingResult
from trainql.ml.model_cache import ModelCache, ModelKey
from trainql.ml.model_store import load_model
from trainql.ml.training import train
from trainql.training_request import Hyperparameters

# Measured: labels equal on every test row; probabilities within 1e-6 (float32 sums of the
# trees' votes against scikit-learn's float64 ones; 4.2e-7 at most on the default dataset).
PROBABILITY_TOLERANCE = 1e-6


def _train(
    dataset: Path, model: Path, *, target: str = "future_need_level", trees: int = 30
) -> TrainingResult:
    return train(
        TrainingJob(
            dataset_path=dataset,
            dataset_display=dataset.name,
            target_column=target,
            test_split=0.2,
            hyperparameters=Hyperparameters(n_estimators=trees),
            model_path=model,
            n_jobs=1,
        )
    )


def _test_split(dataset: Path, target: str = "future_need_level") -> pd.DataFrame:
    """The test split of a training of `dataset` (the same split train() makes)."""
    features, labels = loading.load_training_frame(
        dataset, display=dataset.name, target_column=target, test_split=0.2
    )
    _x_train, x_test, _y_train, _y_test = train_test_split(
        features, labels, test_size=0.2, stratify=labels, random_state=42
    )
    return x_test


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them: NaN is null."""
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def _load(result: TrainingResult, model: Path) -> serving.ServingModel:
    assert result.model_sha256 is not None and result.input_schema is not None
    return serving.load_serving_model(
        str(model), sha256=result.model_sha256, columns=result.input_schema, display="run 1"
    )


def _assert_same_as_pipeline(
    engine: serving.ServingModel, pipeline: Any, rows: list[dict[str, Any]]
) -> None:
    got = engine.predict_rows(rows)
    frame = pd.DataFrame(rows)
    assert list(got.classes) == [str(c) for c in pipeline.classes_]
    assert got.labels == [str(label) for label in pipeline.predict(frame)]
    difference = np.abs(np.asarray(got.probabilities) - pipeline.predict_proba(frame)).max()
    assert difference < PROBABILITY_TOLERANCE


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainingResult, Path]:
    model = tmp_path_factory.mktemp("models") / "m.joblib"
    return _train(default_dataset_source(), model), model


def test_the_recorded_digest_and_input_schema_describe_the_written_model(trained):
    result, model = trained
    assert result.model_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert result.input_schema is not None
    kinds = {c.name: c.kind for c in result.input_schema}
    assert [c.name for c in result.input_schema] == [
        "job_role_name",
        "skill_name",
        "skill_category",
        "job_department",
        "trend_score",
        "internal_usage",
        "training_requests",
        "scarcity_index",
        "hiring_difficulty",
        "avg_salary_k",
        "economic_indicator",
    ]
    assert kinds["skill_name"] == FeatureKind.CATEGORICAL
    assert kinds["trend_score"] == FeatureKind.NUMERIC
    encoder = load_model(model).named_steps["encode"].named_transformers_["categorical"]
    assert result.input_schema[0].categories == tuple(encoder.categories_[0])
    assert result.input_schema[4].categories is None


def test_onnx_predictions_equal_the_pipelines_on_the_test_split(trained):
    result, model = trained
    engine = _load(result, model)
    rows = _rows(_test_split(default_dataset_source()))
    assert len(rows) == 72
    _assert_same_as_pipeline(engine, load_model(model), rows)


def test_a_large_batch_split_across_threads_predicts_the_same_in_order(
    trained, monkeypatch: pytest.MonkeyPatch
):
    # given: three prediction threads, and 3,213 distinct rows (the whole default table, nine
    # times, each time with other trend scores): three parts of uneven size
    result, model = trained
    engine = _load(result, model)
    monkeypatch.setattr(serving, "_CORES", 3)
    table = pd.read_csv(default_dataset_source()).drop(columns=["future_need_level"])
    frame = pd.concat(
        [table.assign(trend_score=table["trend_score"] + 7.5 * k) for k in range(9)],
        ignore_index=True,
    )
    rows = _rows(frame)
    assert serving._parallel_parts(len(rows)) == 3
    # then
    _assert_same_as_pipeline(engine, load_model(model), rows)


def test_unseen_categories_and_missing_values_are_predicted_as_the_pipeline_does(
    tmp_path: Path,
):
    # given: a training set with missing values in a categorical and a numeric column
    frame = pd.read_csv(default_dataset_source())
    frame.loc[::7, "skill_name"] = np.nan
    frame.loc[::5, "trend_score"] = np.nan
    dataset = tmp_path / "holes.csv"
    frame.to_csv(dataset, index=False)
    result = _train(dataset, tmp_path / "m.joblib")
    engine = _load(result, tmp_path / "m.joblib")
    pipeline = load_model(tmp_path / "m.joblib")
    rows = _rows(_test_split(dataset))
    # when: unseen categories, missing values where training had some and where it had none,
    # a literal "nan" text, and numbers and booleans in a categorical column
    rows[0]["skill_name"] = "Quantum Basket Weaving"
    rows[1]["skill_name"] = None
    rows[2]["job_role_name"] = None  # training saw no missing job role
    rows[3]["trend_score"] = None
    rows[4]["internal_usage"] = None
    rows[5]["skill_category"] = "nan"
    rows[6]["job_department"] = 7
    # then
    _assert_same_as_pipeline(engine, pipeline, rows)


def test_a_dataset_with_another_target_and_a_boolean_feature_predicts_the_same(tmp_path: Path):
    frame = pd.read_csv(default_dataset_source())
    frame["remote"] = frame["trend_score"] > 50
    dataset = tmp_path / "other.csv"
    frame.to_csv(dataset, index=False)
    result = _train(dataset, tmp_path / "m.joblib", target="skill_category")
    engine = _load(result, tmp_path / "m.joblib")
    assert {c.name: c.categories for c in result.input_schema or ()}["remote"] == (
        "False",
        "True",
    )
    rows = _rows(_test_split(dataset, "skill_category"))
    _assert_same_as_pipeline(engine, load_model(tmp_path / "m.joblib"), rows)


def test_a_model_file_whose_bytes_changed_is_refused_and_never_unpickled(tmp_path: Path):
    # given: the recorded digest of a real model, and the file replaced by a pickle that
    # would leave a marker if it were ever loaded
    model = tmp_path / "m.joblib"
    result = _train(default_dataset_source(), model, trees=5)
    marker = tmp_path / "unpickled"
    model.write_bytes(pickle.dumps(_Marker(str(marker))))
    # when / then
    with pytest.raises(ModelUnavailable, match="model file of run 1 changed since it was trained"):
        _load(result, model)
    assert not marker.exists()


class _Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


def test_a_vanished_model_file_is_refused(tmp_path: Path):
    model = tmp_path / "m.joblib"
    result = _train(default_dataset_source(), model, trees=5)
    model.unlink()
    with pytest.raises(ModelUnavailable, match="model file of run 1 is gone"):
        _load(result, model)


def test_rows_are_checked_against_the_input_schema_naming_row_and_column(trained):
    result, model = trained
    engine = _load(result, model)
    good = _rows(_test_split(default_dataset_source()).head(3))
    missing = [dict(good[0]), {k: v for k, v in good[1].items() if k != "skill_name"}]
    with pytest.raises(InvalidInput, match="Row 1 has no value for column 'skill_name'") as info:
        engine.predict_rows(missing)
    assert info.value.fields == {
        "rows[1].skill_name": [
            "Row 1 has no value for column 'skill_name' (give null for a missing value)."
        ]
    }
    text = [dict(good[0], trend_score="high")]
    with pytest.raises(
        InvalidInput, match="Row 0, column 'trend_score': expected a number or null, got 'high'"
    ):
        engine.predict_rows(text)
    for wrong in (True, float("inf"), 1e39, 10**400, [1]):
        with pytest.raises(InvalidInput, match="Row 0, column 'internal_usage'"):
            engine.predict_rows([dict(good[0], internal_usage=wrong)])
    with pytest.raises(InvalidInput, match="Row 0, column 'skill_name': expected text"):
        engine.predict_rows([dict(good[0], skill_name={"a": 1})])


def test_many_bad_values_are_all_counted_and_the_first_twenty_named_in_order(trained):
    # given: 50 rows; a list in one categorical cell, text in every other numeric cell of a
    # later column, and one row lacking that column
    result, model = trained
    engine = _load(result, model)
    rows = _rows(_test_split(default_dataset_source()).head(50))
    rows[7]["skill_name"] = [1]
    for i in range(0, 50, 2):
        rows[i]["trend_score"] = "high"
    del rows[5]["trend_score"]
    # when
    with pytest.raises(InvalidInput) as info:
        engine.predict_rows(rows)
    # then: column by column, rows in order within a column; 27 problems, 20 listed
    assert str(info.value) == (
        "Row 7, column 'skill_name': expected text, a number, a boolean or null, got [1]. "
        "(27 problems in all)"
    )
    bad_scores = sorted([*range(0, 50, 2), 5])
    assert list(info.value.fields) == ["rows[7].skill_name"] + [
        f"rows[{i}].trend_score" for i in bad_scores[:19]
    ]
    assert info.value.fields["rows[5].trend_score"] == [
        "Row 5 has no value for column 'trend_score' (give null for a missing value)."
    ]
    assert info.value.fields["rows[4].trend_score"] == [
        "Row 4, column 'trend_score': expected a number or null, got 'high'."
    ]


def test_csv_chunks_name_the_line_and_column_of_a_bad_value(trained, tmp_path: Path):
    result, _model = trained
    assert result.input_schema is not None
    frame = pd.read_csv(default_dataset_source()).head(30)
    frame["trend_score"] = frame["trend_score"].astype(object)
    frame.loc[25, "trend_score"] = "lots"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with (
        path.open("rb") as handle,
        pytest.raises(InvalidInput, match="Line 27, column 'trend_score': expected a finite"),
    ):
        list(serving.csv_chunks(handle, result.input_schema, chunk_rows=10))


def test_a_csv_answer_is_what_pandas_writes_for_the_same_columns():
    # given: cells that need quoting, missing cells, text that reads as missing, and
    # probabilities that print in exponent form
    cells = ["a", "b,c", 'say "hi"', "two\nlines", "é ü", "", "nan", " pad ", "\\", "1.50"]
    rows = [
        {
            "cat": cells[i % len(cells)],
            "odd, name": cells[(3 * i) % len(cells)],
            # as in a file predicted before and sent again: overwritten in its place
            "probability_é": "0.5",
        }
        for i in range(40)
    ]
    chunk = pd.read_csv(
        io.StringIO(pd.DataFrame(rows).to_csv(index=False)), dtype=str, keep_default_na=True
    )
    probabilities = np.random.default_rng(1).dirichlet([0.3, 1.0, 1.0], len(chunk))
    probabilities[:3] = [[1.0, 0.0, 0.0], [1e-05, 0.5, 0.49999], [5e-324, 1e-300, 1.0]]
    classes = ("HIGH", 'we"ird,class', "é")
    prediction = serving.RowsPrediction(
        classes=classes,
        labels=[classes[i % 3] for i in range(len(chunk))],
        probabilities=probabilities.tolist(),
    )
    expected = chunk.copy()
    expected["predicted_need, level"] = prediction.labels
    for j, label in enumerate(classes):
        expected[f"probability_{label}"] = probabilities[:, j]
    # when
    written = {
        header: serving.predictions_csv(
            chunk, prediction, target_column="need, level", header=header
        )
        for header in (True, False)
    }
    # then
    for header, text in written.items():
        assert text == expected.to_csv(index=False, header=header).encode()
    assert pd.read_csv(io.BytesIO(written[False]), header=None).shape == (len(chunk), 6)
    assert written[True].startswith(
        'cat,"odd, name",probability_é,"predicted_need, level",probability_HIGH,'.encode()
    )


# The cache -------------------------------------------------------------------------------------


def _loader(result: TrainingResult, model: Path, calls: list[int], gate: threading.Event | None):
    def load() -> serving.ServingModel:
        calls.append(1)
        if gate is not None:
            gate.wait(10)
        return _load(result, model)

    return load


async def test_concurrent_first_requests_load_a_model_once(trained):
    result, model = trained
    settled: list[int] = []
    cache = ModelCache(max_bytes=512 * 1024 * 1024, after_load=lambda: settled.append(1))
    calls: list[int] = []
    gate = threading.Event()
    key = ModelKey(1, result.model_sha256 or "")
    load = _loader(result, model, calls, gate)
    waiting = [asyncio.create_task(cache.get(key, str(model), load)) for _ in range(8)]
    await asyncio.sleep(0.2)  # every caller is waiting while the first load is held
    gate.set()
    models = await asyncio.gather(*waiting)
    assert len(calls) == 1
    assert cache.stats().loads == 1
    assert settled == [1]  # the served process settles its heap once per load
    assert all(m is models[0] for m in models)
    # and a later call is a hit
    assert await cache.get(key, str(model), load) is models[0]
    assert (cache.stats().loads, cache.stats().hits) == (1, 1)


async def test_the_cache_evicts_the_least_recently_used_beyond_its_bytes(tmp_path: Path):
    # given: three models, and a cache with room for two
    models = []
    for i in range(3):
        path = tmp_path / f"m{i}.joblib"
        models.append((_train(default_dataset_source(), path, trees=10), path))
    sizes = [_load(r, p).nbytes for r, p in models]
    cache = ModelCache(max_bytes=max(sizes) * 2 + min(sizes) // 2)
    calls: list[int] = []

    async def get(i: int) -> serving.ServingModel:
        result, path = models[i]
        key = ModelKey(i, result.model_sha256 or "")
        return await cache.get(key, str(path), _loader(result, path, calls, None))

    # when: 0, 1, 0 again (now the most recent), then 2
    await get(0)
    await get(1)
    await get(0)
    await get(2)
    # then: 1 went, 0 and 2 stayed, within the bound
    stats = cache.stats()
    assert (stats.loads, stats.evictions, stats.models) == (3, 1, 2)
    assert stats.bytes <= stats.max_bytes
    assert ModelKey(1, models[1][0].model_sha256 or "") not in cache
    await get(0)
    assert cache.stats().loads == 3
    await get(1)
    assert cache.stats().loads == 4


async def test_a_changed_or_vanished_model_file_is_noticed_by_the_cache(trained, tmp_path: Path):
    result, original = trained
    model = tmp_path / "m.joblib"
    model.write_bytes(original.read_bytes())
    cache = ModelCache(max_bytes=512 * 1024 * 1024)
    key = ModelKey(1, result.model_sha256 or "")
    load = _loader(result, model, [], None)
    await cache.get(key, str(model), load)
    # changed (another model's bytes in its place): the entry is dropped, the load refuses
    model.write_bytes(original.read_bytes() + b"\0")
    with pytest.raises(ModelUnavailable, match="changed since it was trained"):
        await cache.get(key, str(model), load)
    assert cache.stats().invalidations == 1
    assert key not in cache
    # restored: served again; then vanished: refused
    model.write_bytes(original.read_bytes())
    os.utime(model, ns=(1, 1))
    await cache.get(key, str(model), load)
    model.unlink()
    with pytest.raises(ModelUnavailable, match="is gone"):
        await cache.get(key, str(model), load)
