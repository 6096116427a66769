"""The async engine, the one managed-session helper, and the one translation of driver errors.

A database that cannot be reached (down, restarting, refusing connections, or no pooled
connection free within the pool timeout) becomes DatabaseUnavailable; a database whose
storage is full becomes InsufficientStorage; a constraint violation becomes
ConstraintViolation. Everything else a driver raises is a bug and stays what it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic_core
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.config import Settings
from trainql.errors import DatabaseUnavailable, InsufficientStorage, InvalidInput, TrainqlError

T = TypeVar("T")

logger = logging.getLogger("trainql.db")

# SQLite result codes (the low byte of sqlite_errorcode) that mean "not now", not "wrong SQL".
_SQLITE_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_PROTOCOL,
}
_POSTGRES_DISK_FULL = "53100"
_POSTGRES_OUT_OF_RANGE = "22003"
# PostgreSQL's class 54 (program limit exceeded: a statement too complex) is a bug of ours,
# not an outage, although psycopg files it under OperationalError with the others.
_POSTGRES_NOT_AN_OUTAGE_CLASSES = {"54"}
DATABASE_FULL_MESSAGE = (
    "The database has no space left to record this; nothing was recorded. Free space on the "
    "database's storage and try again."
)


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How many connections a Database keeps and how long a request waits for one."""

    size: int = 10
    max_overflow: int = 20
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0


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


def translated_driver_error(exc: DBAPIError | PoolTimeout) -> TrainqlError | None:
    """The domain error a driver error stands for, or None when it is a bug (bad SQL):
    DatabaseUnavailable for an outage or a pool timeout, InsufficientStorage for a database
    whose disk is full, InvalidInput for a value the database will not store."""
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable()
    if isinstance(exc, DataError):
        return _data_error(exc)
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return _sqlite_error(sqlite_code & 0xFF)
    return _postgres_error(exc, getattr(exc.orig, "sqlstate", None))


def _postgres_error(exc: DBAPIError, sqlstate: object) -> TrainqlError | None:
    if sqlstate == _POSTGRES_DISK_FULL:
        return InsufficientStorage(DATABASE_FULL_MESSAGE)
    if isinstance(sqlstate, str) and sqlstate[:2] in _POSTGRES_NOT_AN_OUTAGE_CLASSES:
        return None
    # psycopg raises OperationalError for a refused or lost connection (no SQLSTATE then),
    # a server shutting down (57P01) and too many connections (53300).
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return DatabaseUnavailable()
    return None


def _sqlite_error(primary_code: int) -> TrainqlError | None:
    if primary_code == sqlite3.SQLITE_FULL:
        return InsufficientStorage(DATABASE_FULL_MESSAGE)
    return DatabaseUnavailable() if primary_code in _SQLITE_UNAVAILABLE else None


def _data_error(exc: DataError) -> InvalidInput:
    # A value the database will not store. Every value a client sends is checked before it
    # gets here, except what only the database knows: PostgreSQL refuses NUL in text (SQLite
    # does not), and its integers are narrower than Python's.
    text = str(exc.orig)
    if "NUL" in text or "0x00" in text:
        return InvalidInput(
            "Text in the request contains a NUL character (\\u0000), which cannot be stored "
            "or searched for; remove it."
        )
    if getattr(exc.orig, "sqlstate", None) == _POSTGRES_OUT_OF_RANGE:
        return InvalidInput("A number in the request is out of the range the database stores.")
    return InvalidInput("A value in the request is not one the database can store.")


@contextmanager
def driver_errors() -> Iterator[None]:
    """Raise the domain error of a driver error raised in the block (translated_driver_error);
    driver errors that are bugs pass through unchanged."""
    try:
        yield
    except (DBAPIError, PoolTimeout) as exc:
        translated = translated_driver_error(exc)
        if translated is None:
            raise
        # One line, no traceback: an outage is an operator's matter, not a bug.
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        logger.warning("%s (%s: %s)", translated.message, type(exc).__name__, cause)
        raise translated from exc


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says the database could not be reached (down, restarting, the
    connection lost, no pooled connection free): trying the same again later may work.
    Sessions raise DatabaseUnavailable for those (translated_driver_error); raw driver
    errors (an engine used directly) count too."""
    if isinstance(exc, DatabaseUnavailable | PoolTimeout | ConnectionError):
        return True
    if isinstance(exc, DBAPIError):
        return isinstance(translated_driver_error(exc), DatabaseUnavailable)
    return False


# Backoff between tries while the database is away.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0


async def retried_while_away(call: Callable[[], Awaitable[T]], *, for_s: float, what: str) -> T:
    """`call()`, tried again with backoff while the database is away (`is_outage`), for at
    most `for_s` seconds; any other error, or the last outage, is raised."""
    deadline = time.monotonic() + for_s
    delay = RETRY_FIRST_S
    while True:
        try:
            return await call()
        except Exception as exc:
            if not is_outage(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning("The database is away; %s again in %.1fs", what, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)


def utc_session_options(options: str | tuple[str, ...] | None) -> str:
    """The connection's startup `options` (the URL's own, if it has any) with the session's
    time zone set to UTC.

    psycopg reads a timestamptz in the session's time zone. Under a server's `Etc/UTC` (the
    Debian default) or any named zone, that is a ZoneInfo conversion per value, and UTCDateTime
    converts the result to UTC again; under `UTC` psycopg makes the value in UTC directly. The
    values are the same instants either way: no statement here depends on the session's zone.
    """
    given = options if isinstance(options, str | None) else " ".join(options)
    return " ".join(part for part in (given, "-c TimeZone=UTC") if part)


def load_json(text: str | bytes) -> Any:
    """A JSON column's value, as json.loads reads it, in a tenth of its time.

    A page reads a JSON column per row (its trainer's roles), a run's details several:
    json.loads takes 2.7 µs for `["MANAGER"]`, pydantic_core 0.2 µs, with the same values
    (floats to the bit, NaN and Infinity, big integers, the last of duplicate keys). It
    refuses a lone surrogate escape ("\\ud800"), which json.dumps writes for such a string
    and json.loads reads back: that value is read the old way.
    """
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        return json.loads(text)


class Database:
    """An async engine and its session factory; one per application."""

    def __init__(self, url: str, *, echo: bool = False, pool: PoolSettings | None = None) -> None:
        self.url = url
        target = async_url(url)
        pool = pool or PoolSettings()
        kwargs: dict[str, Any] = {
            "echo": echo,
            "pool_pre_ping": False,
            "pool_size": pool.size,
            "max_overflow": pool.max_overflow,
            "pool_timeout": pool.timeout_s,
            "json_deserializer": load_json,
        }
        if target.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {
                # Without it, a database host that drops packets holds a request for minutes.
                "connect_timeout": max(1, round(pool.connect_timeout_s)),
                "options": utc_session_options(target.query.get("options")),
            }
        self.engine: AsyncEngine = create_async_engine(target, **kwargs)
        # Reads get a pool of their own whose connections are in autocommit from the start,
        # and are not rolled back when returned (nothing is ever open on them). On the
        # sessions' pool, SQLAlchemy set autocommit at each checkout and reset it at checkin:
        # on SQLite two more trips to aiosqlite's thread (1.1 ms a read instead of 0.5 ms);
        # on PostgreSQL no trip, but 0.36 M instructions of every request (callgrind: 5 % of a
        # REST page, 10 % of a run by id). The price on PostgreSQL: a process may hold up to
        # twice TRAINQL_DATABASE_POOL_SIZE + TRAINQL_DATABASE_MAX_OVERFLOW connections, the
        # same bounds for each pool (README).
        self._reads = create_async_engine(
            target, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **kwargs
        )
        self._engines = [self.engine, self._reads]
        if target.get_backend_name() == "sqlite":
            for engine in self._engines:
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The database `settings` name, with their pool and timeouts."""
        return cls(
            settings.database_url,
            pool=PoolSettings(
                size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
                timeout_s=settings.database_pool_timeout_s,
                connect_timeout_s=settings.database_connect_timeout_s,
            ),
        )

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine of this database: the sessions' and the reads'."""
        return tuple(self._engines)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends, rolls back when it raises, and turns
        constraint violations into `ConstraintViolation` and an unreachable database into
        `DatabaseUnavailable` (see translated_driver_error). A block that raised committed
        nothing."""
        with driver_errors():
            async with self._sessions() as session:
                try:
                    yield session
                    await session.commit()
                except IntegrityError as exc:
                    await session.rollback()
                    raise ConstraintViolation(
                        str(exc.orig), constraint=_constraint_name(exc)
                    ) from exc
                except (DBAPIError, PoolTimeout):
                    # The connection is likely gone: a failing rollback must not hide why.
                    with suppress(DBAPIError, PoolTimeout):
                        await session.rollback()
                    raise
                except BaseException:
                    await session.rollback()
                    raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for the reads every request makes (the token check, list pages).

        No ORM session and no transaction: a SELECT is one round trip with no BEGIN or
        COMMIT, and its rows are plain tuples, not tracked objects. That is most of the cost
        of a small request. Statements in one block may each see a different snapshot: use
        `session()` where several reads must agree (a count and its page). Driver errors are
        translated as in `session()`.
        """
        with driver_errors():
            async with self._reads.connect() as conn:
                yield conn

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, PoolTimeout, OSError):
            return False
        return True

    async def dispose(self) -> None:
        for engine in self._engines:
            await engine.dispose()
