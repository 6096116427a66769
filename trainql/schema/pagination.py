"""Relay-style connections for every list: `Connection[NodeType]` is named `<Node>Connection`.

Built from a resolver `Page`; `totalCount` runs its COUNT only when a client selects it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from trainql.errors import InvalidInput
from trainql.resolvers.pagination import Page

NodeT = TypeVar("NodeT")
ItemT = TypeVar("ItemT")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    page: strawberry.Private[Page[Any]]

    @strawberry.field
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Counted only when selected.")
    async def total_count(self) -> int:
        return await self.page.count()


def connection(page: Page[ItemT], to_node: Callable[[ItemT], NodeT]) -> Connection[NodeT]:
    """The connection of a resolver page, each item converted by `to_node`."""
    return Connection(
        edges=[
            Edge(cursor=cursor, node=to_node(item))
            for item, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        ),
        page=page,
    )


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
