"""TrainRequest: every field's default and bound, the contract's messages, each transport's
names. No database, no HTTP."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from typing import Any

import pytest

from trainql.cli import train as train_command
from trainql.errors import InvalidInput
from trainql.schema.training.inputs import HyperparametersInput, TrainModelInput
from trainql.training_request import (
    GRAPHQL_NAMES,
    INT32_MAX,
    PYTHON_NAMES,
    REST_NAMES,
    FieldNames,
    Hyperparameters,
    TrainRequest,
    parse_train_request,
)

DATASET_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def errors_of(raw: dict[str, Any], names: FieldNames = REST_NAMES) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as refused:
        parse_train_request(raw, names=names)
    return refused.value.fields


def test_nothing_given_takes_every_default():
    request = parse_train_request({}, names=REST_NAMES)
    assert request == parse_train_request(None, names=REST_NAMES)
    assert request.dataset_path == "ml/data/future_skills_dataset.csv"
    assert request.dataset_id is None
    assert request.test_split == 0.2
    assert request.target_column == "future_need_level"
    assert request.model_version is None
    assert request.notes == ""
    assert request.background is False
    assert request.hyperparameters == Hyperparameters(
        n_estimators=100, max_depth=None, min_samples_split=2
    )


def test_null_fields_take_their_defaults():
    nulls = {name: None for name in ("dataset_path", "test_split", "notes", "async_training")}
    request = parse_train_request(
        {**nulls, "hyperparameters": {"n_estimators": None, "max_depth": None}},
        names=REST_NAMES,
    )
    assert request == parse_train_request({}, names=REST_NAMES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"test_split": 0.1}, ("test_split", 0.1)),
        ({"test_split": 0.5}, ("test_split", 0.5)),
        ({"hyperparameters": {"n_estimators": 1}}, ("n_estimators", 1)),
        ({"hyperparameters": {"n_estimators": 1000}}, ("n_estimators", 1000)),
        ({"hyperparameters": {"max_depth": 1}}, ("max_depth", 1)),
        ({"hyperparameters": {"max_depth": 100}}, ("max_depth", 100)),
        ({"hyperparameters": {"min_samples_split": 2}}, ("min_samples_split", 2)),
        ({"hyperparameters": {"min_samples_split": INT32_MAX}}, ("min_samples_split", INT32_MAX)),
        ({"model_version": "a"}, ("model_version", "a")),
        ({"model_version": "v" * 64}, ("model_version", "v" * 64)),
        ({"model_version": "A.b_c-9"}, ("model_version", "A.b_c-9")),
        ({"notes": "n" * 10_000}, ("notes", "n" * 10_000)),
        ({"dataset_path": "p" * 1024}, ("dataset_path", "p" * 1024)),
        ({"target_column": "t" * 255}, ("target_column", "t" * 255)),
        ({"dataset_id": DATASET_ID}, ("dataset_id", uuid.UUID(DATASET_ID))),
        ({"async_training": True}, ("background", True)),
    ],
)
def test_values_at_the_bounds_are_accepted(raw: dict[str, Any], expected: tuple[str, Any]):
    request = parse_train_request(raw, names=REST_NAMES)
    name, value = expected
    holder = request.hyperparameters if name in Hyperparameters.model_fields else request
    assert getattr(holder, name) == value


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"test_split": 0.09}, "test_split", "Must be a number from 0.1 to 0.5; got 0.09."),
        ({"test_split": 0.51}, "test_split", "Must be a number from 0.1 to 0.5; got 0.51."),
        ({"test_split": float("nan")}, "test_split", "Must be a number from 0.1 to 0.5; got nan."),
        ({"test_split": True}, "test_split", "Must be a number from 0.1 to 0.5; got True."),
        ({"test_split": "0.2"}, "test_split", "Must be a number from 0.1 to 0.5; got '0.2'."),
        (
            {"hyperparameters": {"n_estimators": 0}},
            "hyperparameters.n_estimators",
            "Must be an integer from 1 to 1000; got 0.",
        ),
        (
            {"hyperparameters": {"n_estimators": 1001}},
            "hyperparameters.n_estimators",
            "Must be an integer from 1 to 1000; got 1001.",
        ),
        (
            {"hyperparameters": {"n_estimators": 10.0}},
            "hyperparameters.n_estimators",
            "Must be an integer from 1 to 1000; got 10.0.",
        ),
        (
            {"hyperparameters": {"n_estimators": "10"}},
            "hyperparameters.n_estimators",
            "Must be an integer from 1 to 1000; got '10'.",
        ),
        (
            {"hyperparameters": {"max_depth": 0}},
            "hyperparameters.max_depth",
            "Must be an integer from 1 to 100, or null; got 0.",
        ),
        (
            {"hyperparameters": {"max_depth": 101}},
            "hyperparameters.max_depth",
            "Must be an integer from 1 to 100, or null; got 101.",
        ),
        (
            {"hyperparameters": {"min_samples_split": 1}},
            "hyperparameters.min_samples_split",
            "Must be an integer from 2 to 2147483647; got 1.",
        ),
        (
            {"hyperparameters": {"min_samples_split": INT32_MAX + 1}},
            "hyperparameters.min_samples_split",
            "Must be an integer from 2 to 2147483647; got 2147483648.",
        ),
        (
            {"hyperparameters": {"criterion": "gini"}},
            "hyperparameters.criterion",
            "Unknown hyperparameter. Allowed: n_estimators, max_depth, min_samples_split.",
        ),
        (
            {"hyperparameters": [1]},
            "hyperparameters",
            "Must be an object of n_estimators, max_depth, min_samples_split.",
        ),
        (
            {"model_version": ""},
            "model_version",
            "Must be 1 to 64 characters: letters, digits, '.', '_' and '-'; got ''.",
        ),
        (
            {"model_version": "v" * 65},
            "model_version",
            f"Must be 1 to 64 characters: letters, digits, '.', '_' and '-'; got {'v' * 65!r}.",
        ),
        (
            {"model_version": 3},
            "model_version",
            "Must be 1 to 64 characters: letters, digits, '.', '_' and '-'; got 3.",
        ),
        ({"notes": "n" * 10_001}, "notes", "Must be at most 10000 characters; got 10001."),
        ({"notes": 5}, "notes", "Must be a string; got 5."),
        ({"dataset_path": " "}, "dataset_path", "Must not be empty."),
        (
            {"dataset_path": "p" * 1025},
            "dataset_path",
            "Must be at most 1024 characters; got 1025.",
        ),
        ({"target_column": ""}, "target_column", "Must not be empty."),
        (
            {"target_column": "t" * 256},
            "target_column",
            "Must be at most 255 characters; got 256.",
        ),
        ({"dataset_id": "nope"}, "dataset_id", "Must be a dataset id (a UUID); got 'nope'."),
        ({"dataset_id": 5}, "dataset_id", "Must be a dataset id (a UUID); got 5."),
        ({"async_training": 1}, "async_training", "Must be true or false; got 1."),
        (
            {"dataset_id": DATASET_ID, "dataset_path": "a.csv"},
            "dataset_id",
            "Give dataset_id or dataset_path, not both.",
        ),
    ],
)
def test_each_bound_has_the_contracts_message(raw: dict[str, Any], field: str, message: str):
    assert errors_of(raw) == {field: [message]}


def test_unknown_fields_name_the_transports_own_fields():
    allowed = (
        "dataset_path, dataset_id, test_split, hyperparameters, model_version, notes, target_column"
    )
    # REST calls `background` async_training: there, `background` is unknown.
    assert errors_of({"epochs": 3, "background": True}) == {
        "epochs": [f"Unknown field. Allowed fields: {allowed}, async_training."],
        "background": [f"Unknown field. Allowed fields: {allowed}, async_training."],
    }
    assert errors_of({"async_training": True}, PYTHON_NAMES) == {
        "async_training": [f"Unknown field. Allowed fields: {allowed}, background."]
    }


def test_graphql_names_are_camel_case_and_the_summary_lists_every_error_in_order():
    with pytest.raises(InvalidInput) as refused:
        parse_train_request(
            {"hyperparameters": {"min_samples_split": 1, "n_estimators": 0}, "test_split": 0.9},
            names=GRAPHQL_NAMES,
        )
    assert list(refused.value.fields) == [
        "testSplit",
        "hyperparameters.nEstimators",
        "hyperparameters.minSamplesSplit",
    ]
    assert refused.value.message == (
        "Invalid training request: testSplit: Must be a number from 0.1 to 0.5; got 0.9.; "
        "hyperparameters.nEstimators: Must be an integer from 1 to 1000; got 0.; "
        "hyperparameters.minSamplesSplit: Must be an integer from 2 to 2147483647; got 1."
    )


def test_both_datasets_is_refused_whatever_else_is_wrong():
    assert errors_of({"dataset_id": DATASET_ID, "dataset_path": "", "notes": 1}) == {
        "dataset_path": ["Must not be empty."],
        "notes": ["Must be a string; got 1."],
        "dataset_id": ["Give dataset_id or dataset_path, not both."],
    }


# --- the transports' declarations cannot drift from the model ---------------------------------


def _graphql_fields(cls: type[TrainModelInput | HyperparametersInput]) -> dict[str, Any]:
    return {f.name: f for f in dataclasses.fields(cls)}


def test_the_graphql_inputs_have_the_requests_fields_defaults_and_descriptions():
    top = _graphql_fields(TrainModelInput)
    hyper = _graphql_fields(HyperparametersInput)
    # (The GraphQL order is the printed schema's, older than the model.)
    assert set(top) == set(TrainRequest.model_fields)
    assert set(hyper) == set(Hyperparameters.model_fields)
    for name, info in TrainRequest.model_fields.items():
        if name == "hyperparameters":
            continue
        assert top[name].description == info.description, name
        if top[name].default is not _unset():
            assert top[name].default == info.default, name
    for name, info in Hyperparameters.model_fields.items():
        assert hyper[name].description == info.description, name


def _unset() -> object:
    import strawberry

    return strawberry.UNSET


def test_the_train_command_offers_every_field_but_background():
    parameters = set(inspect.signature(train_command).parameters) - {"cli", "user"}
    offered = set(TrainRequest.model_fields) - {"hyperparameters", "background"}
    assert parameters == offered | set(Hyperparameters.model_fields)
