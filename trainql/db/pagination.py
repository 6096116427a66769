"""Keyset (seek) pagination: a page starts where the previous one ended, found through an index.

An order is a sort key expression and a unique id, both in one direction, so a row's place is
the pair (key, id) and "after this place" is one row-value comparison that a two-column index
(key, id) answers by a range scan: page 10 000 costs what page 1 costs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

T = TypeVar("T")

# The bound parameter of `Sort.first_rows`' row limit.
LIMIT_PARAMETER = "page_limit"


@dataclass(frozen=True, slots=True)
class Position:
    """A row's place in an order: its sort key value and its unique id (an integer or UUID
    primary key)."""

    key: Any
    id: int | uuid.UUID


@dataclass(frozen=True, slots=True)
class Window:
    """The rows a page wants: `limit` rows after `after` (forward) or, `backward`, the last
    `limit` rows before `before`. Both bounds may be given; each excludes its own row."""

    limit: int
    backward: bool = False
    after: Position | None = None
    before: Position | None = None


@dataclass(frozen=True, slots=True)
class Sort:
    """An order: `key` then `id`, both descending or both ascending.

    `bind` turns a Position's key into the value compared with `key` (e.g. a NULL metric into
    its sort value).
    """

    # Column expressions (SQLModel's attributes are typed as their Python values).
    key: Any
    id: Any
    descending: bool
    bind: Callable[[Any], Any] = field(default=lambda value: value)

    def order_by(self, *, reverse: bool = False) -> list[ColumnElement[Any]]:
        descending = self.descending != reverse
        return [c.desc() if descending else c.asc() for c in (self.key, self.id)]

    def first_rows(self, rows: Any, *, backward: bool) -> Any:
        """`rows` from the start of this order (from its end, `backward`), as many as the
        bound parameter `limit` says: the statement of a page without cursors, which
        `first_keyset_page` runs. Built once and run with parameters, it spares every
        request the building of a statement and of its cache key."""
        return rows.order_by(*self.order_by(reverse=backward)).limit(
            sa.bindparam(LIMIT_PARAMETER, type_=sa.Integer)
        )

    def _values(self, position: Position) -> tuple[Any, Any]:
        return (
            sa.literal(self.bind(position.key), self.key.type),
            sa.literal(position.id, self.id.type),
        )

    def _greater(self, after: bool) -> bool:
        return after != self.descending

    def beyond(self, position: Position, *, after: bool, inclusive: bool = False) -> Any:
        """Rows after `position` in this order (or before it, `after=False`): one row-value
        comparison, which PostgreSQL answers with a range scan of the (key, id) index."""
        left = sa.tuple_(self.key, self.id)
        right = sa.tuple_(*self._values(position))
        if self._greater(after):
            return left >= right if inclusive else left > right
        return left <= right if inclusive else left < right

    def split_beyond(self, position: Position, *, after: bool, inclusive: bool = False) -> Any:
        """`beyond` as two conditions, ties on the key and rows strictly beyond the key.

        SQLite seeks an index only on the first column of a row value (and not at all on an
        expression index), so a long run of equal keys, such as the NULL metrics, would be
        scanned; each of these two conditions is one index seek.
        """
        key, id_ = self._values(position)
        if self._greater(after):
            return (
                sa.and_(self.key == key, self.id >= id_ if inclusive else self.id > id_),
                self.key > key,
            )
        return (
            sa.and_(self.key == key, self.id <= id_ if inclusive else self.id < id_),
            self.key < key,
        )


@dataclass(frozen=True, slots=True)
class KeysetPage(Generic[T]):
    items: list[T]
    has_next: bool
    has_previous: bool


async def _seek(
    conn: AsyncConnection,
    statement: Any,  # a SELECT; Any because SQLModel's exec() overloads want precise row types
    *,
    sort: Sort,
    start: Position | None,
    after: bool,
    inclusive: bool,
    limit: int,
) -> list[Any]:
    """Up to `limit` rows of `statement` from `start` on, moving after it (or before it), the
    nearest first."""
    reverse = not after
    if start is None:
        ordered = statement.order_by(*sort.order_by(reverse=reverse)).limit(limit)
        return list((await conn.execute(ordered)).all())
    if conn.dialect.name != "sqlite":
        seek = statement.where(sort.beyond(start, after=after, inclusive=inclusive))
        ordered = seek.order_by(*sort.order_by(reverse=reverse)).limit(limit)
        return list((await conn.execute(ordered)).all())
    ties, strictly = sort.split_beyond(start, after=after, inclusive=inclusive)
    id_order = sort.order_by(reverse=reverse)[1]
    found = list((await conn.execute(statement.where(ties).order_by(id_order).limit(limit))).all())
    if len(found) < limit:
        rest = statement.where(strictly).order_by(*sort.order_by(reverse=reverse))
        found += (await conn.execute(rest.limit(limit - len(found)))).all()
    return found


async def first_keyset_page(
    conn: AsyncConnection, statement: Any, params: dict[str, Any], *, window: Window
) -> KeysetPage[Any]:
    """The page `keyset_page` answers for a window without cursors, from a statement made by
    `Sort.first_rows` (with `backward` as the window's) and the values of its parameters."""
    assert window.after is None and window.before is None
    bound = {**params, LIMIT_PARAMETER: window.limit + 1}
    return _page(list((await conn.execute(statement, bound)).all()), window, behind=False)


def _page(found: list[Any], window: Window, *, behind: bool) -> KeysetPage[Any]:
    """The page of `found` (up to limit + 1 rows, the nearest first, in the direction of
    travel), with `behind` saying whether rows lie behind where it started."""
    more = len(found) > window.limit
    found = found[: window.limit]
    if window.backward:
        found.reverse()
        return KeysetPage(items=found, has_next=behind, has_previous=more)
    return KeysetPage(items=found, has_next=more, has_previous=behind)


async def keyset_page(
    conn: AsyncConnection,
    rows: Any,
    probe: Any,
    *,
    sort: Sort,
    window: Window,
) -> KeysetPage[Any]:
    """The rows of `rows` (already filtered) inside `window`, in `sort` order.

    Whether more rows lie in the direction of travel is answered by fetching one row more than
    the limit; whether rows lie behind the cursor the page started from, by one indexed
    one-row seek of `probe` (a select from the same filtered rows) the other way.
    """
    start, end = (window.before, window.after) if window.backward else (window.after, window.before)
    statement = rows
    if end is not None:
        statement = statement.where(sort.beyond(end, after=window.backward))
    found = await _seek(
        conn,
        statement,
        sort=sort,
        start=start,
        after=not window.backward,
        inclusive=False,
        limit=window.limit + 1,
    )
    behind = start is not None and bool(
        await _seek(
            conn,
            probe,
            sort=sort,
            start=start,
            after=window.backward,
            inclusive=True,
            limit=1,
        )
    )
    return _page(found, window, behind=behind)
