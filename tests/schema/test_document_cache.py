"""Each parsed document is validated once per schema, and its validation goes with it
(schema/document_cache.py)."""

from __future__ import annotations

import gc
from functools import partial
from typing import Any

import pytest
import strawberry

from tests.factories import error_codes, graphql
from tests.limits_support import app_with, refusal
from trainql.config import Settings
from trainql.schema import document_cache
from trainql.schema.document_cache import DocumentValidationCache, SafeParserCache

DEEP = "query Deep { trainingRun(id: 1) { trainedBy { username } } }"


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of errors of each validation run from now on."""
    runs: list[int] = []
    from strawberry.schema.schema import validate_document as validate

    def counted(*args: Any) -> Any:
        errors = validate(*args)
        runs.append(len(errors))
        return errors

    monkeypatch.setattr(document_cache, "validate_document", counted)
    return runs


async def test_a_document_sent_again_is_not_validated_again_and_keeps_its_errors(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    # given: a service, and every validation counted
    runs = _count_validations(monkeypatch)
    async with app_with(settings) as http:
        # when: a valid document and an invalid one are each sent three times
        answers = [await graphql(http, "{ me { username } }") for _ in range(3)]
        refusals = [await graphql(http, "{ me { nosuchfield } }") for _ in range(3)]
    # then: each was validated once, and each answer is the first one's
    assert runs == [0, 1]
    assert answers == [{"data": {"me": None}}] * 3
    [error] = refusals[0]["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nosuchfield" in error["message"]
    assert refusals == [refusals[0]] * 3


async def test_one_document_is_held_to_each_schemas_own_limits(settings: Settings):
    # given: two services in one process, one allowing a depth of 1, the other of 5
    async with (
        app_with(settings, graphql_max_depth=1) as strict,
        app_with(settings, graphql_max_depth=5) as lenient,
    ):
        # when: the same document is sent to each in turn, twice
        answers = [await graphql(http, DEEP) for http in (strict, lenient, strict, lenient)]
    # then: the strict one refuses it every time; the other runs it every time (and asks
    # the anonymous caller to log in)
    for refused in answers[0::2]:
        assert refusal(refused)["extensions"]["found"] == 2
    for ran in answers[1::2]:
        assert ran["data"] == {"trainingRun": None}
        assert error_codes(ran) == ["UNAUTHENTICATED"]


@strawberry.type
class Query:
    @strawberry.field
    def item(self, n: int) -> int:
        return n


async def test_a_validation_goes_when_the_parser_cache_lets_its_document_go():
    # given: a schema whose parser cache keeps one document
    schema = strawberry.Schema(
        query=Query, extensions=[partial(SafeParserCache, maxsize=1), DocumentValidationCache]
    )
    documents = [f"{{ a: item(n: {i}) }}" for i in range(3)]
    gc.collect()
    before = len(document_cache._validations)
    # when: one document, sent twice
    for _ in range(2):
        assert (await schema.execute(documents[0])).data == {"a": 0}
    gc.collect()
    kept_for_one = len(document_cache._validations) - before
    # and: two others after it, each pushing the one before out of the cache
    for i, document in enumerate(documents[1:], start=1):
        assert (await schema.execute(document)).data == {"a": i}
    gc.collect()
    # then: a validation was kept for the document in the cache, and only for it
    assert kept_for_one == 1
    assert len(document_cache._validations) - before == 1
