"""The default dataset: shipped inside the package, copied into the data root on start."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from trainql.constants import DEFAULT_DATASET_PATH
from trainql.ml.storage import storage_errors
from trainql.ml.uploads import DATA_ROOT_LOCATION
from trainql.storage_root import StorageRoot, kind_of, put_file_atomically


def default_dataset_source() -> Path:
    """The default dataset shipped inside the package."""
    return Path(str(resources.files("trainql.ml") / "data" / "future_skills_dataset.csv"))


def install_default_dataset(data_root: StorageRoot | Path) -> str:
    """Copy the shipped default dataset into the data root unless a file is already there;
    returns its location.

    The copy is atomic (several processes may start at once) and a failed one leaves no
    partial file; a full or read-only data root is InsufficientStorage naming
    TRAINQL_DATA_ROOT.
    """
    target = StorageRoot.of(data_root, setting="TRAINQL_DATA_ROOT").child(DEFAULT_DATASET_PATH)
    if kind_of(target) is None:
        with storage_errors(
            what=f"the default dataset {DEFAULT_DATASET_PATH}", location=DATA_ROOT_LOCATION
        ):
            put_file_atomically(default_dataset_source(), target)
    return target
