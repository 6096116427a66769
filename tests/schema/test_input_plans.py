"""Input objects built by plan (schema/input_plans.py) equal what Strawberry's own conversion
builds, for every kind of value their fields take."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.types.arguments import convert_argument

from trainql.domain import OrderDirection, TrainingRunOrderField, TrainingRunStatus
from trainql.schema import input_plans
from trainql.schema.predictions.inputs import PredictInput
from trainql.schema.root import build_schema
from trainql.schema.training.inputs import TrainingRunFilterInput, TrainingRunOrderInput

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# Input values as graphql-core hands them to Strawberry: keyed by GraphQL names, scalars and
# enums already parsed, defaults of fields left out filled in (or not, when sent as arguments
# of a literal).
VALUES: list[tuple[type, dict[str, Any]]] = [
    (
        TrainingRunFilterInput,
        {
            "status": [TrainingRunStatus.COMPLETED, TrainingRunStatus.FAILED],
            "trainedBy": "trainer1",
            "modelVersion": "v1",
            "datasetId": uuid.UUID(int=7),
            "runDateFrom": WHEN,
            "runDateTo": WHEN,
            "minAccuracy": 0.5,
        },
    ),
    (TrainingRunFilterInput, {"status": None, "trainedBy": None, "minAccuracy": None}),
    (TrainingRunFilterInput, {"status": []}),
    (TrainingRunFilterInput, {}),
    (
        TrainingRunOrderInput,
        {"field": TrainingRunOrderField.ACCURACY, "direction": OrderDirection.ASC},
    ),
    (TrainingRunOrderInput, {"field": TrainingRunOrderField.RUN_DATE}),
    (TrainingRunOrderInput, {}),
    (PredictInput, {"rows": [{"a": 1, "b": None}, {"a": [1.5]}], "trainingRunId": "3"}),
    (PredictInput, {"rows": [], "alias": "production", "modelVersion": None}),
]


@pytest.mark.parametrize(("input_type", "value"), VALUES)
def test_an_input_built_by_plan_is_the_one_strawberry_builds(
    input_type: type, value: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    # given: the schema's scalars and config
    schema = build_schema()
    registry, config = schema.schema_converter.scalar_registry, schema.config
    # when: the value is built by plan, and by Strawberry's own conversion
    planned = convert_argument(value, input_type, registry, config)
    definition = input_type.__strawberry_definition__  # type: ignore[attr-defined]
    assert definition.from_input is input_plans.build_by_plan
    monkeypatch.setattr(definition, "from_input", None)
    strawberrys = convert_argument(value, input_type, registry, config)
    # then: equal values, of the same type, and no list is the one given
    assert type(planned) is type(strawberrys) is input_type
    assert planned == strawberrys
    for name, given in value.items():
        if isinstance(given, list):
            # (the list fields' Python and GraphQL names are the same)
            assert getattr(planned, name) == given
            assert getattr(planned, name) is not given
