"""Batches: a JSON array of operations over POST (Apollo's BatchHttpLink), answered in order."""

from __future__ import annotations

import httpx

from tests.factories import Factory, error_codes
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings

RUN = "query Run($id: ID!) { trainingRun(id: $id) { id modelVersion } }"
ME = "{ me { username } }"


async def test_a_batch_of_ten_is_answered_in_order(client: httpx.AsyncClient, factory: Factory):
    # given nine runs and a manager; the batch also asks for a run that does not exist
    runs = [await factory.training_run() for _ in range(9)]
    account = await factory.manager()
    ids = [str(run.id) for run in runs[:5]] + ["999999"] + [str(run.id) for run in runs[5:]]
    batch = [{"query": RUN, "variables": {"id": run_id}} for run_id in ids]

    # when
    response = await client.post("/graphql", json=batch, headers=account.headers)

    # then one answer per operation, in the order sent, each with its own errors
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == 10
    assert answers[5]["data"] == {"trainingRun": None}
    assert error_codes(answers[5]) == ["NOT_FOUND"]
    found = [a["data"]["trainingRun"] for i, a in enumerate(answers) if i != 5]
    assert found == [{"id": str(r.id), "modelVersion": r.model_version} for r in runs]


async def test_a_batch_mixes_queries_and_mutations_with_one_authorization(
    client: httpx.AsyncClient, factory: Factory
):
    account = await factory.hr_staff()
    login = 'mutation { obtainToken(username: "hr", password: "wrong") { token } }'

    response = await client.post(
        "/graphql", json=[{"query": ME}, {"query": login}], headers=account.headers
    )

    me, refused = response.json()
    assert me == {"data": {"me": {"username": "hr"}}}
    assert error_codes(refused) == ["BAD_USER_INPUT"]


async def test_a_batch_of_eleven_is_refused(client: httpx.AsyncClient):
    response = await client.post("/graphql", json=[{"query": ME}] * 11)

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "A batch may hold at most 10 operations; this one has 11 "
                "(limit TRAINQL_GRAPHQL_MAX_BATCH = 10).",
                "extensions": {"code": "BATCH_TOO_LARGE"},
            }
        ]
    }


async def test_malformed_batches_are_refused(client: httpx.AsyncClient):
    empty = await client.post("/graphql", json=[])
    assert empty.status_code == 400
    assert empty.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "at least one operation" in empty.json()["errors"][0]["message"]

    not_object = await client.post("/graphql", json=[{"query": ME}, "{ me { id } }"])
    assert not_object.status_code == 400
    assert "Batch item 1 is not an object" in not_object.json()["errors"][0]["message"]

    bad_variables = await client.post("/graphql", json=[{"query": ME, "variables": [1]}])
    assert bad_variables.status_code == 400
    assert "`variables` must be an object" in bad_variables.json()["errors"][0]["message"]


async def test_batch_size_follows_the_setting(settings: Settings):
    for size, allowed in ((3, True), (0, False)):
        app = create_app(settings.model_copy(update={"graphql_max_batch": size}))
        async with app_lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post("/graphql", json=[{"query": ME}] * 3)
        if allowed:
            assert response.json() == [{"data": {"me": None}}] * 3
        else:
            assert response.status_code == 400
            assert response.json()["errors"][0]["extensions"]["code"] == "BATCHING_DISABLED"
