"""Values several layers share. Each lives here once."""

from __future__ import annotations

# Every forest is seeded with this, so the same data and hyperparameters give the same model.
RANDOM_STATE = 42
# The default dataset, relative to the data root, and its target column. The package ships
# the file (ml/data/) and copies it into the data root on start.
DEFAULT_DATASET_PATH = "ml/data/future_skills_dataset.csv"
DEFAULT_TARGET_COLUMN = "future_need_level"
