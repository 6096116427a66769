"""Relay-style connections for every list: `Connection[NodeType]` is named `<Node>Connection`.

Built from a resolver `Page`; `totalCount` runs its COUNT only when a client selects it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

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
