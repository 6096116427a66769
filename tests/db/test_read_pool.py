"""Reads have a pool of their own on both databases (db/engine.Database.read): a read does
not wait for a session's connection."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from trainql.db.engine import Database, PoolSettings
from trainql.errors import DatabaseUnavailable


async def test_a_read_does_not_wait_for_a_sessions_connection(database_url: str):
    # given: pools of exactly one connection, which a 0.2 s wait cannot get when held
    database = Database(database_url, pool=PoolSettings(size=1, max_overflow=0, timeout_s=0.2))
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
            # when: a read while the session holds its connection
            async with database.read() as connection:
                read = (await connection.execute(text("SELECT 2"))).scalar_one()
            # and another session
            with pytest.raises(DatabaseUnavailable):
                async with database.session() as other:
                    await other.execute(text("SELECT 3"))
        # then: the read was answered; sessions are still bound by their own pool
        assert read == 2
    finally:
        await database.dispose()
