"""The default dataset: shipped inside the package, copied into the data root on start."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from trainql.constants import DEFAULT_DATASET_PATH
from trainql.ml.storage import copy_file_atomically
from trainql.ml.uploads import DATA_ROOT_LOCATION


def default_dataset_source() -> Path:
    """The default dataset shipped inside the package."""
    return Path(str(resources.files("trainql.ml") / "data" / "future_skills_dataset.csv"))


def install_default_dataset(data_root: Path) -> Path:
    """Copy the shipped default dataset into the data root unless a file is already there.

    The copy is atomic (several uvicorn workers may start at once) and a failed one leaves no
    partial file; a full or read-only data root is InsufficientStorage naming
    TRAINQL_DATA_ROOT.
    """
    target = data_root / DEFAULT_DATASET_PATH
    if not target.exists():
        copy_file_atomically(
            default_dataset_source(),
            target,
            what=f"the default dataset {DEFAULT_DATASET_PATH}",
            location=DATA_ROOT_LOCATION,
        )
    return target
