"""Watching the SQL the service runs: every statement on every engine of its database (on
SQLite, reads have an engine of their own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from trainql.services import Services


@contextmanager
def on_every_statement(services: Services, record: Callable[..., None]) -> Iterator[None]:
    """Call `record(conn, cursor, statement, parameters, context, executemany)` before each
    statement the service's database runs inside the block."""
    engines = [engine.sync_engine for engine in services.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@contextmanager
def counted_statements(services: Services) -> Iterator[list[str]]:
    """The SQL statements the service runs inside the block."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with on_every_statement(services, record):
        yield statements


def without_token_check(statements: list[str]) -> list[str]:
    """The statements other than the token lookup, which a request makes or not depending on
    whether the process checked the token in the last second (tests/resolvers/test_auth.py)."""
    return [s for s in statements if "api_tokens" not in s]
