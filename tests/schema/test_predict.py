"""Query.predict and TrainingRun.inputSchema through GraphQL over HTTP, with real trainings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import numpy as np
import pandas as pd
import pytest

from tests.factories import Factory, error_codes, graphql
from tests.lifespan import app_lifespan
from tests.prediction_support import (
    PROBABILITY_TOLERANCE,
    json_rows,
    pipeline_answers,
    point_alias,
    split_rows_of,
    train_run,
)
from tests.statements import counted_statements, without_token_check
from trainql.app import create_app
from trainql.config import Settings
from trainql.ml.default_dataset import default_dataset_source
from trainql.schema.predictions.types import PredictionList
from trainql.services import Services

PREDICT = """
query Predict($input: PredictInput!) {
  predict(input: $input) {
    trainingRun { id modelVersion }
    predictions { label probabilities { label probability } }
    ignoredColumns
  }
}
"""

INPUT_SCHEMA = """
query($id: ID!) { trainingRun(id: $id) { status inputSchema { name kind categories } } }
"""


def _check_equal(predictions: list[dict[str, Any]], expected: tuple[Any, ...]) -> None:
    labels, probabilities, classes = expected
    assert [p["label"] for p in predictions] == labels
    for got, want in zip(predictions, probabilities, strict=True):
        assert [c["label"] for c in got["probabilities"]] == classes
        diff = np.abs(np.array([c["probability"] for c in got["probabilities"]]) - want)
        assert diff.max() < PROBABILITY_TOLERANCE


async def test_predictions_equal_the_stored_pipelines_on_the_test_split(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given
    hr = await factory.hr_staff()
    run = await train_run(client, hr)
    frame = split_rows_of(services, run)
    # when
    body = await graphql(
        client,
        PREDICT,
        {"input": {"trainingRunId": run["id"], "rows": json_rows(frame)}},
        headers=hr.headers,
    )
    # then
    result = body["data"]["predict"]
    assert result["trainingRun"] == {"id": run["id"], "modelVersion": run["modelVersion"]}
    assert result["ignoredColumns"] == []
    assert len(result["predictions"]) == 72
    _check_equal(result["predictions"], pipeline_answers(run, frame))


async def test_an_uploaded_dataset_with_another_target_predicts_the_same(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: the default file uploaded, trained to predict skill_category
    hr = await factory.hr_staff()
    upload = await client.post(
        "/ai/datasets",
        data={"name": "skills"},
        files={"file": ("skills.csv", default_dataset_source().read_bytes(), "text/csv")},
        headers=hr.headers,
    )
    dataset_id = upload.json()["id"]
    run = await train_run(client, hr, datasetId=dataset_id, targetColumn="skill_category")
    frame = split_rows_of(services, run)
    assert "future_need_level" in frame.columns
    # when: chosen by model version this time
    body = await graphql(
        client,
        PREDICT,
        {"input": {"modelVersion": run["modelVersion"], "rows": json_rows(frame)}},
        headers=hr.headers,
    )
    # then
    predictions = body["data"]["predict"]["predictions"]
    expected = pipeline_answers(run, frame)
    categories = pd.read_csv(default_dataset_source())["skill_category"]
    assert expected[2] == sorted(set(categories))
    _check_equal(predictions, expected)


async def test_input_schema_lists_columns_kinds_and_categories_once_completed(
    client: httpx.AsyncClient, factory: Factory
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr)
    body = await graphql(client, INPUT_SCHEMA, {"id": run["id"]}, headers=hr.headers)
    schema = body["data"]["trainingRun"]["inputSchema"]
    assert [c["name"] for c in schema][:5] == [
        "job_role_name",
        "skill_name",
        "skill_category",
        "job_department",
        "trend_score",
    ]
    assert len(schema) == 11
    department = schema[3]
    assert department["kind"] == "CATEGORICAL"
    assert set(department["categories"]) >= {"Human Resources", "Operations", "Product"}
    assert schema[4] == {"name": "trend_score", "kind": "NUMERIC", "categories": None}
    # a run not COMPLETED has none; nor does one from a list page without its details read
    queued = await factory.training_run(status="QUEUED", model_path=None)
    body = await graphql(client, INPUT_SCHEMA, {"id": str(queued.id)}, headers=hr.headers)
    assert body["data"]["trainingRun"] == {"status": "QUEUED", "inputSchema": None}
    listed = await graphql(
        client,
        "{ trainingRuns(filter: {status: [COMPLETED]}) { nodes { id inputSchema { name } } } }",
        headers=hr.headers,
    )
    nodes = {n["id"]: n["inputSchema"] for n in listed["data"]["trainingRuns"]["nodes"]}
    assert len(nodes[run["id"]]) == 11


async def test_alias_selector_predicts_with_the_run_it_points_at(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr)
    await point_alias(services, "production", run["id"])
    row = json_rows(split_rows_of(services, run).head(1))[0]
    body = await graphql(
        client,
        PREDICT,
        {"input": {"alias": "production", "rows": [dict(row, comment="extra", x=1)]}},
        headers=hr.headers,
    )
    result = body["data"]["predict"]
    assert result["trainingRun"]["id"] == run["id"]
    assert result["ignoredColumns"] == ["comment", "x"]
    assert abs(sum(p["probability"] for p in result["predictions"][0]["probabilities"]) - 1) < 1e-5


async def test_a_run_predicted_with_once_is_not_read_again_but_an_alias_is(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: two runs, predicted with once each, and an alias on the first
    hr = await factory.hr_staff()
    first = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    second = await train_run(client, hr, hyperparameters={"nEstimators": 6})
    rows = json_rows(split_rows_of(services, first).head(1))

    async def predict_with(**selector: str) -> dict[str, Any]:
        body = await graphql(
            client, PREDICT, {"input": {**selector, "rows": rows}}, headers=hr.headers
        )
        return dict(body["data"]["predict"]["trainingRun"])

    # Runs are read again after a second (their trainer may change); not within this test.
    services.completed_runs.max_age_s = 3600
    for run in (first, second):
        await predict_with(trainingRunId=run["id"])
    await point_alias(services, "production", first["id"])
    # when: predicting by id and by version again, then by the alias before and after a move
    with counted_statements(services) as by_id_and_version:
        assert await predict_with(trainingRunId=first["id"]) == {
            "id": first["id"],
            "modelVersion": first["modelVersion"],
        }
        assert (await predict_with(modelVersion=second["modelVersion"]))["id"] == second["id"]
    with counted_statements(services) as before_move:
        before = await predict_with(alias="production")
    await point_alias(services, "production", second["id"])
    with counted_statements(services) as after_move:
        after = await predict_with(alias="production")
    # then: the runs came from memory, the alias from the database each time, moved at once
    assert without_token_check(by_id_and_version) == []
    assert before["id"] == first["id"] and after["id"] == second["id"]
    for statements in (before_move, after_move):
        assert [s for s in without_token_check(statements) if "model_aliases" in s], statements
        assert not any("FROM training_runs" in s for s in statements)


async def test_every_bad_input_has_its_code_and_message(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    old = await factory.training_run()  # COMPLETED, without digest or schema (before 0009)
    queued = await factory.training_run(status="QUEUED", model_path=None)

    async def refusal(given: dict[str, Any]) -> tuple[list[str], str, dict[str, Any]]:
        body = await graphql(client, PREDICT, {"input": given}, headers=hr.headers)
        assert body["data"] is None
        error = body["errors"][0]
        return error_codes(body), error["message"], error["extensions"].get("fields", {})

    rid = run["id"]
    codes, message, fields = await refusal({"rows": [row]})
    assert codes == ["BAD_USER_INPUT"]
    assert (
        message == "Give exactly one of trainingRunId, modelVersion or alias to choose the model."
    )
    codes, message, _ = await refusal({"trainingRunId": rid, "alias": "x", "rows": [row]})
    assert "(got trainingRunId, alias)" in message
    codes, message, fields = await refusal({"trainingRunId": rid, "rows": []})
    assert codes == ["BAD_USER_INPUT"]
    assert fields == {"rows": ["Give at least one row."]}
    codes, message, fields = await refusal({"trainingRunId": rid, "rows": [row, [1, 2]]})
    assert message == "Row 1 is not a JSON object of column values."
    no_skill = {k: v for k, v in row.items() if k != "skill_name"}
    codes, message, fields = await refusal({"trainingRunId": rid, "rows": [row, no_skill]})
    assert codes == ["BAD_USER_INPUT"]
    assert message == "Row 1 has no value for column 'skill_name' (give null for a missing value)."
    assert list(fields) == ["rows[1].skill_name"]
    codes, message, fields = await refusal(
        {"trainingRunId": rid, "rows": [dict(row, trend_score="high")]}
    )
    assert message == "Row 0, column 'trend_score': expected a number or null, got 'high'."
    assert list(fields) == ["rows[0].trend_score"]
    assert await refusal({"trainingRunId": "999999", "rows": [row]}) == (
        ["NOT_FOUND"],
        "Training run 999999 not found.",
        {},
    )
    assert (await refusal({"alias": "nope", "rows": [row]}))[:2] == (
        ["NOT_FOUND"],
        "No model alias 'nope'.",
    )
    assert (await refusal({"modelVersion": "nope", "rows": [row]}))[:2] == (
        ["NOT_FOUND"],
        "No training run has model version 'nope'.",
    )
    codes, message, _ = await refusal({"trainingRunId": str(queued.id), "rows": [row]})
    assert codes == ["MODEL_UNAVAILABLE"]
    assert message.startswith(f"Training run {queued.id} is QUEUED, not COMPLETED")
    codes, message, _ = await refusal({"trainingRunId": str(old.id), "rows": [row]})
    assert codes == ["MODEL_UNAVAILABLE"]
    assert "train the model again" in message
    # an unseen category is not an error
    body = await graphql(
        client,
        PREDICT,
        {"input": {"trainingRunId": rid, "rows": [dict(row, skill_name="Underwater Chess")]}},
        headers=hr.headers,
    )
    assert len(body["data"]["predict"]["predictions"]) == 1
    # nothing was left behind: no run, the model files as they were
    assert sorted(p.name for p in services.settings.models_path.iterdir()) == [
        f"{run['modelVersion']}.joblib"
    ]


async def test_more_rows_than_the_limit_are_refused(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    services.settings.predict_max_rows = 3
    body = await graphql(
        client,
        PREDICT,
        {"input": {"trainingRunId": run["id"], "rows": [row] * 4}},
        headers=hr.headers,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == (
        "4 rows is more than the 3 one request may hold (TRAINQL_PREDICT_MAX_ROWS); send "
        "larger batches as a CSV file."
    )


async def test_a_model_file_that_vanished_or_changed_is_a_clear_error(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    variables = {"input": {"trainingRunId": run["id"], "rows": [row]}}
    assert "data" in await graphql(client, PREDICT, variables, headers=hr.headers)
    model = anyio.Path(run["modelPath"])
    original = await model.read_bytes()
    await model.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    body = await graphql(client, PREDICT, variables, headers=hr.headers)
    assert error_codes(body) == ["MODEL_UNAVAILABLE"]
    assert body["errors"][0]["message"].startswith(
        f"The model file of run {run['id']} changed since it was trained"
    )
    await model.unlink()
    body = await graphql(client, PREDICT, variables, headers=hr.headers)
    assert error_codes(body) == ["MODEL_UNAVAILABLE"]
    assert body["errors"][0]["message"].startswith(f"The model file of run {run['id']} is gone")


async def test_permissions_anonymous_plain_user_manager(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    variables = {"input": {"trainingRunId": run["id"], "rows": [row]}}
    anonymous = await graphql(client, PREDICT, variables)
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    plain = await factory.account("plain")
    assert error_codes(await graphql(client, PREDICT, variables, headers=plain.headers)) == [
        "FORBIDDEN"
    ]
    manager = await factory.manager()
    body = await graphql(client, PREDICT, variables, headers=manager.headers)
    assert len(body["data"]["predict"]["predictions"]) == 1


async def test_predict_is_a_query_so_it_also_goes_over_get(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    import json

    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    row = json_rows(split_rows_of(services, run).head(1))[0]
    response = await client.get(
        "/graphql",
        params={
            "query": PREDICT,
            "variables": json.dumps({"input": {"trainingRunId": run["id"], "rows": [row]}}),
        },
        headers=hr.headers,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["predict"]["predictions"]) == 1


SHAPED = """
query Shaped($input: PredictInput!, $typenames: Boolean!, $skipAgain: Boolean!) {
  predict(input: $input) {
    rows: predictions {
      __typename
      ...Label
      classes: probabilities {
        p: probability
        c: label
        __typename @include(if: $typenames)
        again: probability @skip(if: $skipAgain)
      }
      label
    }
  }
}
fragment Label on Prediction { first: label }
"""


async def test_the_selection_shapes_each_prediction_as_graphql_orders_it(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: plain predictions of five rows
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    rows = json_rows(split_rows_of(services, run).head(5))
    plain = await graphql(
        client, PREDICT, {"input": {"trainingRunId": run["id"], "rows": rows}}, headers=hr.headers
    )
    # when: the same rows under aliases, a fragment, __typename and @include/@skip
    variables = {"input": {"trainingRunId": run["id"], "rows": rows}}
    body = await graphql(
        client, SHAPED, {**variables, "typenames": True, "skipAgain": False}, headers=hr.headers
    )
    skipped = await graphql(
        client, SHAPED, {**variables, "typenames": False, "skipAgain": True}, headers=hr.headers
    )
    # then: every key in selection order, with the plain answer's values
    expected = [
        {
            "__typename": "Prediction",
            "first": p["label"],
            "classes": [
                {
                    "p": c["probability"],
                    "c": c["label"],
                    "__typename": "ClassProbability",
                    "again": c["probability"],
                }
                for c in p["probabilities"]
            ],
            "label": p["label"],
        }
        for p in plain["data"]["predict"]["predictions"]
    ]
    got = body["data"]["predict"]["rows"]
    assert got == expected
    assert [list(p) for p in got] == [list(p) for p in expected]
    assert [list(c) for c in got[0]["classes"]] == [list(c) for c in expected[0]["classes"]]
    assert {tuple(c) for p in skipped["data"]["predict"]["rows"] for c in p["classes"]} == {
        ("p", "c")
    }


async def test_the_one_pass_completion_answers_what_graphql_cores_own_does(
    client: httpx.AsyncClient,
    factory: Factory,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
):
    # given: 40 rows, asked with the shaped selection
    hr = await factory.hr_staff()
    run = await train_run(client, hr, hyperparameters={"nEstimators": 5})
    variables = {
        "input": {"trainingRunId": run["id"], "rows": json_rows(split_rows_of(services, run))[:40]},
        "typenames": True,
        "skipAgain": False,
    }
    one_pass = await client.post(
        "/graphql", json={"query": SHAPED, "variables": variables}, headers=hr.headers
    )
    # when: the list declines, so graphql-core completes every item and field itself
    monkeypatch.setattr(PredictionList, "complete", lambda _self, _selection: None)
    general = await client.post(
        "/graphql", json={"query": SHAPED, "variables": variables}, headers=hr.headers
    )
    # then: the same bytes
    assert one_pass.status_code == general.status_code == 200
    assert "errors" not in one_pass.json()
    assert one_pass.content == general.content


@pytest.fixture
async def small_cache_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose model cache holds one 10-tree model of the default dataset, not two
    (TRAINQL_MODEL_CACHE_MB; such a model is 43 KB as ONNX)."""
    application = create_app(settings.model_copy(update={"model_cache_mb": 0.06}))
    async with app_lifespan(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.app = application  # type: ignore[attr-defined]
            yield http


async def test_the_cache_evicts_under_a_small_model_cache_mb(small_cache_app: httpx.AsyncClient):
    # given: two models, each more than half the cache
    client = small_cache_app
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    factory = Factory(services)
    hr = await factory.hr_staff()
    runs = [await train_run(client, hr, hyperparameters={"nEstimators": 10}) for _ in range(2)]
    row = json_rows(split_rows_of(services, runs[0]).head(1))[0]

    async def predict(run: dict[str, Any]) -> None:
        variables = {"input": {"trainingRunId": run["id"], "rows": [row]}}
        assert "data" in await graphql(client, PREDICT, variables, headers=hr.headers)

    # when: a, b, a
    for run in (runs[0], runs[1], runs[0]):
        await predict(run)
    # then: each time the other one was evicted, and the bound held
    stats = services.models.stats()
    assert stats.loads == 3
    assert stats.evictions == 2
    assert stats.models == 1
    assert stats.bytes <= stats.max_bytes


async def test_concurrent_first_requests_load_the_model_once(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await train_run(client, hr)
    row = json_rows(split_rows_of(services, run).head(1))[0]
    variables = {"input": {"trainingRunId": run["id"], "rows": [row]}}
    bodies = await asyncio.gather(
        *(graphql(client, PREDICT, variables, headers=hr.headers) for _ in range(8))
    )
    assert all(len(b["data"]["predict"]["predictions"]) == 1 for b in bodies)
    assert services.models.stats().loads == 1
    assert services.models.stats().hits == 0  # all eight waited for the one load
