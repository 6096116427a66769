"""Bench databases: each bench makes a database of its own and drops it at the end.

PostgreSQL: a database named by the bench, created on the given server (never another
database touched); SQLite: a file in the bench's temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from trainql.db import migrate


def admin_url(server: str) -> str:
    """`server` as a plain libpq URL (psycopg's connect takes no SQLAlchemy driver name)."""
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server: str, name: str) -> str:
    """The URL of the database `name` on `server`."""
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def create_postgres(server: str, name: str) -> str:
    """A fresh, empty database `name` on `server` (dropped first if a crashed run left it)."""
    with psycopg.connect(admin_url(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(server, name)


def drop_postgres(server: str, name: str) -> None:
    with psycopg.connect(admin_url(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_trainql_database(backend: str, server: str, name: str, state: Path) -> str:
    """A migrated, empty trainql database for `backend`; its URL."""
    if backend == "sqlite":
        url = f"sqlite:///{state / f'{name}.db'}"
    else:
        url = create_postgres(server, name)
    migrate.upgrade(url)
    return url
