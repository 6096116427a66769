"""The async engine and the one managed-session helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession


class ConstraintViolation(Exception):
    """A write refused by a database constraint; callers turn it into a domain error."""

    def __init__(self, message: str, *, constraint: str | None) -> None:
        super().__init__(message)
        self.constraint = constraint


def sync_url(url: str) -> URL:
    """The URL for synchronous use (Alembic, bulk tools): psycopg 3 or the stdlib sqlite3."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def async_url(url: str) -> URL:
    """The URL for the service: psycopg 3 (async mode) or aiosqlite."""
    parsed = sync_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while a run row is written; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    # SQLite names only the columns ("UNIQUE constraint failed: training_runs.model_version")
    # or the CHECK constraint's name.
    text = str(exc.orig)
    for marker in ("constraint failed: ", "CHECK constraint failed: "):
        if marker in text:
            return text.split(marker, 1)[1].strip()
    return None


class Database:
    """An async engine and its session factory; one per application."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        target = async_url(url)
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": False}
        if target.get_backend_name() == "postgresql":
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(target, **kwargs)
        if target.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        # Same pool and event listeners; each statement commits on its own.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends, rolls back when it raises, and turns
        constraint violations into `ConstraintViolation`."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except IntegrityError as exc:
                await session.rollback()
                raise ConstraintViolation(str(exc.orig), constraint=_constraint_name(exc)) from exc
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for the reads every request makes (the token check, list pages).

        No ORM session and no transaction: a SELECT is one round trip with no BEGIN or
        COMMIT, and its rows are plain tuples, not tracked objects. That is most of the cost
        of a small request. Statements in one block may each see a different snapshot: use
        `session()` where several reads must agree (a count and its page).
        """
        async with self._autocommit.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
