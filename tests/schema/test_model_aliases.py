"""Model aliases through GraphQL: setModelAlias, deleteModelAlias, modelAliases,
modelAliasChanges and TrainingRun.aliases."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, update
from sqlmodel import col, select

from tests.factories import Account, Factory, error_codes, graphql
from tests.statements import counted_statements, without_token_check
from trainql.db.models import ModelAliasChangeRow, ModelAliasRow, TrainingRunRow
from trainql.domain import TrainingRun, TrainingRunStatus
from trainql.services import Services

SET = """
mutation Set($alias: String!, $run: ID!) {
  setModelAlias(alias: $alias, trainingRunId: $run) {
    alias updatedAt updatedBy { username }
    trainingRun { id modelVersion aliases }
  }
}
"""
DELETE = "mutation Delete($alias: String!) { deleteModelAlias(alias: $alias) }"
LIST = """
{ modelAliases { alias updatedAt updatedBy { username } trainingRun { id modelVersion } } }
"""
CHANGES = """
query Changes($alias: String, $first: Int, $before: ID) {
  modelAliasChanges(alias: $alias, first: $first, before: $before) {
    id alias fromTrainingRunId toTrainingRunId changedAt changedBy { username }
  }
}
"""
RUN_ALIASES = "query Run($id: ID!) { trainingRun(id: $id) { aliases } }"
RUNS_WITH_ALIASES = "{ trainingRuns(first: 50) { nodes { id aliases } } }"


async def model_run(services: Services, factory: Factory, **overrides: Any) -> TrainingRun:
    """A COMPLETED run whose model file is in the model directory (the file's content is not
    read here: aliases need the file to be present, predictions read it)."""
    run = await factory.training_run(**overrides)
    path = services.settings.models_path / f"{run.model_version}.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a model")
    await _set_model_path(services, run.id, str(path))
    await _set_servable(services, run.id, hashlib.sha256(b"a model").hexdigest())
    return run


async def _set_servable(services: Services, run_id: int, sha256: str | None) -> None:
    # What training records for predictions (migration 0009): the digest and input schema.
    schema = [{"name": "x", "kind": "NUMERIC", "categories": None}]
    async with services.db.session() as session:
        await session.exec(
            update(TrainingRunRow)
            .where(col(TrainingRunRow.id) == run_id)
            .values(model_sha256=sha256, input_schema=None if sha256 is None else schema)
        )


async def _set_model_path(services: Services, run_id: int, path: str) -> None:
    async with services.db.session() as session:
        await session.exec(
            update(TrainingRunRow).where(col(TrainingRunRow.id) == run_id).values(model_path=path)
        )


async def stored(services: Services) -> tuple[int, int]:
    """How many alias rows and log rows exist."""
    async with services.db.session() as session:
        aliases = (await session.exec(select(func.count()).select_from(ModelAliasRow))).one()
        changes = (await session.exec(select(func.count()).select_from(ModelAliasChangeRow))).one()
    return int(aliases), int(changes)


async def set_alias(
    client: httpx.AsyncClient, who: Account, alias: str, run: TrainingRun | str
) -> dict[str, Any]:
    run_id = run if isinstance(run, str) else str(run.id)
    return await graphql(client, SET, {"alias": alias, "run": run_id}, who.headers)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_set_creates_an_alias_and_logs_it(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given
    hr = await factory.hr_staff()
    run = await model_run(services, factory)
    before = datetime.now(UTC)
    # when
    body = await set_alias(client, hr, "production", run)
    # then
    assert "errors" not in body, body
    made = body["data"]["setModelAlias"]
    assert made["alias"] == "production"
    assert made["updatedBy"] == {"username": "hr"}
    assert made["trainingRun"] == {
        "id": str(run.id),
        "modelVersion": run.model_version,
        "aliases": ["production"],
    }
    assert before - timedelta(seconds=1) <= _when(made["updatedAt"]) <= datetime.now(UTC)
    log = (await graphql(client, CHANGES, {}, hr.headers))["data"]["modelAliasChanges"]
    assert [(c["alias"], c["fromTrainingRunId"], c["toTrainingRunId"]) for c in log] == [
        ("production", None, str(run.id))
    ]
    assert log[0]["changedBy"] == {"username": "hr"}
    assert log[0]["changedAt"] == made["updatedAt"]


async def test_move_and_delete_are_logged_with_who_when_from_and_to(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: an alias on run one, set by one user
    hr = await factory.hr_staff()
    other = await factory.hr_staff("hana")
    one, two = await model_run(services, factory), await model_run(services, factory)
    await set_alias(client, hr, "production", one)
    # when: another user moves it, then deletes it
    moved = await set_alias(client, other, "production", two)
    deleted = await graphql(client, DELETE, {"alias": "production"}, hr.headers)
    # then
    assert moved["data"]["setModelAlias"]["trainingRun"]["id"] == str(two.id)
    assert moved["data"]["setModelAlias"]["updatedBy"] == {"username": "hana"}
    assert deleted == {"data": {"deleteModelAlias": True}}
    log = (await graphql(client, CHANGES, {"alias": "production"}, hr.headers))["data"][
        "modelAliasChanges"
    ]
    assert [
        (c["fromTrainingRunId"], c["toTrainingRunId"], c["changedBy"]["username"]) for c in log
    ] == [(str(two.id), None, "hr"), (str(one.id), str(two.id), "hana"), (None, str(one.id), "hr")]
    times = [_when(c["changedAt"]) for c in log]
    assert times == sorted(times, reverse=True)
    assert (await graphql(client, LIST, {}, hr.headers))["data"] == {"modelAliases": []}
    assert await stored(services) == (0, 3)


async def test_setting_an_alias_to_its_own_run_changes_nothing(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    other = await factory.hr_staff("hana")
    run = await model_run(services, factory)
    first = (await set_alias(client, hr, "production", run))["data"]["setModelAlias"]

    again = await set_alias(client, other, "production", run)

    assert again["data"]["setModelAlias"]["updatedAt"] == first["updatedAt"]
    assert again["data"]["setModelAlias"]["updatedBy"] == {"username": "hr"}
    assert await stored(services) == (1, 1)


async def test_delete_of_an_unknown_alias_is_false_and_logs_nothing(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    body = await graphql(client, DELETE, {"alias": "nothing-here"}, hr.headers)
    assert body == {"data": {"deleteModelAlias": False}}
    assert await stored(services) == (0, 0)


async def test_aliases_are_listed_by_name_with_their_runs(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given
    hr = await factory.hr_staff()
    reader = await factory.manager()
    one, two = await model_run(services, factory), await model_run(services, factory)
    for alias, run in (("staging", two), ("production", one), ("canary", two)):
        await set_alias(client, hr, alias, run)
    # when
    body = await graphql(client, LIST, {}, reader.headers)
    # then
    listed = body["data"]["modelAliases"]
    assert [(a["alias"], a["trainingRun"]["id"]) for a in listed] == [
        ("canary", str(two.id)),
        ("production", str(one.id)),
        ("staging", str(two.id)),
    ]
    assert {a["updatedBy"]["username"] for a in listed} == {"hr"}
    assert (await graphql(client, RUN_ALIASES, {"id": str(two.id)}, reader.headers))["data"] == {
        "trainingRun": {"aliases": ["canary", "staging"]}
    }


async def test_a_page_of_runs_reads_their_aliases_in_one_statement(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: 12 runs, every other one with two aliases
    hr = await factory.hr_staff()
    runs = [await model_run(services, factory) for _ in range(12)]
    for n, run in enumerate(runs[::2]):
        await set_alias(client, hr, f"a{n}", run)
        await set_alias(client, hr, f"b{n}", run)
    # when
    with counted_statements(services) as statements:
        body = await graphql(client, RUNS_WITH_ALIASES, {}, hr.headers)
    # then
    by_id = {node["id"]: node["aliases"] for node in body["data"]["trainingRuns"]["nodes"]}
    expected: dict[str, list[str]] = {str(r.id): [] for r in runs} | {
        str(r.id): [f"a{n}", f"b{n}"] for n, r in enumerate(runs[::2])
    }
    assert by_id == expected
    alias_reads = [s for s in without_token_check(statements) if "model_aliases" in s]
    assert len(alias_reads) == 1, statements
    assert len(without_token_check(statements)) == 2  # the page and the aliases


# Who may do what --------------------------------------------------------------------------


async def test_anonymous_callers_are_unauthenticated(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    run = await model_run(services, factory)
    for query, variables in (
        (SET, {"alias": "production", "run": str(run.id)}),
        (DELETE, {"alias": "production"}),
        (LIST, {}),
        (CHANGES, {}),
    ):
        body = await graphql(client, query, variables)
        assert error_codes(body) == ["UNAUTHENTICATED"], body
    assert await stored(services) == (0, 0)


async def test_a_plain_user_is_forbidden_everything(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    plain = await factory.account("plain")
    run = await model_run(services, factory)
    for query, variables in (
        (SET, {"alias": "production", "run": str(run.id)}),
        (DELETE, {"alias": "production"}),
        (LIST, {}),
        (CHANGES, {}),
    ):
        body = await graphql(client, query, variables, plain.headers)
        assert error_codes(body) == ["FORBIDDEN"], body
        assert "Required role:" in body["errors"][0]["message"]
    assert await stored(services) == (0, 0)


async def test_a_manager_may_list_but_not_move_or_delete(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given
    hr = await factory.hr_staff()
    boss = await factory.manager()
    one, two = await model_run(services, factory), await model_run(services, factory)
    await set_alias(client, hr, "production", one)
    # when
    moved = await set_alias(client, boss, "production", two)
    deleted = await graphql(client, DELETE, {"alias": "production"}, boss.headers)
    listed = await graphql(client, LIST, {}, boss.headers)
    log = await graphql(client, CHANGES, {}, boss.headers)
    seen = await graphql(client, RUN_ALIASES, {"id": str(one.id)}, boss.headers)
    # then
    assert error_codes(moved) == ["FORBIDDEN"]
    assert moved["errors"][0]["message"].endswith("Required role: HR_STAFF.")
    assert error_codes(deleted) == ["FORBIDDEN"]
    assert [a["trainingRun"]["id"] for a in listed["data"]["modelAliases"]] == [str(one.id)]
    assert len(log["data"]["modelAliasChanges"]) == 1
    assert seen["data"] == {"trainingRun": {"aliases": ["production"]}}
    assert await stored(services) == (1, 1)


# Refusals: each its code and message, nothing written -------------------------------------


@pytest.mark.parametrize("status", [TrainingRunStatus.FAILED, TrainingRunStatus.RUNNING])
async def test_a_run_that_is_not_completed_is_refused(
    client: httpx.AsyncClient, factory: Factory, services: Services, status: TrainingRunStatus
):
    hr = await factory.hr_staff()
    run = await model_run(services, factory, status=status.value, accuracy=None)

    body = await set_alias(client, hr, "production", run)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    message = (
        f"Training run {run.id} is {status.value}: only a COMPLETED run can be given an alias."
    )
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"]["fields"] == {"trainingRunId": [message]}
    assert await stored(services) == (0, 0)


async def test_a_run_whose_model_file_is_gone_is_refused(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: an alias on a run, and another run whose model file was removed
    hr = await factory.hr_staff()
    kept = await model_run(services, factory)
    await set_alias(client, hr, "production", kept)
    gone = await model_run(services, factory)
    (services.settings.models_path / f"{gone.model_version}.joblib").unlink()
    # when
    body = await set_alias(client, hr, "production", gone)
    # then
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith(
        f"The model file of training run {gone.id} ({gone.model_version}) is gone from the "
        "model store (TRAINQL_MODEL_DIR)"
    )
    listed = await graphql(client, LIST, {}, hr.headers)
    assert [a["trainingRun"]["id"] for a in listed["data"]["modelAliases"]] == [str(kept.id)]
    assert await stored(services) == (1, 1)


async def test_a_run_without_a_model_path_is_refused(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    run = await factory.training_run(model_path=None)
    body = await set_alias(client, hr, "production", run)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "is gone from the model store" in body["errors"][0]["message"]
    assert await stored(services) == (0, 0)


async def test_a_run_trained_before_models_had_digests_is_refused(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: a run as an older version left it, with its model file but no digest
    hr = await factory.hr_staff()
    old = await model_run(services, factory)
    await _set_servable(services, old.id, None)
    # when
    body = await set_alias(client, hr, "production", old)
    # then: refused, saying what predictions would say
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == (
        f"Training run {old.id} was trained before this service recorded each model's "
        "SHA-256 and input schema, so its file cannot be checked and is not loaded: "
        "train the model again to predict with it."
    )
    assert await stored(services) == (0, 0)


@pytest.mark.parametrize("run_id", ["999999", "abc", "0", "-1", "1e3"])
async def test_an_unknown_run_is_not_found(
    client: httpx.AsyncClient, factory: Factory, services: Services, run_id: str
):
    hr = await factory.hr_staff()
    body = await set_alias(client, hr, "production", run_id)
    assert error_codes(body) == ["NOT_FOUND"]
    assert body["errors"][0]["message"] == f"There is no training run with id {run_id!r}."
    assert await stored(services) == (0, 0)


@pytest.mark.parametrize(
    "alias",
    ["", ".", "..", "-x", "_x", "prod/uction", "prod uction", "prodüction", "a" * 65, "x\x00"],
)
async def test_a_bad_alias_name_is_refused_saying_the_rule(
    client: httpx.AsyncClient, factory: Factory, services: Services, alias: str
):
    hr = await factory.hr_staff()
    run = await model_run(services, factory)
    for body in (
        await set_alias(client, hr, alias, run),
        await graphql(client, DELETE, {"alias": alias}, hr.headers),
        await graphql(client, CHANGES, {"alias": alias}, hr.headers),
    ):
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["message"].endswith(
            "is not a valid alias name: use 1 to 64 characters: letters A-Z and a-z, digits, "
            "'.', '_' and '-', starting with a letter or a digit."
        )
        assert "alias" in body["errors"][0]["extensions"]["fields"]
    assert await stored(services) == (0, 0)


@pytest.mark.parametrize("alias", ["a", "production", "v1.2_rc-3", "A" * 64, "2026.q1"])
async def test_good_alias_names_are_taken_as_given(
    client: httpx.AsyncClient, factory: Factory, services: Services, alias: str
):
    hr = await factory.hr_staff()
    run = await model_run(services, factory)
    body = await set_alias(client, hr, alias, run)
    assert body["data"]["setModelAlias"]["alias"] == alias, body


# The log's pages ----------------------------------------------------------------------------


async def test_the_log_pages_newest_first(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    one, two = await model_run(services, factory), await model_run(services, factory)
    for n in range(5):
        await set_alias(client, hr, "production", one if n % 2 == 0 else two)
    await set_alias(client, hr, "staging", one)

    first = (await graphql(client, CHANGES, {"alias": "production", "first": 3}, hr.headers))[
        "data"
    ]["modelAliasChanges"]
    rest = (
        await graphql(
            client,
            CHANGES,
            {"alias": "production", "first": 3, "before": first[-1]["id"]},
            hr.headers,
        )
    )["data"]["modelAliasChanges"]
    everything = (await graphql(client, CHANGES, {}, hr.headers))["data"]["modelAliasChanges"]

    chain = [(c["fromTrainingRunId"], c["toTrainingRunId"]) for c in first + rest]
    a, b = str(one.id), str(two.id)
    assert chain == [(b, a), (a, b), (b, a), (a, b), (None, a)]
    assert [c["alias"] for c in everything] == ["staging"] + ["production"] * 5
    refused = await graphql(client, CHANGES, {"first": 101}, hr.headers)
    assert error_codes(refused) == ["BAD_USER_INPUT"]
    assert refused["errors"][0]["message"] == "first must be between 1 and 100, got 101."
    refused = await graphql(client, CHANGES, {"before": "x"}, hr.headers)
    assert error_codes(refused) == ["BAD_USER_INPUT"]


# Concurrency --------------------------------------------------------------------------------


async def test_concurrent_moves_of_one_alias_both_succeed_and_both_are_logged(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: an alias on run one, and two clients moving it at the same time, rounds over
    hr = await factory.hr_staff()
    other = await factory.hr_staff("hana")
    one, two, three = [await model_run(services, factory) for _ in range(3)]
    await set_alias(client, hr, "production", one)
    rounds = 10
    for _ in range(rounds):
        # when: both move it away from where it is, to different runs
        answers = await asyncio.gather(
            set_alias(client, hr, "production", two), set_alias(client, other, "production", three)
        )
        # then: both succeed
        for body in answers:
            assert "errors" not in body, body
        await set_alias(client, hr, "production", one)
    # and every change is logged, each from where the one before it left the alias
    log = (await graphql(client, CHANGES, {"first": 100}, hr.headers))["data"]["modelAliasChanges"]
    chain = [(c["fromTrainingRunId"], c["toTrainingRunId"]) for c in reversed(log)]
    assert len(chain) == 1 + rounds * 3
    assert chain[0] == (None, str(one.id))
    for earlier, later in itertools.pairwise(chain):
        assert later[0] == earlier[1], chain
    assert await stored(services) == (1, 1 + rounds * 3)


async def test_concurrent_creation_of_one_alias_never_fails(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    one, two = await model_run(services, factory), await model_run(services, factory)
    for n in range(10):
        alias = f"new-{n}"
        answers = await asyncio.gather(
            set_alias(client, hr, alias, one), set_alias(client, hr, alias, two)
        )
        for body in answers:
            assert "errors" not in body, body
        log = (await graphql(client, CHANGES, {"alias": alias}, hr.headers))["data"][
            "modelAliasChanges"
        ]
        chain = [(c["fromTrainingRunId"], c["toTrainingRunId"]) for c in reversed(log)]
        assert len(chain) == 2 and chain[0][0] is None and chain[1][0] == chain[0][1], chain


# A run deleted in the database -----------------------------------------------------------


async def test_a_run_deleted_in_the_database_takes_its_aliases_and_leaves_the_log(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: no route deletes a run; an operator deletes one with SQL
    hr = await factory.hr_staff()
    one, two = await model_run(services, factory), await model_run(services, factory)
    await set_alias(client, hr, "production", one)
    await set_alias(client, hr, "staging", two)
    async with services.db.session() as session:
        await session.exec(delete(TrainingRunRow).where(col(TrainingRunRow.id) == one.id))
    # when
    listed = await graphql(client, LIST, {}, hr.headers)
    log = await graphql(client, CHANGES, {"alias": "production"}, hr.headers)
    again = await set_alias(client, hr, "production", one)
    # then
    assert [a["alias"] for a in listed["data"]["modelAliases"]] == ["staging"]
    assert [c["toTrainingRunId"] for c in log["data"]["modelAliasChanges"]] == [str(one.id)]
    assert error_codes(again) == ["NOT_FOUND"]


TRAIN = """
mutation Train($version: String!) {
  trainModel(input: {modelVersion: $version, hyperparameters: {nEstimators: 5}}) {
    trainingRun { id status modelPath }
  }
}
"""


async def test_an_alias_names_a_really_trained_model_until_its_file_is_removed(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    # given: two runs trained on the default dataset
    hr = await factory.hr_staff()
    trained = []
    for version in ("real-1", "real-2"):
        body = await graphql(client, TRAIN, {"version": version}, hr.headers)
        run = body["data"]["trainModel"]["trainingRun"]
        assert run["status"] == "COMPLETED", body
        trained.append(run)
    # when: the alias is set on the first, the second's model file is removed, then moved
    first = await set_alias(client, hr, "production", trained[0]["id"])
    (services.settings.models_path / "real-2.joblib").unlink()
    assert trained[1]["modelPath"].endswith("real-2.joblib")
    moved = await set_alias(client, hr, "production", trained[1]["id"])
    # then
    assert first["data"]["setModelAlias"]["trainingRun"]["id"] == trained[0]["id"], first
    assert error_codes(moved) == ["BAD_USER_INPUT"]
    assert f"training run {trained[1]['id']} (real-2) is gone" in moved["errors"][0]["message"]
    listed = await graphql(client, LIST, {}, hr.headers)
    assert [a["trainingRun"]["id"] for a in listed["data"]["modelAliases"]] == [trained[0]["id"]]
    assert await stored(services) == (1, 1)
