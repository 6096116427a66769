"""Cursor pagination for every list: page requests, opaque cursors, and the page handed back.

A cursor is URL-safe base64 of a small JSON document: a format version, the order it belongs
to, and the row's Position (sort key, id). It is validated on the way in: anything this
service did not issue for the same order is BAD_USER_INPUT, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import pydantic_core

from trainql.db.pagination import KeysetPage, Position, Window
from trainql.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
CURSOR_VERSION = 1
# json.dumps with options builds an encoder on every call, and a page encodes a cursor per
# row: one encoder, the same bytes.
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))
# Text that json and pydantic_core write alike: ASCII but DEL (json writes DEL and every
# character past ASCII as a \u escape, pydantic_core as it is). A timestamp's ISO text is.
_PLAIN_TEXT = re.compile("[\x00-\x7e]*")


def _cursor_json(document: dict[str, Any]) -> bytes:
    """`document` as compact JSON, the same bytes as `_CURSOR_JSON` writes.

    pydantic_core writes a document of ints and plain text in a fifth of json's time (0.9
    against 4.2 µs, 20 cursors a page); anything else (a float, whose text the two write
    differently: 1e-05 and 1e-5; other text) is left to json.
    """
    for value in document.values():
        if not (
            value is None
            or type(value) is int
            or (type(value) is str and _PLAIN_TEXT.fullmatch(value) is not None)
        ):
            return _CURSOR_JSON.encode(document).encode()
    return pydantic_core.to_json(document)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Relay arguments: `first` rows after `after`, or the `last` rows before `before`."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: items with their cursors, whether more lie on either side, and a
    `count` of the whole filtered list that runs its query only when awaited."""

    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Awaitable[int]]

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


def datetime_to_json(value: datetime) -> str:
    """A timestamp sort key as ISO-8601 in UTC."""
    return value.astimezone(UTC).isoformat()


def datetime_from_json(value: Any) -> datetime:
    """A timestamp sort key back from `datetime_to_json`; an offset is required."""
    if not isinstance(value, str):
        raise TypeError("a timestamp must be a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a timestamp without an offset")
    return parsed


def int_id_from_json(value: Any) -> int:
    """An integer primary key (positive) from a cursor."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("an id must be a positive integer")
    return value


def uuid_id_from_json(value: Any) -> uuid.UUID:
    """A UUID primary key from a cursor (written with `str`)."""
    if not isinstance(value, str):
        raise TypeError("an id must be a string")
    return uuid.UUID(value)


@dataclass(frozen=True, slots=True)
class CursorCodec:
    """Encodes Positions of one order (`order`, e.g. "RUN_DATE") as cursors and back.

    `key_to_json` / `key_from_json` convert the sort key, `id_to_json` / `id_from_json` the
    row id (by default a positive integer); the `_from_json` ones raise ValueError (or
    TypeError) for a value that order cannot have.
    """

    order: str
    key_to_json: Callable[[Any], Any]
    key_from_json: Callable[[Any], Any]
    id_to_json: Callable[[Any], Any] = int
    id_from_json: Callable[[Any], int | uuid.UUID] = int_id_from_json

    def encode(self, position: Position) -> str:
        document = {"v": CURSOR_VERSION, "o": self.order, "k": self.key_to_json(position.key)}
        document["i"] = self.id_to_json(position.id)
        raw = _cursor_json(document)
        return base64.urlsafe_b64encode(raw).decode("ascii")

    def decode(self, cursor: str, *, argument: str) -> Position:
        """The Position in `cursor`; InvalidInput naming `argument` when it is not a cursor
        of this order."""
        try:
            document = json.loads(base64.b64decode(cursor, altchars=b"-_", validate=True))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise _bad_cursor(argument, "it is not a cursor this service issued") from None
        if not isinstance(document, dict) or set(document) != {"v", "o", "k", "i"}:
            raise _bad_cursor(argument, "it is not a cursor this service issued")
        if document["v"] != CURSOR_VERSION:
            raise _bad_cursor(argument, "its format is out of date; start again from page one")
        if document["o"] != self.order:
            raise _bad_cursor(
                argument, f"it belongs to the order {document['o']!r}, not {self.order!r}"
            )
        try:
            row_id = self.id_from_json(document["i"])
            key = self.key_from_json(document["k"])
        except (TypeError, ValueError):
            raise _bad_cursor(argument, "it is not a cursor this service issued") from None
        return Position(key=key, id=row_id)


def _bad_cursor(argument: str, why: str) -> InvalidInput:
    message = f"Invalid cursor in {argument}: {why}."
    return InvalidInput(
        message,
        fields={
            argument: [
                f"{why[0].upper()}{why[1:]}. Pass a cursor from this list's edges or pageInfo, "
                "requested in the same order."
            ]
        },
    )


def _page_size(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"{name} must be between 1 and {MAX_PAGE_SIZE}, got {value}.",
            fields={
                name: [f"Must be between 1 and {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."]
            },
        )
    return value


def window_for(request: PageRequest, codec: CursorCodec) -> Window:
    """The rows `request` asks for; InvalidInput for sizes outside 1..100, for `first` with
    `last`, and for cursors `codec` did not issue.

    Neither size given: the first 20 (the last 20 when only `before` is given).
    """
    first = _page_size("first", request.first)
    last = _page_size("last", request.last)
    if first is not None and last is not None:
        raise InvalidInput(
            "Pass first (with after) or last (with before), not both.",
            fields={"last": ["Cannot be combined with first."]},
        )
    after = None if request.after is None else codec.decode(request.after, argument="after")
    before = None if request.before is None else codec.decode(request.before, argument="before")
    backward = last is not None or (first is None and before is not None and after is None)
    limit = first or last or DEFAULT_PAGE_SIZE
    return Window(limit=limit, backward=backward, after=after, before=before)


def keyset_result(
    found: KeysetPage[T],
    *,
    codec: CursorCodec,
    position: Callable[[T], Position],
    count: Callable[[], Awaitable[int]],
) -> Page[T]:
    """The Page of a keyset page: each item's cursor is `codec`'s encoding of its `position`."""
    return Page(
        items=found.items,
        cursors=[codec.encode(position(item)) for item in found.items],
        has_next_page=found.has_next,
        has_previous_page=found.has_previous,
        count=count,
    )
