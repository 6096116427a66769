"""Shared by the prediction tests of both transports: a trained run, its test split as JSON
rows, the stored pipeline's own answers, and an alias pointed at a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tests.factories import Account, graphql
from trainql.db.models import ModelAliasRow
from trainql.ml import loading
from trainql.ml.model_store import load_model
from trainql.services import Services

# Measured on the default dataset: labels equal on every row, probabilities within 4.2e-7.
PROBABILITY_TOLERANCE = 1e-6

TRAIN = """
mutation Train($input: TrainModelInput) {
  trainModel(input: $input) {
    trainingRun { id modelVersion status modelPath targetColumn datasetPath }
  }
}
"""


async def train_run(client: httpx.AsyncClient, hr: Account, **given: Any) -> dict[str, Any]:
    """A COMPLETED run trained through the API (30 trees unless `hyperparameters` given)."""
    body = await graphql(
        client,
        TRAIN,
        {"input": {"hyperparameters": {"nEstimators": 30}, **given}},
        headers=hr.headers,
    )
    run: dict[str, Any] = body["data"]["trainModel"]["trainingRun"]
    assert run["status"] == "COMPLETED", body
    return run


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them (NaN as null)."""
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def split_rows_of(services: Services, run: dict[str, Any]) -> pd.DataFrame:
    """The features of the run's test split (the split training made)."""
    path = Path(services.settings.data_location.child(run["datasetPath"]))
    features, target = loading.load_training_frame(
        path, display=path.name, target_column=run["targetColumn"], test_split=0.2
    )
    _x, x_test, _y, _y_test = train_test_split(
        features, target, test_size=0.2, stratify=target, random_state=42
    )
    return x_test


def pipeline_answers(run: dict[str, Any], frame: pd.DataFrame) -> tuple[list[str], Any, list[str]]:
    """The stored pipeline's labels, probabilities and classes for `frame`."""
    pipeline = load_model(run["modelPath"])
    labels = [str(label) for label in pipeline.predict(frame)]
    return labels, pipeline.predict_proba(frame), [str(c) for c in pipeline.classes_]


async def point_alias(services: Services, alias: str, run_id: int | str) -> None:
    """Point `alias` at a run by writing its row directly (the alias API is not ours)."""
    async with services.db.session() as session:
        found = await session.get(ModelAliasRow, alias)
        if found is None:
            session.add(ModelAliasRow(alias=alias, training_run_id=int(run_id)))
        else:
            found.training_run_id = int(run_id)
            session.add(found)
