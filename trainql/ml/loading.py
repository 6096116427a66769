"""Finding and reading a dataset: path safety, CSV checks, and the checks training needs.

Every problem is a `DatasetInvalid` whose message says what was wrong and what is expected.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from trainql.errors import DatasetInvalid
from trainql.storage_root import OutsideRoot, StorageRoot, kind_of, open_for_reading

CSV_SUFFIXES = (".csv",)
_READ_BLOCK = 1 << 20


def resolve_dataset_path(data_root: StorageRoot | Path, relative: str) -> str:
    """The location of the file `relative` names inside `data_root`, or DatasetInvalid.

    Absolute paths, `..` and symbolic links that lead outside the data root are refused,
    whatever route they take: on a local root the check is made on the fully resolved path,
    on an object store on the normalized key.
    """
    root = StorageRoot.of(data_root, setting="TRAINQL_DATA_ROOT")
    if not relative or not relative.strip():
        raise DatasetInvalid("dataset_path is empty: give a CSV path relative to the data root.")
    candidate = Path(relative)
    if candidate.is_absolute() or candidate.drive:
        raise DatasetInvalid(
            f"dataset_path {relative!r} is absolute: give a path relative to the data root."
        )
    try:
        location = root.child(relative)
    except OutsideRoot:
        raise DatasetInvalid(
            f"dataset_path {relative!r} leads outside the data root: only files under it "
            "can be trained on."
        ) from None
    kind = kind_of(location)
    if kind is None:
        raise DatasetInvalid(f"Dataset file not found: {relative!r} (relative to the data root).")
    if kind != "file":
        raise DatasetInvalid(f"dataset_path {relative!r} is not a file.")
    if PurePosixPath(location).suffix.lower() not in CSV_SUFFIXES:
        raise DatasetInvalid(f"dataset_path {relative!r} is not a CSV file (expected .csv).")
    return location


def check_text(path: str | Path, display: str) -> None:
    """DatasetInvalid unless the whole file is non-empty UTF-8 text without NUL bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    seen_any = False
    with open_for_reading(str(path)) as handle:
        while block := handle.read(_READ_BLOCK):
            seen_any = seen_any or bool(block.strip())
            if b"\x00" in block:
                raise DatasetInvalid(f"Dataset {display!r} is a binary file, not a CSV text file.")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise DatasetInvalid(
                    f"Dataset {display!r} is not UTF-8 text ({exc.reason} at byte "
                    f"{handle.tell() - len(block) + exc.start}): save the CSV as UTF-8."
                ) from None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DatasetInvalid(
            f"Dataset {display!r} is not UTF-8 text (it ends inside a character)."
        ) from None
    if not seen_any:
        raise DatasetInvalid(
            f"Dataset {display!r} is empty: expected a header row and data."
        ) from None


def _read_csv(
    path: str | Path, display: str, usecols: list[str] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    import pandas as pd  # imported on first use: the server starts faster

    try:
        # A local path, or a URL that pandas opens through fsspec.
        return pd.read_csv(
            str(path), encoding="utf-8", usecols=usecols, nrows=nrows, low_memory=False
        )
    except pd.errors.EmptyDataError:
        raise DatasetInvalid(
            f"Dataset {display!r} is empty: expected a header row and data."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetInvalid(f"Dataset {display!r} is not a readable CSV file: {exc}") from None


def read_columns(path: str | Path, display: str) -> list[str]:
    """The header of the CSV file."""
    return [str(c) for c in _read_csv(path, display, nrows=0).columns]


def check_target(columns: list[str], target_column: str, display: str) -> None:
    """DatasetInvalid unless `target_column` is a column and at least one feature is left."""
    if target_column not in columns:
        shown = ", ".join(columns[:50]) + (" ..." if len(columns) > 50 else "")
        raise DatasetInvalid(
            f"Target column {target_column!r} is not in dataset {display!r}. "
            f"Its columns are: {shown}."
        )
    if len(columns) < 2:
        raise DatasetInvalid(
            f"Dataset {display!r} has only the target column {target_column!r}: "
            "at least one feature column is needed."
        )


def check_classes(
    counts: Mapping[str, int], *, rows: int, test_split: float, target_column: str, display: str
) -> None:
    """DatasetInvalid unless a stratified train/test split of these classes is possible."""
    if rows == 0:
        raise DatasetInvalid(f"Dataset {display!r} has a header but no data rows.")
    if len(counts) < 2:
        only = next(iter(counts), "")
        raise DatasetInvalid(
            f"Target column {target_column!r} has a single class ({only!r}): "
            "a classifier needs at least two."
        )
    smallest, size = min(counts.items(), key=lambda item: (item[1], item[0]))
    if size < 2:
        raise DatasetInvalid(
            f"Class {smallest!r} of {target_column!r} has only {size} row: a stratified "
            "train/test split needs at least 2 rows of every class."
        )
    # train_test_split's own rule: both sides must hold at least one row of every class.
    test_rows = math.ceil(test_split * rows)
    if test_rows < len(counts) or rows - test_rows < len(counts):
        raise DatasetInvalid(
            f"Dataset {display!r} is too small: {rows} rows cannot be split {test_split:g} "
            f"for testing with each of the {len(counts)} classes on both sides."
        )


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """What inspection learned about a dataset that can be trained on."""

    path: str
    columns: list[str]
    rows: int
    class_counts: dict[str, int]


def class_counts(series: pd.Series) -> dict[str, int]:
    """Rows per class of a target column, missing values left out. Labels are names, also
    when they look like numbers; the raw values are counted first and only the distinct
    ones turned into strings, which is much cheaper than converting every row."""
    counts: dict[str, int] = {}
    for value, count in series.value_counts(dropna=True).items():
        counts[str(value)] = counts.get(str(value), 0) + int(count)
    return counts


def inspect_dataset(
    path: str | Path, *, display: str, target_column: str, test_split: float
) -> DatasetSummary:
    """Every check a dataset must pass before a run is recorded: UTF-8 text, a header with
    the target and a feature, two or more classes each large enough to split.

    Reads only the target column's values, so it is cheap next to training.
    """
    check_text(path, display)
    columns = read_columns(path, display)
    check_target(columns, target_column, display)
    frame = _read_csv(path, display, usecols=[target_column])
    counts = class_counts(frame[target_column])
    rows = sum(counts.values())
    check_classes(
        counts,
        rows=rows,
        test_split=test_split,
        target_column=target_column,
        display=display,
    )
    return DatasetSummary(path=str(path), columns=columns, rows=rows, class_counts=counts)


def load_training_frame(
    path: str | Path, *, display: str, target_column: str, test_split: float
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a dataset, with the same checks as `inspect_dataset`.

    Rows without a target value are dropped; target values become strings.
    """
    import pandas as pd

    frame = _read_csv(path, display)
    columns = [str(c) for c in frame.columns]
    frame.columns = pd.Index(columns)
    check_target(columns, target_column, display)
    missing = frame[target_column].isna()
    if missing.any():  # filtering copies every column: only when there is something to drop
        frame = frame[~missing]
    target = frame.pop(target_column).astype(str)
    check_classes(
        {str(k): int(v) for k, v in target.value_counts().items()},
        rows=len(target),
        test_split=test_split,
        target_column=target_column,
        display=display,
    )
    return frame, target
