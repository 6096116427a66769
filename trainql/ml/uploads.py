"""Storing an uploaded CSV dataset: stream to a temp file under a byte limit, check, rename.

Knows nothing of HTTP or the database. A refused upload leaves no file behind: the bytes go
to a hidden temp file in the datasets directory, which is renamed to its final name only
after the CSV checks pass and is removed on any failure (cancellation included).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import anyio.to_thread

from trainql.errors import DatasetInvalid, PayloadTooLarge
from trainql.ml.storage import storage_errors
from trainql.storage_root import StorageRoot, move_local_file_into, remove

CHUNK_BYTES = 1024 * 1024
# The datasets directory, relative to the data root.
DATASETS_DIR = "datasets"
TEMP_PREFIX = ".upload-"
DATA_ROOT_LOCATION = "the data root (TRAINQL_DATA_ROOT)"


class AsyncReadable(Protocol):
    """What an upload is read from: Starlette's UploadFile (REST and GraphQL) fits."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StoredCsv:
    """A checked CSV file in place under the data root."""

    relative_path: str
    columns: list[str]
    row_count: int
    size_bytes: int


def dataset_relative_path(name: str) -> str:
    """Where a dataset file named `name` lives, relative to the data root."""
    return f"{DATASETS_DIR}/{name}.csv"


def summarize_csv(path: Path) -> tuple[list[str], int]:
    """The header and the number of data rows of a CSV file, or DatasetInvalid saying why not.

    The file must be UTF-8 text (a BOM is allowed), comma separated, with a header row of
    distinct, non-empty column names and at least one data row; no row may have more fields
    than the header. Blank lines are not counted. Reads the file once, line by line.
    """
    if path.stat().st_size == 0:
        raise DatasetInvalid("The file is empty: a CSV with a header row and data rows is needed.")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(_text_lines(handle))
            header = next((row for row in reader if row), None)
            if header is None:
                raise DatasetInvalid("The file has no header row: it contains only blank lines.")
            columns = [name.strip() for name in header]
            _check_header(columns)
            rows = 0
            for row in reader:
                if not row:
                    continue
                if len(row) > len(columns):
                    raise DatasetInvalid(
                        f"Line {reader.line_num} has {len(row)} fields; the header has "
                        f"{len(columns)}."
                    )
                rows += 1
    except UnicodeDecodeError as exc:
        raise DatasetInvalid(
            "The file is not UTF-8 text; upload a UTF-8 encoded CSV file."
        ) from exc
    except csv.Error as exc:
        raise DatasetInvalid(f"The file is not valid CSV: {exc}.") from None
    if rows == 0:
        raise DatasetInvalid("The file has a header row but no data rows; at least one is needed.")
    return columns, rows


def _text_lines(handle: Iterable[str]) -> Iterator[str]:
    """The lines of `handle`, refusing NUL characters: they mark a binary file, not text."""
    for line in handle:
        if "\x00" in line:
            raise DatasetInvalid(
                "The file looks binary (it contains NUL bytes); upload a UTF-8 CSV text file."
            )
        yield line


def _check_header(columns: list[str]) -> None:
    if any(not name for name in columns):
        raise DatasetInvalid("The header row has an empty column name; every column needs one.")
    duplicates = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicates:
        raise DatasetInvalid(
            f"The header row repeats column names: {', '.join(duplicates)}; names must be unique."
        )


async def store_csv_upload(
    source: AsyncReadable, *, data_root: StorageRoot | Path, name: str, max_bytes: int
) -> StoredCsv:
    """Copy `source` to `<data_root>/datasets/<name>.csv` after checking it is a usable CSV
    (on a local root through a temporary file renamed into place, on an object store through
    a local temporary file uploaded as one object).

    Raises PayloadTooLarge as soon as more than `max_bytes` have been read (the rest is never
    read), DatasetInvalid when the content is not a CSV `summarize_csv` accepts, and
    InsufficientStorage when the data root is full, over quota or read-only. In every case,
    and on cancellation, nothing is left in the datasets directory.
    """
    root = StorageRoot.of(data_root, setting="TRAINQL_DATA_ROOT")
    relative = dataset_relative_path(name)
    target = root.child(relative)
    # Beside the target when it is local (the final move is then a rename on one filesystem).
    directory = Path(target).parent if root.is_local else None
    with storage_errors(what="the uploaded dataset", location=DATA_ROOT_LOCATION):
        temp = await anyio.to_thread.run_sync(_open_temp, directory)
        try:
            size = 0
            with temp.handle:
                while chunk := await source.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge.upload(max_bytes)
                    await anyio.to_thread.run_sync(temp.handle.write, chunk)
            columns, rows = await anyio.to_thread.run_sync(summarize_csv, temp.path)
            await anyio.to_thread.run_sync(move_local_file_into, temp.path, target)
        except BaseException:
            await anyio.to_thread.run_sync(_unlink_quietly, temp.path)
            raise
    return StoredCsv(relative_path=relative, columns=columns, row_count=rows, size_bytes=size)


async def remove_stored_file(data_root: StorageRoot | Path, relative_path: str) -> None:
    """Remove a stored dataset file (when its database row could not be written)."""
    root = StorageRoot.of(data_root, setting="TRAINQL_DATA_ROOT")
    await anyio.to_thread.run_sync(remove, root.child(relative_path))


@dataclass(slots=True)
class _TempFile:
    path: Path
    handle: BinaryIO


def _open_temp(directory: Path | None) -> _TempFile:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".part")
    return _TempFile(path=Path(name), handle=os.fdopen(fd, "wb"))


def _unlink_quietly(path: Path) -> None:
    path.unlink(missing_ok=True)
