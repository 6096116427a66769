"""Relay-style pagination: PageInfo and opaque cursors.

A cursor is URL-safe base64 of a JSON array (the keyset values of an item); clients must
treat it as opaque. A cursor that does not decode is BAD_USER_INPUT.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import strawberry

from trainql.errors import InvalidInput


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for the JSON-serializable keyset `values`."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, length: int, argument: str = "after") -> list[Any]:
    """The keyset values of `cursor` (a list of `length` items); InvalidInput otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise invalid_cursor(argument)
    return values


def invalid_cursor(argument: str = "after") -> InvalidInput:
    """The error for a cursor this service did not hand out."""
    message = f"{argument} is not a valid cursor; pass a cursor from a previous page."
    return InvalidInput(message, fields={argument: [message]})
