"""Where login attempts are counted, per username and per client address, and how long an
attempt past the free ones makes the next wait.

Each attempt is counted against its keys when it starts, before its password is checked, so
guesses sent at the same time are counted one after the other rather than all slipping in
before the first failure is recorded. The first `free_per_username` attempts of a username
(`free_per_address` of an address) lock nothing; from the last of those on, each attempt
locks its key for `delay`, doubling with every further attempt up to `max_delay`. While a
key is locked every attempt on it is refused unchecked and is not counted. A successful
login forgets both of its keys; counts are also forgotten `window` after the last attempt.

Stores: `DatabaseLoginThrottle` (the `login_throttle` table, shared by every worker and
instance on PostgreSQL: every change is one statement on the row's key, an upsert, an update
or a delete, never a read followed by a write; the keys of one attempt are claimed in one
transaction, always username first, so two attempts sharing a key wait on its row lock
instead of deadlocking) and `MemoryLoginThrottle` (this process; SQLite).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.config import Settings
from trainql.db.engine import Database
from trainql.db.models import LoginThrottleRow
from trainql.db.types import utcnow

USERNAME = "username"
ADDRESS = "address"
SUBJECT_MAX_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """What attempts are counted against: a username or a client address."""

    scope: str  # one of models.LOGIN_THROTTLEcol(LoginThrottleRow.scope)S
    subject: str

    def __post_init__(self) -> None:
        # The column is 255 characters; no username is longer than 150, so a cut subject
        # never collides with a real user's key.
        object.__setattr__(self, "subject", self.subject[:SUBJECT_MAX_LENGTH])


def _key_is(key: ThrottleKey) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(LoginThrottleRow.scope) == key.scope, col(LoginThrottleRow.subject) == key.subject
    )


async def count_attempt(
    session: AsyncSession, *, key: ThrottleKey, now: datetime, forget_before: datetime
) -> int | None:
    """Count one more attempt against `key` unless it is locked at `now`.

    Returns the attempts counted since the last success, this one included (a count whose
    last attempt is older than `forget_before` starts again at 1), or None when the key is
    locked (nothing is counted then). On PostgreSQL the row stays locked until the
    transaction ends, so a concurrent attempt on the same key sees this one's outcome.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(LoginThrottleRow)
        .values(scope=key.scope, subject=key.subject, attempts=1, last_attempt_at=now)
        .on_conflict_do_update(
            index_elements=["scope", "subject"],
            set_={
                "attempts": sa.case(
                    (col(LoginThrottleRow.last_attempt_at) < forget_before, 1),
                    else_=col(LoginThrottleRow.attempts) + 1,
                ),
                "last_attempt_at": now,
            },
            # A lock never outlasts the window (config.py checks), so a forgotten count is
            # never locked.
            where=sa.or_(
                col(LoginThrottleRow.locked_until).is_(None),
                col(LoginThrottleRow.locked_until) <= now,
            ),
        )
        .returning(col(LoginThrottleRow.attempts))
    )
    attempts = (await session.exec(statement)).scalar_one_or_none()
    return None if attempts is None else int(attempts)


async def lock(session: AsyncSession, *, key: ThrottleKey, until: datetime) -> None:
    """Refuse every attempt against `key` before `until`."""
    await session.exec(sa.update(LoginThrottleRow).where(_key_is(key)).values(locked_until=until))


async def locked_until(session: AsyncSession, *, key: ThrottleKey) -> datetime | None:
    """Until when `key` refuses attempts (a past time once its lock is over), or None."""
    statement = select(LoginThrottleRow.locked_until).where(_key_is(key))
    return (await session.exec(statement)).first()


async def forget(session: AsyncSession, *, keys: Sequence[ThrottleKey]) -> None:
    """Forget every attempt counted against `keys` (after a successful login)."""
    await session.exec(sa.delete(LoginThrottleRow).where(sa.or_(*(_key_is(key) for key in keys))))


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Delete the counts whose last attempt is older than `before`; how many went."""
    result = await session.exec(
        sa.delete(LoginThrottleRow).where(col(LoginThrottleRow.last_attempt_at) < before)
    )
    return int(result.rowcount or 0)


# The stores ---------------------------------------------------------------------------------------


MEMORY_MAX_KEYS = 100_000
# Doubling stops mattering long before this (2**40 s is beyond any cap).
_MAX_DOUBLINGS = 40


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many attempts are free, and how long the waits after them are."""

    free_per_username: int
    free_per_address: int
    delay: timedelta
    max_delay: timedelta
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            free_per_username=settings.login_free_failures,
            free_per_address=settings.login_free_failures_per_address,
            delay=timedelta(seconds=settings.login_delay_s),
            max_delay=timedelta(seconds=settings.login_max_delay_s),
            window=timedelta(seconds=settings.login_window_s),
        )

    def wait_after(self, scope: str, attempts: int) -> timedelta | None:
        """How long attempt number `attempts` (since the last success) locks its key; None
        while it is one of the free ones that lock nothing."""
        free = self.free_per_username if scope == USERNAME else self.free_per_address
        if attempts < free:
            return None
        return min(self.max_delay, self.delay * (1 << min(attempts - free, _MAX_DOUBLINGS)))


@dataclass(frozen=True, slots=True)
class Admitted:
    """An attempt let through: the attempts counted against each key, this one included."""

    attempts: dict[str, int]


@dataclass(frozen=True, slots=True)
class Refused:
    """An attempt refused unchecked: `scope` is the key with the longest wait."""

    scope: str
    retry_after: timedelta

    @property
    def retry_after_s(self) -> int:
        """The wait in whole seconds, rounded up (at least 1), as Retry-After carries it."""
        return max(1, math.ceil(self.retry_after.total_seconds()))


class LoginThrottle(Protocol):
    """Where attempts are counted. `admit` counts an attempt against every key unless one of
    them is locked; `forget` clears the keys after a success."""

    async def admit(self, keys: Sequence[ThrottleKey]) -> Admitted | Refused: ...

    async def forget(self, keys: Sequence[ThrottleKey]) -> None: ...


def _refusal(waits: dict[str, datetime], now: datetime) -> Refused | None:
    locked = {scope: until - now for scope, until in waits.items() if until > now}
    if not locked:
        return None
    scope = max(locked, key=lambda s: locked[s])
    return Refused(scope=scope, retry_after=locked[scope])


@dataclass(slots=True)
class _Count:
    attempts: int
    last_attempt_at: datetime
    locked_until: datetime | None = None


class MemoryLoginThrottle:
    """The counts in this process (one dict; no await between reading and writing it, so
    concurrent requests on the event loop are counted one after the other).

    At most `max_keys` counts are kept, those with the oldest last attempt dropped first: a
    flood of made-up usernames from many addresses costs bounded memory (about 200 bytes a
    count) rather than growing for a whole window.
    """

    def __init__(
        self,
        policy: ThrottlePolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_keys: int = MEMORY_MAX_KEYS,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.max_keys = max_keys
        # Oldest attempt first, so forgotten counts are dropped from the front.
        self._counts: OrderedDict[ThrottleKey, _Count] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    async def admit(self, keys: Sequence[ThrottleKey]) -> Admitted | Refused:
        now = self.clock()
        self._drop_forgotten(now)
        refused = _refusal(
            {
                key.scope: count.locked_until
                for key in keys
                if (count := self._counts.get(key)) is not None and count.locked_until
            },
            now,
        )
        if refused is not None:
            return refused
        attempts: dict[str, int] = {}
        for key in keys:
            count = self._counts.pop(key, None) or _Count(attempts=0, last_attempt_at=now)
            count.attempts += 1
            count.last_attempt_at = now
            wait = self.policy.wait_after(key.scope, count.attempts)
            count.locked_until = None if wait is None else now + wait
            self._counts[key] = count
            attempts[key.scope] = count.attempts
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)
        return Admitted(attempts=attempts)

    async def forget(self, keys: Sequence[ThrottleKey]) -> None:
        for key in keys:
            self._counts.pop(key, None)

    def _drop_forgotten(self, now: datetime) -> None:
        cutoff = now - self.policy.window
        while self._counts:
            key, count = next(iter(self._counts.items()))
            if count.last_attempt_at >= cutoff:
                break
            del self._counts[key]


class _Locked(Exception):
    """Raised inside the admitting transaction to roll back what it counted."""


class DatabaseLoginThrottle:
    """The counts in the `login_throttle` table, shared by every process on the database.

    One transaction per attempt counts it against each key in a fixed order (an atomic
    upsert per key, which holds the row's lock until the transaction ends) and sets the
    key's lock in the same transaction, so concurrent attempts on one key are counted one
    after the other, whatever worker or instance receives them. Counts older than the
    window are deleted at most once per `purge_interval` per process.
    """

    def __init__(
        self,
        db: Database,
        policy: ThrottlePolicy,
        *,
        purge_interval: timedelta = timedelta(minutes=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.policy = policy
        self.purge_interval = purge_interval
        self.clock = clock
        self._purged_at: datetime | None = None

    async def admit(self, keys: Sequence[ThrottleKey]) -> Admitted | Refused:
        now = self.clock()
        forget_before = now - self.policy.window
        if self._purged_at is None or now - self._purged_at >= self.purge_interval:
            self._purged_at = now
            async with self.db.session() as session:
                await purge(session, before=forget_before)
        attempts: dict[str, int] = {}
        try:
            async with self.db.session() as session:
                for key in keys:
                    counted = await count_attempt(
                        session, key=key, now=now, forget_before=forget_before
                    )
                    if counted is None:
                        raise _Locked
                    attempts[key.scope] = counted
                    wait = self.policy.wait_after(key.scope, counted)
                    if wait is not None:
                        await lock(session, key=key, until=now + wait)
        except _Locked:
            pass
        else:
            return Admitted(attempts=attempts)
        # Nothing was counted (the transaction rolled back); say how long the longest wait is.
        async with self.db.session() as session:
            waits = {
                key.scope: until
                for key in keys
                if (until := await locked_until(session, key=key)) is not None
            }
        refused = _refusal(waits, self.clock())
        # The lock may have ended in between: a retry at once is then admitted.
        return refused or Refused(scope=keys[0].scope, retry_after=timedelta(0))

    async def forget(self, keys: Sequence[ThrottleKey]) -> None:
        async with self.db.session() as session:
            await forget(session, keys=keys)


def login_throttle_store(
    db: Database, policy: ThrottlePolicy, *, clock: Callable[[], datetime] = utcnow
) -> LoginThrottle:
    """The throttle for `db`: the shared table on PostgreSQL, this process's memory on SQLite
    (where one process serves). `clock` is the time the waits are measured in."""
    if db.dialect == "postgresql":
        return DatabaseLoginThrottle(db, policy, clock=clock)
    return MemoryLoginThrottle(policy, clock=clock)
