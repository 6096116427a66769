"""Whether the configured database can be used, said in one line an operator can act on.

The command line checks this before any command touches the database, so a missing,
unreachable or unmigrated database is one sentence naming the fix, not a driver traceback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from trainql.db.engine import sync_url
from trainql.db.migrate import alembic_config

# An unreachable host (a firewall dropping packets) would otherwise hang the command.
POSTGRES_CONNECT_TIMEOUT_S = 10
URL_HINT = "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname"


class DatabaseNotReady(Exception):
    """The configured database cannot be used; `str()` is one line saying why and what to do."""


def shown_url(url: str) -> str:
    """The URL as it may be printed: with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def one_line(text: str) -> str:
    """`text` on one line: its lines joined with "; ", runs of blanks made single spaces."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "; ".join(line for line in lines if line)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def database_error_reason(exc: BaseException) -> str | None:
    """Why the database could not be reached or used, in one line, when `exc` or one of its
    causes is such a failure (a driver error, a refused connection, a URL that cannot be
    parsed); None otherwise."""
    for cause in _causes(exc):
        if isinstance(cause, ArgumentError) or (
            isinstance(cause, ValueError) and "unsupported database" in str(cause)
        ):
            return f"TRAINQL_DATABASE_URL is not a database URL trainql can use: {URL_HINT}"
        if isinstance(cause, DBAPIError):
            return one_line(str(cause.orig))
        if isinstance(cause, (sqlite3.Error, OSError)):
            return one_line(str(cause))
    return None


def describe_database_error(exc: BaseException, url: str) -> str | None:
    """`database_error_reason`, saying which database it is about."""
    reason = database_error_reason(exc)
    return None if reason is None else f"cannot use the database at {shown_url(url)}: {reason}"


def parse_database_url(url: str) -> URL:
    """The synchronous URL for `url`; DatabaseNotReady when it is not one trainql can use."""
    try:
        return sync_url(url)
    except (ArgumentError, ValueError) as exc:
        try:
            unsupported = f" ({make_url(url).get_backend_name()} is not supported)"
        except ArgumentError:
            unsupported = ""
        raise DatabaseNotReady(
            f"TRAINQL_DATABASE_URL={shown_url(url)!r} is not a database URL trainql can "
            f"use{unsupported}: {URL_HINT}"
        ) from exc


def check_database(url: str) -> None:
    """Return when the database at `url` answers and is at the newest schema revision this
    trainql knows; otherwise raise DatabaseNotReady naming the problem and the fix. Creates
    nothing (no SQLite file, no directory)."""
    parsed = parse_database_url(url)
    shown = shown_url(url)
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database not in ("", ":memory:") and not Path(database).is_file():
            raise DatabaseNotReady(
                f"there is no database at {database}: run `trainql migrate` to create it "
                "(or set TRAINQL_DATABASE_URL to the database to use)"
            )
    else:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    engine = create_engine(parsed, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseNotReady(
            describe_database_error(exc, url) or f"cannot use the database at {shown}: {exc}"
        ) from exc
    finally:
        engine.dispose()
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    if current == head:
        return
    if current is None:
        raise DatabaseNotReady(f"the database at {shown} is not migrated: run `trainql migrate`")
    known = {script.revision for script in scripts.walk_revisions()}
    if current not in known:
        raise DatabaseNotReady(
            f"the database at {shown} is at schema revision {current}, which this trainql "
            f"does not know (it needs {head}): was it migrated by a newer trainql?"
        )
    raise DatabaseNotReady(
        f"the database at {shown} is at schema revision {current}, this trainql needs "
        f"{head}: run `trainql migrate`"
    )
