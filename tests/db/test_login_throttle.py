"""Password guessing: failed logins throttled per username and per client address (the
policy and the stores of db/login_throttle.py), mostly through POST /api-token-auth/
(obtainToken shares the resolver: tests/schema/test_users.py), on the in-memory store
(SQLite) and the shared table (PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from tests.auth_support import LEGACY_BAD_CREDENTIALS, login, serving, throttle_clock
from trainql.config import Settings
from trainql.db.login_throttle import (
    Admitted,
    DatabaseLoginThrottle,
    MemoryLoginThrottle,
    Refused,
    ThrottleKey,
    ThrottlePolicy,
)
from trainql.resolvers.auth import address_subject

PASSWORD = "correct-horse-battery"


def _throttled_body(seconds: int, where: str = "for this username") -> dict[str, str]:
    unit = "second" if seconds == 1 else "seconds"
    return {"detail": f"Too many failed login attempts {where}; try again in {seconds} {unit}."}


def test_each_attempt_past_the_free_ones_doubles_the_wait_up_to_the_cap():
    # given
    policy = ThrottlePolicy(
        free_per_username=5,
        free_per_address=20,
        delay=timedelta(seconds=1),
        max_delay=timedelta(seconds=900),
        window=timedelta(days=1),
    )
    # when
    waits = [policy.wait_after("username", n) for n in range(1, 17)]
    # then
    assert waits[:4] == [None] * 4
    assert [w.total_seconds() for w in waits[4:] if w] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        900,
        900,
    ]
    assert policy.wait_after("address", 19) is None
    assert policy.wait_after("address", 20) == timedelta(seconds=1)
    assert policy.wait_after("username", 10_000) == timedelta(seconds=900)


@pytest.mark.parametrize(
    ("host", "subject"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64_network(host: str | None, subject: str):
    assert address_subject(host) == subject


async def test_the_store_is_the_shared_table_on_postgresql_and_memory_on_sqlite(
    settings: Settings, backend: str
):
    async with serving(settings) as served:
        throttle = served.services.login_throttle
        expected = DatabaseLoginThrottle if backend == "postgresql" else MemoryLoginThrottle
        assert isinstance(throttle, expected)


async def test_failures_past_the_free_ones_are_answered_429_with_a_growing_retry_after(
    settings: Settings,
):
    # given: two free failures, then waits of 1 s, 2 s, 4 s, capped at 4 s
    async with serving(
        settings, login_free_failures=2, login_delay_s=1.0, login_max_delay_s=4.0
    ) as served:
        clock = throttle_clock(served)
        await served.factory.account("jane")
        client = await served.client()
        # when / then: the free failures keep the legacy body
        for _ in range(2):
            response = await login(client, "jane", "wrong-guess")
            assert response.status_code == 400
            assert response.json() == LEGACY_BAD_CREDENTIALS
        waits = []
        for _ in range(4):
            refused = await login(client, "jane", "wrong-guess")
            assert refused.status_code == 429
            waits.append(int(refused.headers["retry-after"]))
            assert refused.json() == _throttled_body(waits[-1])
            clock.advance(waits[-1] - 0.5)
            still = await login(client, "jane", "wrong-guess")
            assert (still.status_code, still.headers["retry-after"]) == (429, "1")
            clock.advance(0.5)
            # the wait is over: this failure is checked (400) and makes the next wait longer
            after = await login(client, "jane", "wrong-guess")
            assert after.status_code == 400
            assert after.json() == LEGACY_BAD_CREDENTIALS
        assert waits == [1, 2, 4, 4]


async def test_a_throttled_correct_password_is_refused_until_the_wait_ends(settings: Settings):
    # given: a user who failed twice (the free ones), so the next attempt waits 3 s
    async with serving(
        settings, login_free_failures=2, login_delay_s=3.0, login_max_delay_s=60.0
    ) as served:
        await served.factory.account("jane")
        client = await served.client()
        for _ in range(2):
            assert (await login(client, "jane", "wrong-guess")).status_code == 400
        # when: the right password during the wait, then after it (real time)
        early = await login(client, "jane", PASSWORD)
        await asyncio.sleep(3.1)
        late = await login(client, "jane", PASSWORD)
        # then
        assert early.status_code == 429
        assert early.headers["retry-after"] in {"1", "2", "3"}
        assert early.json() == _throttled_body(int(early.headers["retry-after"]))
        assert late.status_code == 200
        assert set(late.json()) == {"token"}


async def test_a_success_forgets_the_failures_of_its_username_and_address(settings: Settings):
    # given: four failures (two free, then waits of 1 s and 2 s), then the right password
    async with serving(
        settings, login_free_failures=2, login_delay_s=1.0, login_max_delay_s=60.0
    ) as served:
        clock = throttle_clock(served)
        await served.factory.account("jane")
        client = await served.client()
        for wait in (0, 0, 1, 2):
            clock.advance(wait)
            assert (await login(client, "jane", "wrong-guess")).status_code == 400
        clock.advance(4)
        assert (await login(client, "jane", PASSWORD)).status_code == 200
        # when: failing again
        answers = [await login(client, "jane", "wrong-guess") for _ in range(3)]
        # then: two free failures again, and the first wait (1 s, not 8 s)
        assert [a.status_code for a in answers] == [400, 400, 429]
        assert answers[2].headers["retry-after"] == "1"


async def test_guesses_at_one_username_from_many_addresses_are_throttled_together(
    settings: Settings,
):
    async with serving(
        settings, login_free_failures=2, login_delay_s=30.0, login_max_delay_s=60.0
    ) as served:
        # the waits measured exactly, however slow the machine
        throttle_clock(served)
        # given
        await served.factory.account("jane")
        first, second, third = [await served.client(f"198.51.100.{i}") for i in (1, 2, 3)]
        # when
        answers = [
            await login(first, "jane", "guess-one"),
            await login(second, "jane", "guess-two"),
            await login(third, "jane", PASSWORD),
        ]
        # then
        assert [a.status_code for a in answers] == [400, 400, 429]
        assert answers[2].headers["retry-after"] == "30"
        assert answers[2].json() == _throttled_body(30)


async def test_guesses_at_many_usernames_from_one_address_are_throttled_together(
    settings: Settings,
):
    async with serving(
        settings,
        login_free_failures=10,
        login_free_failures_per_address=3,
        login_delay_s=30.0,
        login_max_delay_s=60.0,
    ) as served:
        # the waits measured exactly, however slow the machine
        throttle_clock(served)
        # given
        await served.factory.account("dana")
        guesser, elsewhere = await served.client("198.51.100.7"), await served.client("192.0.2.1")
        # when: one guess at each of three usernames, then a fourth
        for name in ("amy", "bob", "cal"):
            assert (await login(guesser, name, "password1")).status_code == 400
        fourth = await login(guesser, "dana", PASSWORD)
        # then: that address waits, whoever it names; other addresses do not
        assert fourth.status_code == 429
        assert fourth.json() == _throttled_body(30, "from this address")
        assert (await login(elsewhere, "dana", PASSWORD)).status_code == 200


async def test_concurrent_guesses_are_counted_one_after_the_other(settings: Settings):
    # given: three free attempts, then a long wait
    async with serving(
        settings, login_free_failures=3, login_delay_s=60.0, login_max_delay_s=60.0
    ) as served:
        # the waits measured exactly, however slow the machine
        throttle_clock(served)
        await served.factory.account("jane")
        client = await served.client()
        # when: 20 guesses at once
        answers = await asyncio.gather(*(login(client, "jane", f"guess-{i}") for i in range(20)))
        # then: exactly the free three had their password checked
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [400] * 3 + [429] * 17
        assert all(a.json() == LEGACY_BAD_CREDENTIALS for a in answers if a.status_code == 400)


async def test_attempts_are_forgotten_a_window_after_the_last_one(settings: Settings):
    async with serving(
        settings,
        login_free_failures=1,
        login_delay_s=10.0,
        login_max_delay_s=100.0,
        login_window_s=3600.0,
    ) as served:
        # given: three failures (waits of 10 s, 20 s, 40 s after them)
        clock = throttle_clock(served)
        await served.factory.account("jane")
        client = await served.client()
        for wait in (0, 10, 20):
            clock.advance(wait)
            assert (await login(client, "jane", "wrong-guess")).status_code == 400
        # when: less than an hour later, they are still counted (the next wait is 80 s)
        clock.advance(3599)
        assert (await login(client, "jane", "wrong-guess")).status_code == 400
        kept = await login(client, "jane", "wrong-guess")
        assert (kept.status_code, kept.headers["retry-after"]) == (429, "80")
        # when: more than an hour after the last attempt
        clock.advance(3601)
        # then: counting starts again (one free failure, then the first wait, 10 s)
        assert (await login(client, "jane", "wrong-guess")).status_code == 400
        refused = await login(client, "jane", "wrong-guess")
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "10")


async def test_each_attempt_is_logged_in_one_line_and_never_with_the_password(
    settings: Settings, caplog: pytest.LogCaptureFixture
):
    async with serving(
        settings, login_free_failures=2, login_delay_s=30.0, login_max_delay_s=60.0
    ) as served:
        # the waits measured exactly, however slow the machine
        throttle_clock(served)
        # given
        await served.factory.account("jane")
        client = await served.client("203.0.113.9")
        # when
        with caplog.at_level(logging.INFO, logger="trainql.auth"):
            await login(client, "jane", PASSWORD)
            await login(client, "jane", "hunter2-secret")
            await login(client, 'ghost"\nlogin success user="jane', "hunter3-secret")
            await login(client, "jane", "hunter4-secret")
            await login(client, "jane", "hunter5-secret")
        # then
        lines = [r.getMessage() for r in caplog.records if r.name == "trainql.auth"]
        assert lines == [
            'login success user="jane" address="203.0.113.9"',
            'login failure user="jane" address="203.0.113.9" reason="wrong_password" '
            "username_attempts=1 address_attempts=1",
            'login failure user="ghost\\"\\nlogin success user=\\"jane" address="203.0.113.9" '
            'reason="unknown_user" username_attempts=1 address_attempts=2',
            'login failure user="jane" address="203.0.113.9" reason="wrong_password" '
            "username_attempts=2 address_attempts=3",
            'login throttled user="jane" address="203.0.113.9" scope="username" retry_after_s=30',
        ]
        assert [r.levelname for r in caplog.records if r.name == "trainql.auth"] == [
            "INFO",
            "WARNING",
            "WARNING",
            "WARNING",
            "WARNING",
        ]
        everything = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
        assert "secret" not in everything
        assert PASSWORD not in everything


async def test_the_table_counts_an_attempt_only_while_its_key_is_unlocked(
    settings: Settings,
):
    # given: the table's own functions, on both databases (only PostgreSQL serves from it)
    from trainql.db import login_throttle as rows
    from trainql.db.types import utcnow

    async with serving(settings) as served:
        db = served.services.db
        key, other = ThrottleKey("username", "jane"), ThrottleKey("address", "192.0.2.1")
        now = utcnow()
        long_ago = now - timedelta(days=2)
        # when / then
        async with db.session() as session:
            assert await rows.count_attempt(session, key=key, now=now, forget_before=long_ago) == 1
            assert await rows.count_attempt(session, key=key, now=now, forget_before=long_ago) == 2
            await rows.lock(session, key=key, until=now + timedelta(seconds=5))
            assert (
                await rows.count_attempt(session, key=key, now=now, forget_before=long_ago) is None
            )
            assert await rows.locked_until(session, key=key) == now + timedelta(seconds=5)
            later = now + timedelta(seconds=6)
            assert (
                await rows.count_attempt(session, key=key, now=later, forget_before=long_ago) == 3
            )
            # a count whose last attempt is older than forget_before starts again
            much_later = now + timedelta(days=3)
            assert (
                await rows.count_attempt(
                    session, key=key, now=much_later, forget_before=much_later - timedelta(days=1)
                )
                == 1
            )
            assert (
                await rows.count_attempt(session, key=other, now=now, forget_before=long_ago) == 1
            )
        # the purge drops `other` (last attempt before the cut), forget drops `key`
        async with db.session() as session:
            assert await rows.purge(session, before=now + timedelta(seconds=1)) == 1
            await rows.forget(session, keys=[key])
        async with db.session() as session:
            for each in (key, other):
                assert (
                    await rows.count_attempt(
                        session, key=each, now=much_later, forget_before=long_ago
                    )
                    == 1
                )


async def test_the_memory_store_keeps_at_most_its_limit_of_counts_oldest_dropped_first():
    # given
    policy = ThrottlePolicy(
        free_per_username=1,
        free_per_address=100,
        delay=timedelta(seconds=10),
        max_delay=timedelta(seconds=10),
        window=timedelta(days=1),
    )
    throttle = MemoryLoginThrottle(policy, max_keys=3)
    address = ThrottleKey("address", "192.0.2.1")
    # when: four usernames guessed from one address
    for name in ("amy", "bob", "cal", "dan"):
        assert isinstance(await throttle.admit([ThrottleKey("username", name)]), Admitted)
    await throttle.admit([address])
    # then: the two oldest counts went, the newest are still locked
    assert len(throttle) == 3
    assert isinstance(await throttle.admit([ThrottleKey("username", "amy")]), Admitted)
    assert isinstance(await throttle.admit([ThrottleKey("username", "dan")]), Refused)
