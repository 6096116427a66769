"""Lists of plain objects completed in one pass (schema/execution.py): the same answer, byte
for byte, as graphql-core's field-by-field completion, with a fraction of its field calls."""

from __future__ import annotations

import enum
import gc
import math
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.extensions import ParserCache

from tests.factories import Factory
from trainql.schema import execution
from trainql.schema.execution import TrainqlExecutionContext

BASE = datetime(2025, 6, 1, tzinfo=UTC)

# Every kind of plain field a page shows, under aliases, fragments, __typename and
# @include/@skip; `nodes` and `edges` both.
WIDE_PAGE = """
query Page($filter: TrainingRunFilter, $withMetrics: Boolean!, $skipTrainer: Boolean!) {
  trainingRuns(filter: $filter, first: 30) {
    edges {
      __typename
      cursor
      run: node {
        ...Summary
        __typename
        id
        errorMessage
        metrics @include(if: $withMetrics) { accuracy f1 : f1Score trainingDurationSeconds }
        trainedBy @skip(if: $skipTrainer) { __typename id username roles }
        attempt worker totalSamples testSplit randomState targetColumn modelPath notes
      }
    }
    nodes { id status again: status }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
fragment Summary on TrainingRun { id modelVersion status accuracy runDate precision recall }
"""

# The same page with a field that needs the request (a loader): the general way.
PAGE_WITH_DETAILS = """
query Page {
  trainingRuns(first: 30) {
    edges { cursor node { id status hyperparameters { nEstimators maxDepth } aliases } }
  }
}
"""


async def _mixed_runs(factory: Factory) -> dict[str, str]:
    """25 runs of every status, with and without trainer and metrics, and odd characters;
    the headers of an HR_STAFF account that may read them."""
    hr = await factory.hr_staff()
    boss = await factory.manager()
    statuses = ["COMPLETED", "FAILED", "QUEUED", "RUNNING"]
    rows: list[dict[str, Any]] = []
    for i in range(25):
        status = statuses[i % 4]
        done = status == "COMPLETED"
        rows.append(
            {
                "run_date": BASE + timedelta(minutes=i, microseconds=i * 7),
                "model_version": f"p{i:03d}-é",
                "status": status,
                "accuracy": 0.5 + i / 100 if done else None,
                "precision": 1e-05 if done else None,
                "recall": 0.25 if done else None,
                "f1_score": 0.3 if done else None,
                "training_duration_seconds": 1.5 if done else None,
                "error_message": 'bad "value"\n' if status == "FAILED" else None,
                "trained_by_id": [hr.user.id, boss.user.id, None][i % 3],
                "notes": "naïve ☃" if i % 5 == 0 else "",
            }
        )
    await factory.training_runs(rows)
    return hr.headers


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, variables: Any
) -> bytes:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200
    assert "errors" not in response.json(), response.json()
    return response.content


def _count_field_executions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every field graphql-core executes the general way, with a resolve
    info object (a spy: it calls through)."""
    executed: list[str] = []
    original = TrainqlExecutionContext.build_resolve_info

    def build_resolve_info(self: Any, field_def: Any, nodes: Any, *rest: Any) -> Any:
        executed.append(nodes[0].name.value)
        return original(self, field_def, nodes, *rest)

    monkeypatch.setattr(TrainqlExecutionContext, "build_resolve_info", build_resolve_info)
    return executed


def _the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on nothing completes in one pass, plans kept from earlier operations
    included."""
    monkeypatch.setattr(TrainqlExecutionContext, "_plain_completer", lambda *_args: None)
    monkeypatch.setattr(
        TrainqlExecutionContext,
        "_kept_plan",
        lambda _self, type_, details, plan: plan(type_, details),
    )


def _count_plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every field whose plan is worked out (a spy: it calls through)."""
    planned: list[str] = []
    original = TrainqlExecutionContext._plain_field

    def plain_field(self: Any, parent_type: Any, details: Any) -> Any:
        planned.append(details[0].node.name.value)
        return original(self, parent_type, details)

    monkeypatch.setattr(TrainqlExecutionContext, "_plain_field", plain_field)
    return planned


@pytest.mark.parametrize(
    "variables",
    [
        {"withMetrics": True, "skipTrainer": False},
        {"withMetrics": False, "skipTrainer": True, "filter": {"status": ["COMPLETED"]}},
    ],
)
async def test_a_page_completed_in_one_pass_answers_what_graphql_cores_own_does(
    client: httpx.AsyncClient,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, Any],
):
    # given: runs of every status, with and without trainer, metrics and odd characters
    headers = await _mixed_runs(factory)
    executed = _count_field_executions(monkeypatch)
    # when: the page goes the one-pass way
    one_pass = await _post(client, headers, WIDE_PAGE, variables)
    one_pass_fields = len(executed)
    # and: the same page when no list completes in one pass
    _the_general_way(monkeypatch)
    executed.clear()
    general = await _post(client, headers, WIDE_PAGE, variables)
    # then: the same bytes, for one field executed the general way instead of hundreds
    assert one_pass == general
    assert one_pass_fields == 1  # trainingRuns: its resolver reads the page
    assert len(executed) > 100


async def test_a_field_that_needs_the_request_sends_the_page_the_general_way(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
):
    # given: a page selecting details and aliases (resolvers that read through loaders)
    headers = await _mixed_runs(factory)
    executed = _count_field_executions(monkeypatch)
    # when / then: graphql-core executes them for every run, and the answer is whole
    body = await _post(client, headers, PAGE_WITH_DETAILS, {})
    assert executed.count("hyperparameters") == executed.count("aliases") == 25
    assert b'"nEstimators":100' in body


RUN = """
query Run($id: ID!) {
  trainingRun(id: $id) {
    __typename id modelVersion status runDate notes accuracy
    metrics { accuracy precision recall f1Score trainingDurationSeconds }
    hyperparameters { nEstimators maxDepth minSamplesSplit }
    trainedBy { username roles }
    perClassMetrics { label support f1Score }
    featureImportances { feature importance }
    confusionMatrix { labels matrix }
    aliases
  }
}
"""


async def test_a_run_by_id_executes_only_its_fields_with_resolvers_the_general_way(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
):
    # given: a completed run with its details
    hr = await factory.hr_staff()
    run = await factory.training_run(trained_by_id=hr.user.id, notes="naïve ☃")
    executed = _count_field_executions(monkeypatch)
    variables = {"id": str(run.id)}
    # when
    one_pass = await _post(client, hr.headers, RUN, variables)
    one_pass_fields = sorted(executed)
    _the_general_way(monkeypatch)
    executed.clear()
    general = await _post(client, hr.headers, RUN, variables)
    # then: the same bytes; only the fields whose resolvers take the request's info went
    # through graphql-core's resolver call
    assert one_pass == general
    assert one_pass_fields == [
        "aliases",
        "confusionMatrix",
        "featureImportances",
        "hyperparameters",
        "perClassMetrics",
        "trainingRun",
    ]
    assert len(executed) > len(one_pass_fields)  # the general way did run every field


async def test_a_document_sent_again_is_answered_from_the_plans_of_the_first_time(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
):
    # given: two runs, and a spy on the planning of fields
    hr = await factory.hr_staff()
    run = await factory.training_run(trained_by_id=hr.user.id)
    other = await factory.training_run(trained_by_id=hr.user.id, notes="another")
    planned = _count_plans(monkeypatch)
    # when: the same document, for one run and then the other
    first = await _post(client, hr.headers, RUN, {"id": str(run.id)})
    first_plans = len(planned)
    planned.clear()
    again = await _post(client, hr.headers, RUN, {"id": str(other.id)})
    # then: planned once, and each answer is its own run's
    assert first_plans > 0 and planned == []
    assert f'"id":"{run.id}"'.encode() in first and f'"id":"{other.id}"'.encode() in again
    assert b'"notes":"another"' in again and b'"notes":"another"' not in first


# Directives inside selections the one pass plans whole (an object field's, as a page's
# nodes' would be): what they keep depends on each operation's variables.
DIRECTED = """
query Run($id: ID!, $withRoles: Boolean!, $skipF1: Boolean!) {
  trainingRun(id: $id) {
    id
    trainedBy { username roles @include(if: $withRoles) }
    metrics { accuracy ...F1 @skip(if: $skipF1) }
  }
}
fragment F1 on Metrics { f1Score }
"""


async def test_a_document_with_directives_is_planned_for_each_operations_variables(
    client: httpx.AsyncClient, factory: Factory
):
    # given: a run
    hr = await factory.hr_staff()
    run = await factory.training_run(trained_by_id=hr.user.id)
    answers = []
    # when: one document with @include and @skip, sent with its variables one way, the other
    # way, and the first way again
    for flag in (True, False, True):
        variables = {"id": str(run.id), "withRoles": flag, "skipF1": not flag}
        response = await client.post(
            "/graphql", json={"query": DIRECTED, "variables": variables}, headers=hr.headers
        )
        answers.append(response.json()["data"]["trainingRun"])
    # then: each answer has exactly the fields its own variables select
    with_all, bare, with_all_again = answers
    assert list(with_all["trainedBy"]) == ["username", "roles"]
    assert list(with_all["metrics"]) == ["accuracy", "f1Score"]
    assert bare["trainedBy"] == {"username": hr.user.username}
    assert list(bare["metrics"]) == ["accuracy"]
    assert with_all_again == with_all


# A schema of its own for values no stored run can hold: what the one pass must not answer.
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Item:
    name: str | None
    required: str
    size: float
    colour: Colour

    @strawberry.field
    def double(self) -> float:
        if self.size < 0:
            raise ValueError("negative size")
        return self.size * 2


def _items(case: str) -> list[Item]:
    good = Item(name="a", required="r", size=1.0, colour=Colour.RED)
    bad = {
        "null in a non-null field": Item(name=None, required=None, size=1.0, colour=Colour.RED),  # type: ignore[arg-type]
        "a resolver that raises": Item(name="b", required="r", size=-1.0, colour=Colour.RED),
        "a float the scalar refuses": Item(
            name="c", required="r", size=math.nan, colour=Colour.RED
        ),
        "not a member of the enum": Item(name="d", required="r", size=1.0, colour="blue"),  # type: ignore[arg-type]
        "none": good,
    }[case]
    return [good, bad, good]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, case: str) -> list[Item]:
        return _items(case)

    @strawberry.field
    def item(self, case: str) -> Item:
        return _items(case)[1]


@pytest.mark.parametrize(
    "case",
    [
        "null in a non-null field",
        "a resolver that raises",
        "a float the scalar refuses",
        "not a member of the enum",
        "none",
    ],
)
async def test_a_value_the_one_pass_cannot_answer_is_reported_as_graphql_core_does(case: str):
    # given: the same schema with our execution context and with graphql-core's own
    ours = strawberry.Schema(query=Query, execution_context_class=TrainqlExecutionContext)
    theirs = strawberry.Schema(query=Query)
    fields = "{ name required size double colour }"
    query = f"query($case: String!) {{ items(case: $case) {fields} item(case: $case) {fields} }}"
    # when
    got = await ours.execute(query, variable_values={"case": case})
    want = await theirs.execute(query, variable_values={"case": case})
    # then: the same data and the same errors, at the same paths
    assert got.data == want.data
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in want.errors or []
    ]
    assert bool(got.errors) == (case != "none")


async def test_the_plans_of_a_document_go_when_the_parser_cache_lets_it_go():
    # given: a schema whose parser cache keeps one document
    schema = strawberry.Schema(
        query=Query,
        execution_context_class=TrainqlExecutionContext,
        extensions=[partial(ParserCache, maxsize=1)],
    )
    documents = [
        f'{{ items(case: "none") {{ name size }} n{i}: item(case: "none") {{ name }} }}'
        for i in range(3)
    ]
    gc.collect()
    before = len(execution._plans)
    # when: one document, sent twice
    for _ in range(2):
        assert not (await schema.execute(documents[0])).errors
    gc.collect()
    kept_for_one = len(execution._plans) - before
    # and: two others after it, each pushing the one before out of the cache
    for document in documents[1:]:
        assert not (await schema.execute(document)).errors
    gc.collect()
    # then: plans were kept for the document in the cache, and only for it
    assert kept_for_one == 1
    assert len(execution._plans) - before == 1
