"""Serving a fitted pipeline: load it safely, convert it to ONNX, predict rows. No HTTP, no
database.

A model is loaded from the one location its run names, and only when the file's bytes still
have the SHA-256 recorded when it was written (ml/model_store.save_model): a file that was
replaced or tampered with is refused before joblib (pickle) sees a byte of it. The fitted
scikit-learn pipeline is then converted to ONNX (skl2onnx) and only the onnxruntime session
is kept: one row costs a fraction of a millisecond there, against tens of milliseconds for
scikit-learn's own predict_proba (README "Predictions").

The ONNX graph takes one input per column: text for categoricals (the encoder's categories
are compared as text), 32-bit floats for numerics (scikit-learn's trees compare in float32
too, so the splits fall the same way). What the graph cannot express is handled here, before
it runs, so that its answers equal the pipeline's:

- a missing categorical value is sent as the text "nan", which the converted encoder maps to
  the pipeline's code for missing values (or to "unknown" when training saw none, as the
  pipeline does); a value that is literally the text "nan" is sent as a text no training
  category can be, so it stays an unknown category, as the pipeline has it;
- a missing numeric value is NaN, which the converted imputer replaces by the median;
- rows are validated against the model's input schema first: a missing column, or a value of
  the wrong kind, is InvalidInput naming the row and the column.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import math
import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trainql.domain import FeatureColumn, FeatureKind
from trainql.errors import InvalidInput, ModelUnavailable
from trainql.ml.model_store import sha256_of
from trainql.storage_root import filesystem, is_local, open_for_reading

if TYPE_CHECKING:
    import pandas as pd

# What the converted encoder reads as a missing value (skl2onnx keys categories by str(), and
# str(nan) is "nan").
MISSING_TEXT = "nan"
# Sent for a value that is literally "nan": no category read from a CSV can be this text.
LITERAL_NAN_TEXT = "\x00nan"
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The ONNX opset the conversion targets (onnxruntime >= 1.18 runs it).
TARGET_OPSET = 18
# At most this many problems are listed in one refusal's `fields`.
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class FileVersion:
    """What a model file looked like when it was loaded: a change means it was replaced."""

    size: int
    stamp: str


@dataclass(frozen=True, slots=True)
class RowsPrediction:
    """Predictions for rows, in their order: `labels[i]` and `probabilities[i][j]`, the
    probability of `classes[j]` (the model's class order)."""

    classes: tuple[str, ...]
    labels: list[str]
    probabilities: list[list[float]]


@dataclass(frozen=True, slots=True)
class ServingModel:
    """A model ready to predict: its onnxruntime session (thread-safe), input schema and
    classes. `nbytes` is the size of its ONNX form, what the model cache counts."""

    session: Any
    columns: tuple[FeatureColumn, ...]
    classes: tuple[str, ...]
    nbytes: int
    version: FileVersion

    def run(self, feeds: dict[str, np.ndarray[Any, Any]]) -> RowsPrediction:
        """Predict encoded columns (see encode_rows / encode_frame). A large batch is split
        into up to one part per core, predicted in parallel (see _parallel_parts)."""
        rows = len(next(iter(feeds.values())))
        parts = _parallel_parts(rows)
        if parts < 2:
            labels, probabilities = self.session.run(None, feeds)
        else:
            bounds = np.linspace(0, rows, parts + 1, dtype=np.int64).tolist()
            pieces = [
                {name: column[start:end] for name, column in feeds.items()}
                for start, end in itertools.pairwise(bounds)
            ]
            answers = list(
                _prediction_pool().map(functools.partial(self.session.run, None), pieces)
            )
            labels = np.concatenate([answer[0] for answer in answers])
            probabilities = np.concatenate([answer[1] for answer in answers])
        return RowsPrediction(
            classes=self.classes,
            labels=[str(label) for label in labels],
            probabilities=probabilities.astype(float).tolist(),
        )

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> RowsPrediction:
        """Predict JSON rows (InvalidInput for a missing column or a value of the wrong kind)."""
        return self.run(encode_rows(self.columns, rows))


# Loading --------------------------------------------------------------------------------------


def file_version(location: str) -> FileVersion | None:
    """The size and modification stamp of the file at `location`, or None when it is gone."""
    if is_local(location):
        path = location.split("://", 1)[1] if "://" in location else location
        try:
            found = os.stat(path)
        except FileNotFoundError:
            return None
        return FileVersion(size=found.st_size, stamp=str(found.st_mtime_ns))
    fs, path = filesystem(location)
    fs.invalidate_cache(path)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return None
    stamp = info.get("ETag") or info.get("LastModified") or info.get("mtime") or ""
    return FileVersion(size=int(info.get("size") or 0), stamp=str(stamp))


def load_serving_model(
    location: str, *, sha256: str, columns: Sequence[FeatureColumn], display: str
) -> ServingModel:
    """Read the model file at `location`, check its bytes against `sha256`, unpickle and
    convert it. `display` names the model in errors ("run 7").

    Raises ModelUnavailable when the file is gone, its bytes changed since it was written
    (it is then never unpickled), or it cannot be converted. Blocking: call in a thread.
    """
    version = file_version(location)
    try:
        with open_for_reading(location) as handle:
            data = handle.read()
    except FileNotFoundError:
        version = None
    if version is None:
        raise ModelUnavailable(
            f"The model file of {display} is gone from the model directory "
            "(TRAINQL_MODEL_DIR): it cannot predict. Train the model again."
        )
    if sha256_of(data) != sha256:
        raise ModelUnavailable(
            f"The model file of {display} changed since it was trained (its SHA-256 no longer "
            "matches the one recorded when it was written): it was refused and not loaded. "
            "Restore the file or train the model again."
        )
    import joblib

    pipeline = joblib.load(io.BytesIO(data))
    del data
    onnx_bytes = convert_pipeline(pipeline, columns, display=display)
    classes = tuple(str(c) for c in pipeline.named_steps["forest"].classes_)
    del pipeline
    return ServingModel(
        session=_session(onnx_bytes),
        columns=tuple(columns),
        classes=classes,
        nbytes=len(onnx_bytes),
        version=version,
    )


def convert_pipeline(pipeline: Any, columns: Sequence[FeatureColumn], *, display: str) -> bytes:
    """The fitted pipeline as a serialized ONNX model with one input per column of
    `columns`, and outputs `label` and `probabilities` (no ZipMap: a plain matrix)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (c.name, StringTensorType([None, 1]) if is_categorical(c) else FloatTensorType([None, 1]))
        for c in columns
    ]
    forest = pipeline.named_steps["forest"]
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=inputs,
            options={id(forest): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    except Exception as exc:
        raise ModelUnavailable(
            f"The model of {display} cannot be served: its pipeline could not be converted "
            f"to ONNX ({type(exc).__name__}: {exc})."
        ) from exc
    serialized: bytes = model.SerializeToString()
    return serialized


# A batch of at least twice this many rows is split into parts predicted in parallel.
MIN_PARALLEL_PART_ROWS = 1024


def _parallel_parts(rows: int) -> int:
    return min(_CORES, rows // MIN_PARALLEL_PART_ROWS)


_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def _prediction_pool() -> ThreadPoolExecutor:
    """The threads large batches are predicted in, one per core, shared by all models and
    requests (onnxruntime's session.run releases the GIL and is safe to call concurrently)."""
    return ThreadPoolExecutor(max_workers=_CORES, thread_name_prefix="trainql-predict")


def _session(onnx_bytes: bytes) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread per run: an intra-op pool (a session setting, not a per-call one) costs a
    # one-row run a thread hand-off (measured: p50 0.07 -> 0.10-0.12 ms, p99 0.17 -> 0.3-0.5
    # ms), and its spinning threads take the CPU from other requests. Large batches get the
    # cores by being split across _prediction_pool instead (ServingModel.run).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )


def is_categorical(column: FeatureColumn) -> bool:
    return column.kind == FeatureKind.CATEGORICAL


# Validating and encoding rows -------------------------------------------------------------------


class _Problems:
    """Problems found in the input, by field, the first MAX_LISTED_PROBLEMS of them (all of
    them counted)."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.count = 0
        self.first: str | None = None

    @property
    def full(self) -> bool:
        return len(self.fields) >= MAX_LISTED_PROBLEMS

    def add(self, field: str, message: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = message
        if not self.full:
            self.fields.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.first is None:
            return
        more = "" if self.count == 1 else f" ({self.count} problems in all)"
        raise InvalidInput(f"{self.first}{more}", fields=self.fields)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric(value: Any) -> float | None:
    """The float32-safe value of a JSON number, None for null; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number or null")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for any float
        number = math.inf
    if math.isnan(number):
        return None
    if math.isinf(number) or abs(number) > FLOAT32_MAX:
        raise ValueError(f"expected a finite number of at most {FLOAT32_MAX:.4g} in size")
    return number


def _category(value: Any) -> str:
    """The text a JSON value is compared to the training categories as."""
    if value is None:
        return MISSING_TEXT
    if isinstance(value, str):
        return LITERAL_NAN_TEXT if value == MISSING_TEXT else value
    if isinstance(value, bool | int | float):
        if isinstance(value, float) and math.isnan(value):
            return MISSING_TEXT
        return str(value)
    raise ValueError("expected text, a number, a boolean or null")


class _Absent:
    """The value of a column a row lacks: a type of its own, so that the scan of a column's
    value types that picks its fast path also finds it."""


_ABSENT = _Absent()
_NONE = type(None)
# A column whose values are all of these types is encoded by numpy in one call; any other
# type (a bool, a list, a missing key ...) sends the column through the per-value checks,
# which name each bad value.
_NUMBER_TYPES = frozenset({int, float, _NONE})
# Up to this many rows, the per-value checks are cheaper than numpy's vectorised ones (one
# row: 0.05 ms against 0.08-0.15 ms for the 11 columns of the default dataset).
_FEW_ROWS = 16
_TEXT_TYPES = frozenset({str, _NONE})

_Column = np.ndarray[Any, Any]


def _numbers(values: Sequence[Any]) -> tuple[_Column | None, list[int]]:
    """A numeric column's float32 input, or the positions of its bad values."""
    if len(values) > _FEW_ROWS and set(map(type, values)) <= _NUMBER_TYPES:
        try:
            numbers = np.array(values, dtype=np.float64)  # null -> NaN, the imputer's input
        except OverflowError:  # an integer too large for any float: named below
            pass
        else:
            with np.errstate(invalid="ignore"):
                too_large = np.flatnonzero(np.abs(numbers) > FLOAT32_MAX)  # inf too; NaN not
            if not len(too_large):
                return numbers.astype(np.float32).reshape(-1, 1), []
            return None, too_large.tolist()
    checked: list[float | None] = []
    bad: list[int] = []
    for i, value in enumerate(values):
        try:
            checked.append(None if value is _ABSENT else _numeric(value))
        except ValueError:
            bad.append(i)
        else:
            if value is _ABSENT:
                bad.append(i)
    if bad:
        return None, bad
    return np.array(checked, dtype=np.float64).astype(np.float32).reshape(-1, 1), []


def _categories(values: Sequence[Any]) -> tuple[_Column | None, list[int]]:
    """A categorical column's text input, or the positions of its bad values."""
    kinds = set(map(type, values))
    if len(values) > _FEW_ROWS and kinds <= _TEXT_TYPES:
        text = np.array(values, dtype=object)
        text[text == MISSING_TEXT] = LITERAL_NAN_TEXT
        if _NONE in kinds:
            text[np.fromiter((v is None for v in values), bool, len(values))] = MISSING_TEXT
        return text.reshape(-1, 1), []
    encoded: list[str] = []
    bad: list[int] = []
    for i, value in enumerate(values):
        if value is _ABSENT:
            bad.append(i)
            continue
        try:
            encoded.append(_category(value))
        except ValueError:
            bad.append(i)
    if bad:
        return None, bad
    return np.array(encoded, dtype=object).reshape(-1, 1), []


def _problem(name: str, i: int, value: Any, categorical: bool) -> tuple[str, str]:
    """The field and message of row `i`'s bad `value` in column `name`."""
    field = f"rows[{i}].{name}"
    if value is _ABSENT:
        return field, f"Row {i} has no value for column {name!r} (give null for a missing value)."
    try:
        _category(value) if categorical else _numeric(value)
    except ValueError as exc:
        return field, f"Row {i}, column {name!r}: {exc}, got {_shown(value)}."
    raise AssertionError(f"row {i}, column {name!r}: {value!r} was found bad but is not")


def _column_values(
    columns: Sequence[FeatureColumn], rows: Sequence[Mapping[str, Any]]
) -> list[Sequence[Any]]:
    """Each column's values in row order (_ABSENT where a row lacks the column)."""
    names = [c.name for c in columns]
    if len(names) > 1:
        # One C call per row reads all its values (each row is visited once, not once per
        # column), and zip transposes.
        row_values = operator.itemgetter(*names)
        try:
            return list(zip(*map(row_values, rows), strict=True))
        except KeyError:  # a row lacks a column: named by the checks
            pass
    return [[row.get(name, _ABSENT) for row in rows] for name in names]


def encode_rows(
    columns: Sequence[FeatureColumn], rows: Sequence[Mapping[str, Any]]
) -> dict[str, np.ndarray[Any, Any]]:
    """The ONNX inputs for JSON rows (objects of column values; extra keys are ignored).

    InvalidInput when a row lacks a column (null is how a missing value is given) or holds a
    value of the wrong kind; `fields` names each as `rows[<i>].<column>` (the first
    MAX_LISTED_PROBLEMS; the message counts them all).

    Column by column: the values are gathered and, when their types allow (numbers and null,
    or text and null), encoded by numpy in one call; only a column holding other types is
    checked value by value, and messages are built for the first few bad values only.
    """
    problems = _Problems()
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for column, values in zip(columns, _column_values(columns, rows), strict=True):
        name = column.name
        categorical = is_categorical(column)
        encoded, bad = _categories(values) if categorical else _numbers(values)
        for listed, i in enumerate(bad):
            if problems.full:
                problems.count += len(bad) - listed
                break
            problems.add(*_problem(name, i, values[i], categorical))
        if encoded is not None:
            feeds[name] = encoded
    problems.raise_if_any()
    return feeds


def ignored_columns(
    columns: Sequence[FeatureColumn], rows: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The keys of `rows` that are not input columns, in the order first seen."""
    known = {c.name for c in columns}
    if set().union(*rows) <= known:  # the usual case, without a loop over every key
        return []
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in known:
                seen.setdefault(str(key), None)
    return list(seen)


# CSV files ---------------------------------------------------------------------------------------

# Rows per chunk of a CSV prediction: large enough that onnxruntime's per-call cost vanishes,
# small enough to keep memory flat.
CSV_CHUNK_ROWS = 20_000


def csv_header(handle: io.BufferedIOBase | Any) -> list[str]:
    """The header of the CSV file `handle` (read from its start; left at its start)."""
    import pandas as pd

    handle.seek(0)
    try:
        header = [str(c) for c in pd.read_csv(handle, nrows=0, encoding="utf-8").columns]
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            "The CSV file has no readable header row: send UTF-8 CSV text whose first line "
            "names the columns."
        ) from None
    finally:
        handle.seek(0)
    return header


def check_csv_columns(columns: Sequence[FeatureColumn], header: Sequence[str]) -> list[str]:
    """The header's ignored (extra) columns; InvalidInput when it lacks an input column."""
    missing = [c.name for c in columns if c.name not in set(header)]
    if missing:
        raise InvalidInput(
            f"The CSV file lacks the model's input column(s) {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(c.name for c in columns)}.",
            fields={name: ["This column is missing from the CSV header."] for name in missing},
        )
    known = {c.name for c in columns}
    return [name for name in header if name not in known]


# A chunk of a CSV file: its rows as read (every column as text) and their ONNX inputs.
CsvChunk = tuple["pd.DataFrame", dict[str, np.ndarray[Any, Any]]]


def csv_chunks(
    handle: Any, columns: Sequence[FeatureColumn], chunk_rows: int = CSV_CHUNK_ROWS
) -> Iterator[CsvChunk]:
    """The CSV file `handle` in chunks: each chunk's rows as read (every column, as text)
    and the ONNX inputs encoded from them. InvalidInput names the line and column of a value
    of the wrong kind (the header is line 1)."""
    import pandas as pd

    handle.seek(0)
    # Every column as text: the output repeats the input as it was written, and numbers are
    # parsed here, where a bad one can be named.
    reader = pd.read_csv(
        handle, dtype=str, keep_default_na=True, chunksize=chunk_rows, encoding="utf-8"
    )
    first_line = 2
    try:
        for chunk in reader:
            yield chunk, encode_frame(columns, chunk, first_line=first_line)
            first_line += len(chunk)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"The CSV file cannot be read after line {first_line - 1}: {exc}"
        ) from None


def encode_frame(
    columns: Sequence[FeatureColumn], frame: pd.DataFrame, *, first_line: int
) -> dict[str, np.ndarray[Any, Any]]:
    """The ONNX inputs for a chunk of CSV rows read as text (missing cells are NaN)."""
    import pandas as pd

    problems = _Problems()
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for column in columns:
        raw = frame[column.name]
        missing = raw.isna().to_numpy()
        if is_categorical(column):
            text = raw.to_numpy(dtype=object, na_value=MISSING_TEXT)
            feeds[column.name] = text.reshape(-1, 1)
            continue
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero((np.isnan(numbers) & ~missing) | (np.abs(numbers) > FLOAT32_MAX))
        for position in bad[:MAX_LISTED_PROBLEMS]:
            line = first_line + int(position)
            problems.add(
                f"line {line}.{column.name}",
                f"Line {line}, column {column.name!r}: expected a finite number or an empty "
                f"cell, got {_shown(raw.iloc[int(position)])}.",
            )
        feeds[column.name] = numbers.astype(np.float32).reshape(-1, 1)
    problems.raise_if_any()
    return feeds


def predictions_csv(
    chunk: pd.DataFrame, prediction: RowsPrediction, *, target_column: str, header: bool
) -> bytes:
    """CSV text of `chunk` (as read: every column as text, missing cells NaN) with
    `predicted_<target>` and one `probability_<class>` column per class, and the header
    line when `header`. An input column of one of those names (a file predicted before,
    sent again) holds the new values in its place.

    The same bytes as DataFrame.to_csv(index=False) of the chunk with those columns set,
    which writes through the csv module too (minimal quoting, "\\n" line ends, a missing
    cell empty, a float as its repr), written from plain lists: 23 ms for 10,000 rows of
    the default dataset against 47 ms for building the frame and to_csv (most of it spent
    on the float columns).
    """
    probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
    added: dict[str, list[str]] = {f"predicted_{target_column}": prediction.labels}
    for j, label in enumerate(prediction.classes):
        added[f"probability_{label}"] = list(map(repr, probabilities[:, j].tolist()))
    names = [str(name) for name in chunk.columns]
    columns = [
        added.pop(name)
        if name in added
        else chunk[name].to_numpy(dtype=object, na_value="").tolist()
        for name in names
    ]
    names.extend(added)
    columns.extend(added.values())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(names)
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue().encode()
