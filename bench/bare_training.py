"""The baseline: the same pipeline as trainql's, in a plain scikit-learn script.

    python bench/bare_training.py DATA.csv MODEL.joblib N_ESTIMATORS MAX_DEPTH(0=unlimited)

Prints one JSON line: wall seconds from after the imports (read, split, fit, evaluate,
save) and the process's peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder


def main() -> None:
    csv, model_path, n_estimators, max_depth = sys.argv[1:5]
    started = time.perf_counter()
    frame = pd.read_csv(csv)
    target = frame.pop("future_need_level").astype(str)
    numeric = list(frame.select_dtypes("number").columns)
    categorical = [c for c in frame.columns if c not in numeric]
    x_train, x_test, y_train, y_test = train_test_split(
        frame, target, test_size=0.2, stratify=target, random_state=42
    )
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [
                        (
                            "categorical",
                            OrdinalEncoder(
                                handle_unknown="use_encoded_value",
                                unknown_value=-1,
                                encoded_missing_value=-2,
                            ),
                            categorical,
                        ),
                        ("numeric", SimpleImputer(strategy="median"), numeric),
                    ]
                ),
            ),
            (
                "forest",
                RandomForestClassifier(
                    n_estimators=int(n_estimators),
                    max_depth=int(max_depth) or None,
                    random_state=42,
                    n_jobs=-1,
                ),
            ),
        ]
    )
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    accuracy = accuracy_score(y_test, predicted)
    precision_recall_fscore_support(y_test, predicted, average="weighted", zero_division=0)
    joblib.dump(pipeline, model_path)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall_seconds": round(wall, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "accuracy": accuracy,
            }
        )
    )


if __name__ == "__main__":
    main()
