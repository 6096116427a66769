"""Model alias rows: a move is atomic for readers on their own connections, and concurrent
writers on one alias never fail and log a chain of changes without gaps."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from tests.factories import Factory
from trainql.db import model_aliases as alias_store
from trainql.db.engine import Database
from trainql.db.types import utcnow
from trainql.services import Services

MOVES = 150
READERS = 4


async def _move(services: Services, alias: str, run_id: int, user_id: int) -> None:
    async with services.db.session() as session:
        await alias_store.set_model_alias(
            session, alias=alias, training_run_id=run_id, changed_by_id=user_id, now=utcnow()
        )


async def test_readers_see_one_run_or_the_other_while_an_alias_moves(
    services: Services, factory: Factory
):
    # given: an alias on run one; readers, each with its own engine (its own connections)
    hr = await factory.hr_staff()
    one, two = await factory.training_run(), await factory.training_run()
    await _move(services, "production", one.id, hr.user.id)
    engines = [Database(services.settings.database_url) for _ in range(READERS)]
    seen: list[list[int | None]] = [[] for _ in engines]
    moving = True

    async def read(db: Database, into: list[int | None]) -> None:
        while moving:
            async with db.read() as conn:
                into.append(await alias_store.training_run_id_for_alias(conn, "production"))
            await asyncio.sleep(0)

    async def move() -> None:
        nonlocal moving
        try:
            for n in range(MOVES):
                await _move(services, "production", two.id if n % 2 == 0 else one.id, hr.user.id)
        finally:
            moving = False

    # when: one task moves the alias back and forth while the readers read it
    try:
        await asyncio.gather(
            move(), *(read(db, into) for db, into in zip(engines, seen, strict=True))
        )
    finally:
        for db in engines:
            with contextlib.suppress(Exception):
                await db.dispose()

    # then: every read saw one of the two runs, never nothing, and the reads overlapped the
    # moves (both runs were seen), or this test would show nothing
    values = [value for reads in seen for value in reads]
    assert set(values) == {one.id, two.id}, {v for v in values if v not in (one.id, two.id)}
    assert all(len(reads) > 10 for reads in seen), [len(r) for r in seen]
    async with services.db.read() as conn:
        log = await alias_store.list_model_alias_changes(conn, alias="production", limit=100)
    assert len(log) == 100  # the newest hundred of MOVES + 1 changes


async def test_concurrent_writers_of_one_alias_never_fail_and_chain_their_log(
    services: Services, factory: Factory
):
    # given: eight writers, each on its own engine, moving one alias between three runs
    hr = await factory.hr_staff()
    runs = [(await factory.training_run()).id for _ in range(3)]
    engines = [Database(services.settings.database_url) for _ in range(8)]
    per_writer = 15

    async def write(db: Database, n: int) -> None:
        for k in range(per_writer):
            async with db.session() as session:
                await alias_store.set_model_alias(
                    session,
                    alias="production",
                    training_run_id=runs[(n + k) % 3],
                    changed_by_id=hr.user.id,
                    now=utcnow(),
                )

    # when
    try:
        await asyncio.gather(*(write(db, n) for n, db in enumerate(engines)))
    finally:
        for db in engines:
            await db.dispose()

    # then: no writer failed, and each logged change starts where the one before it ended
    async with services.db.read() as conn:
        log = await alias_store.list_model_alias_changes(conn, alias="production", limit=1000)
        now_at = await alias_store.training_run_id_for_alias(conn, "production")
    chain = [(c.from_training_run_id, c.to_training_run_id) for c in reversed(log)]
    assert chain[0][0] is None
    for earlier, later in itertools.pairwise(chain):
        assert later[0] == earlier[1], chain
        assert later[0] != later[1], chain  # a set to the current run logs nothing
    assert chain[-1][1] == now_at
    assert len(chain) > 3 * 8  # most sets moved it
