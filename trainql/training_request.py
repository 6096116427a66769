"""The training request: one pydantic model that knows every field, its default and its bounds.

REST, GraphQL and the CLI each hand `parse_train_request` the fields they received, named the
way that transport names them (`FieldNames`); its errors come back as one InvalidInput keyed
by those names, worded as the legacy contract words them (`_MESSAGES`). The GraphQL input and
the CLI options take their defaults and descriptions from here, and tests check that their
fields are exactly these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from annotated_types import Ge, Le, MaxLen
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from trainql.constants import DEFAULT_DATASET_PATH, DEFAULT_TARGET_COLUMN
from trainql.errors import InvalidInput

INT32_MAX = 2**31 - 1
MODEL_VERSION_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "Must not be empty.")
    return value


NotBlank = Annotated[str, AfterValidator(_not_blank)]


class _Request(BaseModel):
    """Strict (no coercion: "5" is not 5, 1 is not true) and closed (unknown fields are
    errors). A field sent as null takes its default, as an absent one does."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {name: value for name, value in data.items() if value is not None}
        return data


class Hyperparameters(_Request):
    """The random forest's hyperparameters; the pipeline passes them to it as they are."""

    n_estimators: int = Field(100, ge=1, le=1000, description="1 to 1000; default 100.")
    max_depth: int | None = Field(
        None, ge=1, le=100, description="1 to 100, or null for unlimited; default null."
    )
    min_samples_split: int = Field(2, ge=2, le=INT32_MAX, description="2 or more; default 2.")


class TrainRequest(_Request):
    """A validated training request, every default filled in. Made by `parse_train_request`,
    which also refuses a request naming both a dataset_id and a dataset_path."""

    dataset_path: NotBlank = Field(
        DEFAULT_DATASET_PATH,
        max_length=1024,
        description=f"Relative to the service's data root; default {DEFAULT_DATASET_PATH}.",
    )
    # A UUID arrives as text in JSON: the one field parsed from a string.
    dataset_id: Annotated[uuid.UUID, Strict(False)] | None = Field(
        None, description="Train on an uploaded dataset instead of a path."
    )
    test_split: float = Field(0.2, ge=0.1, le=0.5, description="0.1 to 0.5; default 0.2.")
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    model_version: str | None = Field(
        None,
        pattern=MODEL_VERSION_PATTERN,
        description="Letters, digits, '.', '_' and '-'; default api_v<timestamp>; unique.",
    )
    notes: str = Field("", max_length=10_000, description="Free text kept with the run.")
    target_column: NotBlank = Field(
        DEFAULT_TARGET_COLUMN, max_length=255, description="The column to predict."
    )
    background: bool = Field(
        False, description="Return at once with the run QUEUED instead of waiting for the result."
    )

    @classmethod
    def default_of(cls, name: str) -> Any:
        """The default of a top-level field (for the transports' own declarations)."""
        return cls.model_fields[name].get_default(call_default_factory=True)


def describe(name: str, model: type[BaseModel] = TrainRequest) -> str | None:
    """The description of a field of `model` (the transports' help texts)."""
    return model.model_fields[name].description


# --- Field names per transport ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldNames:
    """How one transport spells the request's fields: `aliases` renames top-level fields
    (REST's `async_training` is `background`), `camel_case` spells every part in camelCase
    (GraphQL's `hyperparameters.nEstimators`)."""

    aliases: Mapping[str, str] = field(default_factory=dict)
    camel_case: bool = False

    def spell(self, path: tuple[str | int, ...]) -> str:
        """The transport's name of a field at `path`, e.g. ("hyperparameters", "max_depth")."""
        parts = [str(part) for part in path]
        if parts and parts[0] in self.aliases:
            parts[0] = self.aliases[parts[0]]
        if self.camel_case:
            parts = [to_camel(part) for part in parts]
        return ".".join(parts)

    def field_of(self, name: str) -> str | None:
        """The request field the transport's top-level `name` stands for, None if none."""
        for target, alias in self.aliases.items():
            if name == alias:
                return target
        if name in self.aliases or name not in TrainRequest.model_fields:
            return None  # e.g. `background` in REST, which calls it async_training
        return name


PYTHON_NAMES = FieldNames()
REST_NAMES = FieldNames(aliases={"background": "async_training"})
GRAPHQL_NAMES = FieldNames(camel_case=True)


# --- Errors, worded as the contract words them -------------------------------------------------


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    low = next(m.ge for m in info.metadata if isinstance(m, Ge))
    high = next(m.le for m in info.metadata if isinstance(m, Le))
    return low, high


def _number(info: FieldInfo, value: object) -> str:
    low, high = _bounds(info)
    kind = "an integer" if info.annotation in (int, int | None) else "a number"
    nullable = ", or null" if info.annotation == int | None else ""
    return f"Must be {kind} from {low} to {high}{nullable}; got {value!r}."


def _text(info: FieldInfo, value: object) -> str:
    if info.metadata and any(getattr(m, "pattern", None) for m in info.metadata):
        return f"Must be 1 to 64 characters: letters, digits, '.', '_' and '-'; got {value!r}."
    return f"Must be a string; got {value!r}."


def _too_long(info: FieldInfo, value: object) -> str:
    limit = next(m.max_length for m in info.metadata if isinstance(m, MaxLen))
    return f"Must be at most {limit} characters; got {len(str(value))}."


def _allowed(model: type[BaseModel], names: FieldNames) -> str:
    return ", ".join(names.spell((name,)) for name in model.model_fields)


# pydantic's error type -> the message, from the field's declaration and the value sent.
_MESSAGES: dict[str, Callable[[FieldInfo, object], str]] = {
    "int_type": _number,
    "float_type": _number,
    "greater_than_equal": _number,
    "less_than_equal": _number,
    "string_type": _text,
    "string_pattern_mismatch": _text,
    "string_too_long": _too_long,
    "blank": lambda _info, _value: "Must not be empty.",
    "uuid_type": lambda _info, value: f"Must be a dataset id (a UUID); got {value!r}.",
    "uuid_parsing": lambda _info, value: f"Must be a dataset id (a UUID); got {value!r}.",
    "bool_type": lambda _info, value: f"Must be true or false; got {value!r}.",
    "model_type": lambda _info, _value: (
        f"Must be an object of {_allowed(Hyperparameters, PYTHON_NAMES)}."
    ),
}


def unknown_field_message(*, nested: bool, names: FieldNames) -> str:
    if nested:
        return f"Unknown hyperparameter. Allowed: {_allowed(Hyperparameters, PYTHON_NAMES)}."
    return f"Unknown field. Allowed fields: {_allowed(TrainRequest, names)}."


def _field_info(loc: tuple[str | int, ...]) -> FieldInfo | None:
    model: type[BaseModel] = TrainRequest
    info = None
    for part in loc:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            model = info.annotation
    return info


def _message(error: ErrorDetails, names: FieldNames) -> tuple[tuple[str | int, ...], str]:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return loc, unknown_field_message(nested=len(loc) > 1, names=names)
    info = _field_info(loc)
    wording = _MESSAGES.get(error["type"])
    if info is None or wording is None:
        # A case the table does not know: pydantic's own words still say what was wrong.
        return loc, error["msg"]
    return loc, wording(info, error["input"])


def invalid_message(fields: Mapping[str, list[str]]) -> str:
    """The one-line summary of per-field errors."""
    return "Invalid training request: " + "; ".join(
        f"{name}: {' '.join(messages)}" for name, messages in fields.items()
    )


# The order a request's errors are listed in (the one the service always used): unknown
# fields first, in the order sent, then the fields in this order; among hyperparameters, the
# unknown ones first too.
_ERROR_ORDER = (
    "test_split",
    "dataset_path",
    "target_column",
    "notes",
    "model_version",
    "dataset_id",
    "background",
    "dataset_twice",
    "hyperparameters",
)
DATASET_TWICE = "Give dataset_id or dataset_path, not both."


def _rank(loc: tuple[str | int, ...], *, unknown: bool) -> tuple[int, int]:
    top = str(loc[0]) if loc else ""
    return (_ERROR_ORDER.index(top) if top in _ERROR_ORDER else -1), 0 if unknown else 1


def parse_train_request(raw: Mapping[str, Any] | None, *, names: FieldNames) -> TrainRequest:
    """A TrainRequest from the fields a transport received (absent and null fields take their
    defaults), or InvalidInput whose `fields` name every bad field as the transport does."""
    found: list[tuple[tuple[int, int], str, str]] = []  # (rank, field as sent, message)
    known: dict[str, Any] = {}
    for name, value in (raw or {}).items():
        target = names.field_of(name)
        if target is None:
            message = unknown_field_message(nested=False, names=names)
            found.append(((-1, 0), name, message))
        else:
            known[target] = value
    request = None
    try:
        request = TrainRequest.model_validate(known)
    except ValidationError as exc:
        for error in exc.errors():
            loc, message = _message(error, names)
            rank = _rank(loc, unknown=error["type"] == "extra_forbidden")
            found.append((rank, names.spell(loc), message))
    # A rule across two fields, checked whatever else is wrong with the request.
    twice = known.get("dataset_id") is not None and known.get("dataset_path") is not None
    dataset_id = names.spell(("dataset_id",))
    if twice and not any(name == dataset_id for _, name, _ in found):
        found.append((_rank(("dataset_twice",), unknown=False), dataset_id, DATASET_TWICE))
    if request is None or found:
        errors: dict[str, list[str]] = {}
        for _, name, message in sorted(found, key=lambda item: item[0]):
            errors.setdefault(name, []).append(message)
        raise InvalidInput(invalid_message(errors), fields=errors)
    return request
