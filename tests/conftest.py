"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from TRAINQL_TEST_POSTGRES_URL (a server URL whose user may create
databases); the suite creates a fresh database for the session and drops it afterwards.
Without the variable the PostgreSQL half is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from tests.factories import Factory
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import migrate
from trainql.services import Services

pytest_plugins = ["tests.s3_support"]

POSTGRES_ENV = "TRAINQL_TEST_POSTGRES_URL"
# Which databases the `backend` fixture runs on; .ci/run runs one pass per database.
BACKENDS = tuple(
    b.strip() for b in os.environ.get("TRAINQL_TEST_BACKENDS", "sqlite,postgresql").split(",")
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on a database `db`, so a pass can select them."""
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _pg_admin(url: str) -> psycopg.Connection[Any]:
    parsed = make_url(url).set(drivername="postgresql")
    conninfo = parsed.render_as_string(hide_password=False)
    return psycopg.connect(conninfo, autocommit=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set; CI runs every database test on PostgreSQL")
        pytest.skip(f"{POSTGRES_ENV} not set: PostgreSQL tests skipped outside CI")
    name = f"trainql_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with _pg_admin(server) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL at {server} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with _pg_admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "trainql.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set")
        pytest.skip(f"{POSTGRES_ENV} not set: PostgreSQL tests skipped outside CI")
    name = f"trainql_empty_{uuid.uuid4().hex[:10]}"
    with _pg_admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with _pg_admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with _pg_admin(url) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of the parametrized backend."""
    if backend == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        _truncate_postgres(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "trainql.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    state = tmp_path / "state"
    return Settings(
        state_dir=state,
        database_url=database_url,
        data_root=state / "data",
        model_dir=state / "models",
        admin_password=None,
        log_level="INFO",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with app_lifespan(application):
        yield application


@pytest.fixture
def services(app: FastAPI) -> Services:
    result: Services = app.state.services
    return result


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def factory(services: Services) -> Factory:
    return Factory(services)
