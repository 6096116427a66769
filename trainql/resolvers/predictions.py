"""Predictions with a trained model, chosen by run id, model version or alias: JSON rows
(GraphQL `predict`, REST) and CSV files (REST, the CLI)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import anyio.to_thread

from trainql.db import model_aliases as alias_store
from trainql.db import training_runs as run_store
from trainql.domain import FeatureColumn, TrainingRun, TrainingRunStatus
from trainql.errors import InvalidInput, ModelUnavailable, NotFound
from trainql.ml import serving
from trainql.ml.model_cache import ModelKey
from trainql.ml.serving import RowsPrediction, ServingModel
from trainql.resolvers.context import Context
from trainql.resolvers.permissions import IS_HR_STAFF_OR_MANAGER, require
from trainql.resolvers.training_runs import parse_run_id
from trainql.storage_root import OutsideRoot

# Up to this many rows are predicted on the event loop (a few hundred microseconds, less
# than the trip to a worker thread); more go to a thread.
INLINE_ROWS = 16
SELECTORS = "trainingRunId, modelVersion or alias"


@dataclass(frozen=True, slots=True)
class ModelSelector:
    """Which model to predict with: exactly one of the three."""

    training_run_id: str | int | None = None
    model_version: str | None = None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class PredictionResult:
    """Predictions for JSON rows, with the run whose model made them and the row keys that
    are not input columns (ignored)."""

    run: TrainingRun
    prediction: RowsPrediction
    ignored_columns: list[str]


@dataclass(frozen=True, slots=True)
class CsvPrediction:
    """A CSV file's predictions: the rows as given plus `predicted_<target>` and one
    `probability_<class>` column per class, as CSV text in chunks (the input was checked
    whole before the first chunk, so the stream does not stop half way for bad input)."""

    run: TrainingRun
    ignored_columns: list[str]
    rows: int
    chunks: AsyncIterator[bytes]


async def predict(*, ctx: Context, selector: ModelSelector, rows: object) -> PredictionResult:
    """Predict `rows` (a list of JSON objects, column -> value) with the selected model.

    HR_STAFF or MANAGER. InvalidInput for no selector or several, for rows that are not a
    non-empty list of objects or more than TRAINQL_PREDICT_MAX_ROWS, and for a row that lacks
    a column or holds a value of the wrong kind (naming both); NotFound for an unknown run,
    version or alias; ModelUnavailable for a run that is not COMPLETED or whose model file is
    gone or changed.
    """
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    checked = _rows(rows, max_rows=ctx.settings.predict_max_rows)
    run = await find_model_run(ctx=ctx, selector=selector)
    model = await serving_model(ctx=ctx, run=run)
    ignored = serving.ignored_columns(model.columns, checked)
    if len(checked) <= INLINE_ROWS:
        prediction = model.predict_rows(checked)
    else:
        prediction = await anyio.to_thread.run_sync(model.predict_rows, checked)
    return PredictionResult(run=run, prediction=prediction, ignored_columns=ignored)


async def predict_csv(*, ctx: Context, selector: ModelSelector, file: IO[bytes]) -> CsvPrediction:
    """Predict every row of the CSV file `file` (seekable; read twice: checked whole, then
    predicted chunk by chunk as the answer streams). Errors as for `predict`; a bad value is
    named by its line and column."""
    require(ctx, IS_HR_STAFF_OR_MANAGER)
    run = await find_model_run(ctx=ctx, selector=selector)
    model = await serving_model(ctx=ctx, run=run)
    header = await anyio.to_thread.run_sync(serving.csv_header, file)
    ignored = serving.check_csv_columns(model.columns, header)
    checked = await anyio.to_thread.run_sync(_check_csv, file, model.columns)
    if checked.rows == 0:
        raise InvalidInput("The CSV file has a header row but no data rows to predict.")
    lines = _csv_lines(file, model, target_column=run.target_column, read=checked.only_chunk)
    return CsvPrediction(
        run=run, ignored_columns=ignored, rows=checked.rows, chunks=_in_threads(lines)
    )


def _rows(rows: object, *, max_rows: int) -> list[Mapping[str, Any]]:
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(
            "rows must be a non-empty list of rows, each a JSON object of column values.",
            fields={"rows": ["Give at least one row."]},
        )
    if len(rows) > max_rows:
        raise InvalidInput(
            f"{len(rows)} rows is more than the {max_rows} one request may hold "
            "(TRAINQL_PREDICT_MAX_ROWS); send larger batches as a CSV file.",
            fields={"rows": [f"At most {max_rows} rows."]},
        )
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidInput(
                f"Row {i} is not a JSON object of column values.",
                fields={f"rows[{i}]": ["Expected an object: {column: value, ...}."]},
            )
    return rows


async def find_model_run(*, ctx: Context, selector: ModelSelector) -> TrainingRun:
    """The run `selector` names, checked able to predict (COMPLETED, with a model file and
    what serving it needs recorded)."""
    given = [
        name
        for name, value in (
            ("trainingRunId", selector.training_run_id),
            ("modelVersion", selector.model_version),
            ("alias", selector.alias),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            f"Give exactly one of {SELECTORS} to choose the model"
            + (f" (got {', '.join(given)})." if given else "."),
            fields={name: [f"Exactly one of {SELECTORS}."] for name in given or ["input"]},
        )
    run = await _selected_run(ctx, selector)
    check_servable(run)
    ctx.services.completed_runs.remember(run)
    return run


async def _selected_run(ctx: Context, selector: ModelSelector) -> TrainingRun:
    """The run `selector` names: from this process's memory when it predicted before
    (resolvers/completed_runs.py), else from the database."""
    known = ctx.services.completed_runs
    run_id: int | None = None
    if selector.training_run_id is not None:
        try:
            run_id = parse_run_id(selector.training_run_id)
        except NotFound:
            raise NotFound(f"Training run {selector.training_run_id!r} not found.") from None
        run = known.by_id(run_id)
    elif selector.model_version is not None:
        run = known.by_version(selector.model_version)
    else:
        run = None
    if run is not None:
        return run
    async with ctx.db.read() as conn:
        if selector.alias is not None:
            run_id = await alias_store.training_run_id_for_alias(conn, selector.alias)
            if run_id is None:
                raise NotFound(f"No model alias {selector.alias!r}.")
            run = known.by_id(run_id)
            if run is not None:
                return run
        if run_id is not None:
            run = await run_store.get_training_run(conn, run_id=run_id)
            if run is None:
                raise NotFound(f"Training run {run_id} not found.")
        else:
            assert selector.model_version is not None
            run = await run_store.get_training_run_by_version(
                conn, model_version=selector.model_version
            )
            if run is None:
                raise NotFound(f"No training run has model version {selector.model_version!r}.")
    return run


def check_servable(run: TrainingRun) -> None:
    """ModelUnavailable, saying why, unless `run` has what predicting needs (its model file
    is looked at only when it is loaded). Aliases use it too: an alias names a usable model."""
    if run.status != TrainingRunStatus.COMPLETED:
        raise ModelUnavailable(
            f"Training run {run.id} is {run.status.value}, not COMPLETED: only a completed run "
            "has a model to predict with."
        )
    if run.model_path is None:
        raise ModelUnavailable(f"Training run {run.id} has no model file: it cannot predict.")
    if run.model_sha256 is None or _input_schema(run) is None:
        raise ModelUnavailable(
            f"Training run {run.id} was trained before this service recorded each model's "
            "SHA-256 and input schema, so its file cannot be checked and is not loaded: "
            "train the model again to predict with it."
        )


def _input_schema(run: TrainingRun) -> tuple[FeatureColumn, ...] | None:
    return None if run.details is None else run.details.input_schema


async def serving_model(*, ctx: Context, run: TrainingRun) -> ServingModel:
    """The run's model from this process's cache, loaded (in a worker thread, once) when
    absent or when its file changed."""
    assert run.model_path is not None and run.model_sha256 is not None
    columns = _input_schema(run)
    assert columns is not None
    location = _model_location(ctx, run)
    load = functools.partial(
        serving.load_serving_model,
        location,
        sha256=run.model_sha256,
        columns=columns,
        display=f"run {run.id}",
    )
    return await ctx.services.models.get(ModelKey(run.id, run.model_sha256), location, load)


def _model_location(ctx: Context, run: TrainingRun) -> str:
    """The run's model file, which must be inside the model directory: its path taken
    relative to the directory and resolved again there (symbolic links followed), so that
    neither `..` nor a link can lead a load anywhere else."""
    assert run.model_path is not None
    root = ctx.settings.model_location
    try:
        return root.child(root.relative(run.model_path))
    except OutsideRoot:
        raise ModelUnavailable(
            f"The model file of run {run.id} is not inside the model directory "
            "(TRAINQL_MODEL_DIR): the service only loads models it wrote there."
        ) from None


# CSV -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CheckedCsv:
    """A CSV file read whole and found good: its row count and, when it is one chunk, that
    chunk as read and encoded (predicted from, without reading the file a second time)."""

    rows: int
    only_chunk: serving.CsvChunk | None


def _check_csv(file: IO[bytes], columns: Sequence[FeatureColumn]) -> _CheckedCsv:
    """Every chunk of the file encoded (InvalidInput at the first bad one)."""
    rows = 0
    only: serving.CsvChunk | None = None
    for index, chunk in enumerate(serving.csv_chunks(file, columns)):
        rows += len(chunk[0])
        # Only a file of one chunk is kept: a larger one is read again as it streams, so
        # that memory holds one chunk at a time.
        only = chunk if index == 0 else None
    return _CheckedCsv(rows=rows, only_chunk=only)


def _csv_lines(
    file: IO[bytes],
    model: ServingModel,
    *,
    target_column: str,
    read: serving.CsvChunk | None = None,
) -> Iterator[bytes]:
    chunks = serving.csv_chunks(file, model.columns) if read is None else iter([read])
    for index, (chunk, feeds) in enumerate(chunks):
        yield serving.predictions_csv(
            chunk, model.run(feeds), target_column=target_column, header=index == 0
        )


async def _in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` (blocking: reading, predicting) pulled one by one in a worker thread."""
    done = object()
    while True:
        chunk = await anyio.to_thread.run_sync(next, chunks, done)
        if chunk is done:
            return
        assert isinstance(chunk, bytes)
        yield chunk
