"""Fitted pipelines in the model directory (a local directory or an fsspec URL).

Each attempt at a run writes its own file, `<model_version>.joblib` for the first and
`<model_version>~attempt-<n>.joblib` for a retry (`~` is never in a model version), so an
execution that lost its run can neither overwrite nor delete the model of the one that took
over. Files are written atomically (storage_root.write_atomically): a reader never sees half
a model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from trainql.ml.storage import storage_errors
from trainql.storage_root import (
    StorageRoot,
    is_local,
    open_for_reading,
    remove,
    siblings,
    write_atomically,
)

SUFFIX = ".joblib"
MODEL_DIR_LOCATION = "the model directory (TRAINQL_MODEL_DIR)"


def model_name(model_version: str, attempt: int = 1) -> str:
    """The file name of attempt `attempt` at the run of `model_version`."""
    if attempt <= 1:
        return f"{model_version}{SUFFIX}"
    return f"{model_version}~attempt-{attempt}{SUFFIX}"


def model_location(model_dir: StorageRoot, model_version: str, attempt: int = 1) -> str:
    """Where attempt `attempt` at the run of `model_version` writes its model (the version
    is validated upstream: no separators, so it stays inside the model directory)."""
    return model_dir.child(model_name(model_version, attempt))


@dataclass(frozen=True, slots=True)
class SavedModel:
    """Where a model was written, and the SHA-256 (hex) of the bytes written there."""

    location: str
    sha256: str


class _DigestingWriter:
    """A binary file object that hashes every byte on its way to `handle`: the digest is of
    exactly what was written, with no second read (which on an object store would be a
    second download). joblib asks `tell()` to align its arrays."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._written = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._digest.update(data)
        self._handle.write(data)
        self._written += len(memoryview(data).cast("B"))
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._handle.flush()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def save_model(model: Any, location: str) -> SavedModel:
    """Write `model` to `location` so that readers see the whole file or none of it, and
    return the SHA-256 of its bytes (computed while writing).

    Raises InsufficientStorage when the storage is full, over quota or read-only (nothing
    is left behind then, as for any failed write)."""
    digests: list[str] = []

    def dump(handle: IO[bytes]) -> None:
        import joblib  # only workers save models; the service need not import it

        writer = _DigestingWriter(handle)
        joblib.dump(model, writer)
        digests.append(writer.hexdigest())

    with storage_errors(what="the fitted model", location=MODEL_DIR_LOCATION):
        write_atomically(location, dump)
    return SavedModel(location=location, sha256=digests[-1])


def sha256_of(data: bytes) -> str:
    """The hex SHA-256 of `data` (what save_model records)."""
    return hashlib.sha256(data).hexdigest()


def remove_model(location: str) -> None:
    """Delete a model file and any temporary file a killed writer left beside it."""
    remove(location)
    if is_local(location):
        name = location.rsplit("/", 1)[-1]
        for leftover in siblings(location, f".{name}.*.tmp"):
            remove(leftover)


def remove_attempts(model_dir: StorageRoot, model_version: str, *, up_to: int) -> None:
    """Delete the models (and leftovers) of attempts 1 to `up_to` at one run."""
    for attempt in range(1, max(up_to, 1) + 1):
        remove_model(model_location(model_dir, model_version, attempt))


def load_model(location: str | Path) -> Any:
    """A fitted pipeline written by `save_model` (only ever load files this service wrote)."""
    import joblib

    location = str(location)
    if is_local(location):
        return joblib.load(location.split("://", 1)[-1])
    with open_for_reading(location) as handle:
        return joblib.load(handle)
