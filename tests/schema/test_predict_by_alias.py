"""An alias moved while 8 clients predict by it: every answer comes whole from the old
model or the new one, and there are no errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.factories import Factory, graphql
from tests.prediction_support import json_rows, split_rows_of, train_run
from trainql.services import Services

SET = """
mutation Set($alias: String!, $run: ID!) {
  setModelAlias(alias: $alias, trainingRunId: $run) { trainingRun { id } }
}
"""
PREDICT = """
query Predict($input: PredictInput!) {
  predict(input: $input) {
    trainingRun { id }
    predictions { label probabilities { label probability } }
  }
}
"""
CLIENTS = 8
MOVES = 40


def _answer(body: dict[str, Any]) -> tuple[str, str]:
    """The run that answered, and its predictions as one comparable value."""
    result = body["data"]["predict"]
    return result["trainingRun"]["id"], json.dumps(result["predictions"], sort_keys=True)


async def test_an_alias_moved_while_clients_predict_answers_whole_from_one_model(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: two models that answer the same rows differently, and each one's own answers
    hr = await factory.hr_staff()
    runs = [
        await train_run(client, hr, modelVersion="few-trees", hyperparameters={"nEstimators": 2}),
        await train_run(client, hr, modelVersion="many-trees", hyperparameters={"nEstimators": 40}),
    ]
    ids = [run["id"] for run in runs]
    rows = json_rows(split_rows_of(services, runs[0]).head(25))
    known = {}
    for run_id in ids:
        body = await graphql(
            client, PREDICT, {"input": {"trainingRunId": run_id, "rows": rows}}, hr.headers
        )
        assert "errors" not in body, body
        known[run_id] = _answer(body)[1]
    assert known[ids[0]] != known[ids[1]], "the two models must answer these rows differently"
    body = await graphql(client, SET, {"alias": "production", "run": ids[0]}, hr.headers)
    assert "errors" not in body, body
    answers: list[tuple[str, str]] = []
    errors: list[Any] = []
    moving = True

    async def predict_in_a_loop() -> None:
        while moving:
            body = await graphql(
                client, PREDICT, {"input": {"alias": "production", "rows": rows}}, hr.headers
            )
            if "errors" in body:
                errors.append(body["errors"])
            else:
                answers.append(_answer(body))

    async def move() -> None:
        nonlocal moving
        try:
            for n in range(MOVES):
                body = await graphql(
                    client, SET, {"alias": "production", "run": ids[(n + 1) % 2]}, hr.headers
                )
                assert "errors" not in body, body
                await asyncio.sleep(0.01)
        finally:
            moving = False

    # when: 8 clients predict by the alias while another moves it between the two runs
    await asyncio.gather(move(), *(predict_in_a_loop() for _ in range(CLIENTS)))

    # then: no errors; each answer is exactly one model's own, named by that model's run;
    # and answers came from both (the moves happened while clients predicted)
    assert errors == []
    assert len(answers) >= CLIENTS * 5, len(answers)
    wrong = [(run_id, p[:80]) for run_id, p in answers if p != known[run_id]]
    assert wrong == []
    assert {run_id for run_id, _ in answers} == set(ids)
