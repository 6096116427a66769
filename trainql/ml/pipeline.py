"""The scikit-learn pipeline every run fits: encoders for categoricals, a random forest."""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from trainql.constants import RANDOM_STATE
from trainql.training_request import Hyperparameters

# Codes for categories the encoder never saw in the training split, and for missing values.
UNKNOWN_CATEGORY = -1
MISSING_CATEGORY = -2


def split_feature_kinds(features: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(categorical, numeric) column names: numbers are numeric, anything else (text,
    booleans) is categorical."""
    numeric = [
        str(c)
        for c in features.columns
        if is_numeric_dtype(features[c]) and not is_bool_dtype(features[c])
    ]
    categorical = [str(c) for c in features.columns if str(c) not in set(numeric)]
    return categorical, numeric


def build_pipeline(
    *,
    categorical: list[str],
    numeric: list[str],
    hyperparameters: Hyperparameters,
    random_state: int = RANDOM_STATE,
    n_jobs: int = -1,
) -> Pipeline:
    """An unfitted pipeline; its transformed columns are `categorical + numeric`, one each.

    Ordinal codes (not one-hot) keep one column per feature: trees split on them well, the
    matrix stays dense and small for a million rows, and feature importances map back to
    the input columns directly.
    """
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=UNKNOWN_CATEGORY,
                    encoded_missing_value=MISSING_CATEGORY,
                ),
                categorical,
            ),
            # keep_empty_features: an all-missing column stays (as zeros), so the output
            # keeps one column per input feature.
            ("numeric", SimpleImputer(strategy="median", keep_empty_features=True), numeric),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    forest = RandomForestClassifier(
        # The request's hyperparameters are the forest's own, by name.
        **hyperparameters.model_dump(),
        random_state=random_state,
        n_jobs=n_jobs,
    )
    return Pipeline([("encode", encode), ("forest", forest)])
