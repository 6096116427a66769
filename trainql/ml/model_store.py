"""Fitted pipelines on disk: `<model_dir>/<model_version>.joblib`, written atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

SUFFIX = ".joblib"


def model_path(model_dir: Path, model_version: str) -> Path:
    """Where the model of `model_version` lives (the version is validated upstream)."""
    return model_dir / f"{model_version}{SUFFIX}"


def save_model(model: Any, path: Path) -> Path:
    """Write `model` to `path` so that readers see the whole file or none of it.

    The pickle goes to a temporary file in the same directory, is flushed to disk, and is
    then renamed over `path` (a rename within one filesystem is atomic).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            import joblib  # only workers save models; the service need not import it

            joblib.dump(model, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def remove_model(path: Path) -> None:
    """Delete a model file and any temporary file a killed writer left beside it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def load_model(path: Path) -> Any:
    """A fitted pipeline written by `save_model` (only ever load files this service wrote)."""
    import joblib

    return joblib.load(path)
