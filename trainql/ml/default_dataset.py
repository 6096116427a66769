"""The default dataset: shipped inside the package, copied into the data root on start."""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from trainql.constants import DEFAULT_DATASET_PATH


def default_dataset_source() -> Path:
    """The default dataset shipped inside the package."""
    return Path(str(resources.files("trainql.ml") / "data" / "future_skills_dataset.csv"))


def install_default_dataset(data_root: Path) -> Path:
    """Copy the shipped default dataset into the data root unless a file is already there."""
    target = data_root / DEFAULT_DATASET_PATH
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # A private temporary name: several uvicorn workers may start at once.
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        shutil.copyfile(default_dataset_source(), partial)
        os.replace(partial, target)
    return target
