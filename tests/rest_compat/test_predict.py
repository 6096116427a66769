"""POST /api/training/runs/{id}/predict/ and POST /api/models/{alias}/predict/: JSON rows and
CSV files, through real HTTP into the app, with real trainings."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pandas as pd

from tests.factories import Factory
from tests.prediction_support import (
    PROBABILITY_TOLERANCE,
    json_rows,
    pipeline_answers,
    point_alias,
    split_rows_of,
    train_run,
)
from trainql.ml.default_dataset import default_dataset_source
from trainql.services import Services


async def test_json_rows_answer_labels_and_probabilities_by_class(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given
    hr = await factory.hr_staff()
    run = await train_run(client, hr)
    frame = split_rows_of(services, run)
    # when
    response = await client.post(
        f"/api/training/runs/{run['id']}/predict/",
        json={"rows": json_rows(frame)},
        headers=hr.headers,
    )
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"model_version", "training_run_id", "predictions", "ignored_columns"}
    assert (body["model_version"], body["training_run_id"]) == (
        run["modelVersion"],
        int(run["id"]),
    )
    labels, probabilities, classes = pipeline_answers(run, frame)
    assert [p["label"] for p in body["predictions"]] == labels
    got = np.array([[p["probabilities"][c] for c in classes] for p in body["predictions"]])
    assert list(body["predictions"][0]["probabilities"]) == classes
    assert np.abs(got - probabilities).max() < PROBABILITY_TOLERANCE


async def test_the_alias_route_uses_the_run_the_alias_names(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    await point_alias(services, "staging", run["id"])
    row = json_rows(split_rows_of(services, run).head(1))[0]
    response = await client.post(
        "/api/models/staging/predict", json={"rows": [dict(row, note="x")]}, headers=hr.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["training_run_id"] == int(run["id"])
    assert response.json()["ignored_columns"] == ["note"]
    missing = await client.post(
        "/api/models/nope/predict/", json={"rows": [row]}, headers=hr.headers
    )
    assert (missing.status_code, missing.json()) == (404, {"detail": "No model alias 'nope'."})


async def test_a_csv_file_round_trips_with_predicted_and_probability_columns(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: the test split as a CSV file, with an extra column
    hr = await factory.hr_staff()
    run = await train_run(client, hr)
    frame = split_rows_of(services, run)
    sent = frame.assign(comment="kept")
    content = sent.to_csv(index=False).encode()
    # when
    response = await client.post(
        f"/api/training/runs/{run['id']}/predict/",
        files={"file": ("rows.csv", content, "text/csv")},
        headers=hr.headers,
    )
    # then: the input columns as sent, the prediction and one probability per class
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    answer = pd.read_csv(io.BytesIO(response.content))
    labels, probabilities, classes = pipeline_answers(run, frame)
    assert list(answer.columns) == [
        *sent.columns,
        "predicted_future_need_level",
        *(f"probability_{c}" for c in classes),
    ]
    pd.testing.assert_frame_equal(
        answer[list(sent.columns)].reset_index(drop=True),
        pd.read_csv(io.BytesIO(content)),
    )
    assert answer["predicted_future_need_level"].tolist() == labels
    got = answer[[f"probability_{c}" for c in classes]].to_numpy()
    assert np.abs(got - probabilities).max() < PROBABILITY_TOLERANCE


async def test_a_large_csv_streams_in_chunks_with_one_header(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    whole = pd.read_csv(default_dataset_source()).drop(columns=["future_need_level"])
    big = pd.concat([whole] * 70, ignore_index=True)  # 24,990 rows: two chunks
    response = await client.post(
        f"/api/training/runs/{run['id']}/predict/",
        files={"file": ("rows.csv", big.to_csv(index=False).encode(), "text/csv")},
        headers=hr.headers,
    )
    assert response.status_code == 200, response.text
    answer = pd.read_csv(io.BytesIO(response.content))
    assert len(answer) == len(big)
    assert answer["predicted_future_need_level"].notna().all()


async def test_bad_csv_files_are_400_naming_line_or_column(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    frame = split_rows_of(services, run).head(5).reset_index(drop=True)
    url = f"/api/training/runs/{run['id']}/predict/"

    async def send(content: bytes, name: str = "file") -> httpx.Response:
        return await client.post(
            url, files={name: ("rows.csv", content, "text/csv")}, headers=hr.headers
        )

    lacking = await send(frame.drop(columns=["skill_name"]).to_csv(index=False).encode())
    assert lacking.status_code == 400
    assert lacking.json()["detail"].startswith(
        "The CSV file lacks the model's input column(s) 'skill_name'"
    )
    bad = frame.astype(object)
    bad.loc[3, "avg_salary_k"] = "plenty"
    wrong = await send(bad.to_csv(index=False).encode())
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == (
        "Line 5, column 'avg_salary_k': expected a finite number or an empty cell, got 'plenty'."
    )
    empty = await send(frame.head(0).to_csv(index=False).encode())
    assert empty.json() == {"detail": "The CSV file has a header row but no data rows to predict."}
    unnamed = await send(b"a,b\n1,2\n", name="upload")
    assert unnamed.status_code == 400
    assert unnamed.json()["errors"] == {"file": ["This field is required."]}


async def test_bad_json_bodies_are_400_and_unknown_or_unready_runs_say_which(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    url = f"/api/training/runs/{run['id']}/predict/"
    no_rows = await client.post(url, json={"row": row}, headers=hr.headers)
    assert (no_rows.status_code, no_rows.json()["errors"]) == (
        400,
        {"rows": ["This field is required."]},
    )
    empty = await client.post(url, json={"rows": []}, headers=hr.headers)
    assert (empty.status_code, empty.json()["errors"]) == (
        400,
        {"rows": ["Give at least one row."]},
    )
    text = await client.post(url, json={"rows": [dict(row, trend_score="x")]}, headers=hr.headers)
    assert text.status_code == 400
    assert text.json() == {
        "detail": "Row 0, column 'trend_score': expected a number or null, got 'x'.",
        "errors": {
            "rows[0].trend_score": [
                "Row 0, column 'trend_score': expected a number or null, got 'x'."
            ]
        },
    }
    unknown = await client.post(
        "/api/training/runs/424242/predict/", json={"rows": [row]}, headers=hr.headers
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "Training run 424242 not found."},
    )
    malformed = await client.post(
        "/api/training/runs/abc/predict/", json={"rows": [row]}, headers=hr.headers
    )
    assert (malformed.status_code, malformed.json()) == (
        404,
        {"detail": "Training run 'abc' not found."},
    )
    failed = await factory.training_run(status="FAILED", model_path=None, error_message="boom")
    refused = await client.post(
        f"/api/training/runs/{failed.id}/predict/", json={"rows": [row]}, headers=hr.headers
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"Training run {failed.id} is FAILED, not COMPLETED: only a completed run has a model "
        "to predict with."
    )


async def test_ten_thousand_rows_pass_the_body_guard_and_one_more_is_refused(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    url = f"/api/training/runs/{run['id']}/predict/"
    many = await client.post(url, json={"rows": [row] * 10_000}, headers=hr.headers)
    assert many.status_code == 200, many.text[:300]
    assert len(many.json()["predictions"]) == 10_000
    assert len(many.request.content) > services.settings.max_body_kb * 1024
    too_many = await client.post(url, json={"rows": [row] * 10_001}, headers=hr.headers)
    assert too_many.status_code == 400
    assert too_many.json()["detail"].startswith("10001 rows is more than the 10000")
    # other routes keep TRAINQL_MAX_BODY_KB
    other = await client.post(
        "/api/training/train/", json={"notes": "x" * (1100 * 1024)}, headers=hr.headers
    )
    assert other.status_code == 413


async def test_permissions_and_the_openapi_document(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    url = f"/api/training/runs/{run['id']}/predict/"
    anonymous = await client.post(url, json={"rows": [row]})
    assert anonymous.status_code == 401
    plain = await factory.account("plain")
    forbidden = await client.post(url, json={"rows": [row]}, headers=plain.headers)
    assert forbidden.status_code == 403
    manager = await factory.manager()
    allowed = await client.post(url, json={"rows": [row]}, headers=manager.headers)
    assert allowed.status_code == 200
    document = (await client.get("/api/openapi.json")).json()
    for path in ("/api/training/runs/{run_id}/predict", "/api/models/{alias}/predict"):
        content = document["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}


def test_the_json_answer_reads_back_as_the_prediction_for_any_class_names():
    # given: class names with JSON and %-format specials, and probabilities of every size
    from types import SimpleNamespace

    from trainql.ml.serving import RowsPrediction
    from trainql.resolvers.predictions import PredictionResult
    from trainql.rest_compat.predictions import _answer

    classes = ("%s", 'say "hi"', "é\\n")
    probabilities = [[1e-05, 0.30000001192092896, 0.69999], [1.0, 0.0, 0.0], [0.5, 2.5e-8, 0.5]]
    run = SimpleNamespace(id=7, model_version="v%d")
    result = PredictionResult(
        run=run,  # type: ignore[arg-type]
        prediction=RowsPrediction(classes, ["é\\n", "%s", 'say "hi"'], probabilities),
        ignored_columns=["x"],
    )
    # when
    body = json.loads(_answer(result))
    # then
    assert body == {
        "model_version": "v%d",
        "training_run_id": 7,
        "predictions": [
            {"label": label, "probabilities": dict(zip(classes, p, strict=True))}
            for label, p in zip(["é\\n", "%s", 'say "hi"'], probabilities, strict=True)
        ],
        "ignored_columns": ["x"],
    }
