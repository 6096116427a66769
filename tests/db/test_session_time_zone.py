"""PostgreSQL sessions run in UTC (db/engine.utc_session_options), keeping a URL's own options.

psycopg reads timestamps in the session's zone; in UTC it skips a conversion per value. The
server's default zone here is Etc/UTC, so a URL that asks for another zone is what shows the
setting is ours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from trainql.db.engine import Database, utc_session_options


@pytest.fixture
async def berlin_database(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The test database, through a URL whose own options ask for Berlin time and a path."""
    if backend != "postgresql":
        pytest.skip("SQLite has no session time zone")
    url = make_url(str(request.getfixturevalue("postgres_url")))
    options = quote("-c TimeZone=Europe/Berlin -c search_path=pg_catalog,public")
    database = Database(url.render_as_string(hide_password=False) + f"?options={options}")
    yield database
    await database.dispose()


async def test_a_session_runs_in_utc_with_the_urls_own_options(berlin_database: Database):
    async with berlin_database.read() as connection:
        zone = (await connection.execute(text("SHOW TimeZone"))).scalar_one()
        path = (await connection.execute(text("SHOW search_path"))).scalar_one()
        # when: an instant written with another offset is read back
        noon_in_paris = "2024-06-01 12:00:00+02"
        read = (
            await connection.execute(text(f"SELECT timestamptz '{noon_in_paris}'"))
        ).scalar_one()
    assert zone == "UTC"
    assert path == "pg_catalog,public"
    # then: the same instant, made in UTC itself (not a ZoneInfo named for it)
    assert read == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert read.tzinfo is UTC


def test_the_time_zone_comes_after_the_urls_options():
    assert utc_session_options(None) == "-c TimeZone=UTC"
    assert utc_session_options("-c work_mem=8MB") == "-c work_mem=8MB -c TimeZone=UTC"
    # a query parameter given twice reaches SQLAlchemy's URL as a tuple
    assert utc_session_options(("-c a=1", "-c b=2")) == "-c a=1 -c b=2 -c TimeZone=UTC"
