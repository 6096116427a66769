"""Automatic persisted queries (Apollo's protocol, version 1) over POST, GET and batches."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from tests.factories import Factory, error_codes
from tests.lifespan import app_lifespan
from trainql.app import create_app
from trainql.config import Settings
from trainql.db import persisted_queries as rows
from trainql.db.models import ApiTokenRow
from trainql.db.persisted_queries import DatabasePersistedQueryStore, MemoryPersistedQueryStore
from trainql.schema.persisted_queries import query_hash
from trainql.services import Services

ME = "query Me { me { username } }"
OBTAIN = (
    "mutation Login($u: String!, $p: String!) { obtainToken(username: $u, password: $p) { token } }"
)
NOT_FOUND_BODY = {
    "data": None,
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ],
}


def apq(sha256: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256}}


async def post(client: httpx.AsyncClient, payload: Any, headers: Any = None) -> Any:
    response = await client.post("/graphql", json=payload, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


async def get(client: httpx.AsyncClient, sha256: str, **params: str) -> httpx.Response:
    # Apollo Client 3 sends Accept: */*, which must not get GraphiQL's page.
    query = {"extensions": json.dumps(apq(sha256)), **params}
    return await client.get("/graphql", params=query, headers={"Accept": "*/*"})


@asynccontextmanager
async def second_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app on the same database: what a second worker process would be."""
    application = create_app(settings)
    async with app_lifespan(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as http:
            yield http


async def test_round_trip_not_found_register_then_hash_only_hits(
    client: httpx.AsyncClient, factory: Factory
):
    # given
    account = await factory.hr_staff()
    sha = query_hash(ME)

    # when the client first sends only the hash
    first = await post(client, {"extensions": apq(sha)}, account.headers)
    # then the server asks for the query, as Apollo's link expects
    assert first == NOT_FOUND_BODY

    # when it retries with the query, the query runs and is registered
    registered = await post(client, {"query": ME, "extensions": apq(sha)}, account.headers)
    assert registered == {"data": {"me": {"username": "hr"}}}

    # then later hash-only requests run it, over POST and over GET
    again = await post(client, {"extensions": apq(sha), "operationName": "Me"}, account.headers)
    assert again == {"data": {"me": {"username": "hr"}}}
    response = await client.get(
        "/graphql",
        params={"extensions": json.dumps(apq(sha))},
        headers={"Accept": "*/*", **account.headers},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"me": {"username": "hr"}}}


async def test_hash_only_get_with_variables(client: httpx.AsyncClient, factory: Factory):
    run = await factory.training_run()
    account = await factory.manager()
    query = "query Run($id: ID!) { trainingRun(id: $id) { id modelVersion } }"
    await post(client, {"query": query, "extensions": apq(query_hash(query))})

    response = await client.get(
        "/graphql",
        params={
            "extensions": json.dumps(apq(query_hash(query))),
            "variables": json.dumps({"id": str(run.id)}),
        },
        headers={"Accept": "*/*", **account.headers},
    )

    assert response.json() == {
        "data": {"trainingRun": {"id": str(run.id), "modelVersion": run.model_version}}
    }


async def test_wrong_hash_is_refused_and_not_stored(client: httpx.AsyncClient):
    # given a hash that is not the query's
    wrong = query_hash("{ me { id } }")

    # when
    body = await post(client, {"query": ME, "extensions": apq(wrong)})

    # then
    assert error_codes(body) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    message = body["errors"][0]["message"]
    assert "provided sha does not match query" in message
    assert query_hash(ME) in message
    assert body["data"] is None
    assert await post(client, {"extensions": apq(wrong)}) == NOT_FOUND_BODY


async def test_unsupported_version_and_malformed_hash(client: httpx.AsyncClient):
    body = await post(client, {"query": ME, "extensions": apq(query_hash(ME), version=2)})
    assert error_codes(body) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
    assert "version 2 is not supported" in body["errors"][0]["message"]

    body = await post(client, {"extensions": apq("abc123")})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "64 hexadecimal digits" in body["errors"][0]["message"]


async def test_a_query_that_fails_validation_is_not_registered(client: httpx.AsyncClient):
    bad = "{ me { nosuchfield } }"

    body = await post(client, {"query": bad, "extensions": apq(query_hash(bad))})

    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert await post(client, {"extensions": apq(query_hash(bad))}) == NOT_FOUND_BODY


async def test_persisted_queries_inside_a_batch(client: httpx.AsyncClient, factory: Factory):
    account = await factory.hr_staff()
    sha = query_hash(ME)

    # when one batch asks for the hash first and registers it second
    first = await post(
        client,
        [{"extensions": apq(sha)}, {"query": ME, "extensions": apq(sha)}],
        account.headers,
    )
    # then each operation has its own answer
    assert first == [NOT_FOUND_BODY, {"data": {"me": {"username": "hr"}}}]

    second = await post(client, [{"extensions": apq(sha)}] * 3, account.headers)
    assert second == [{"data": {"me": {"username": "hr"}}}] * 3


async def test_get_never_runs_a_mutation(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    account = await factory.hr_staff()
    variables = json.dumps({"u": "hr", "p": account.password})

    async def tokens() -> int:
        async with services.db.session() as session:
            return int((await session.exec(select(func.count()).select_from(ApiTokenRow))).one())

    before = await tokens()

    # a plain GET mutation is refused (Strawberry's default, kept)
    plain = await client.get("/graphql", params={"query": OBTAIN, "variables": variables})
    assert plain.status_code == 400
    assert "mutations are not allowed when using GET" in plain.text

    # a mutation registered over POST (which runs it once) cannot be replayed by hash over GET
    registered = await post(
        client,
        {
            "query": OBTAIN,
            "variables": {"u": "hr", "p": account.password},
            "extensions": apq(query_hash(OBTAIN)),
        },
    )
    assert registered["data"]["obtainToken"]["token"]
    replay = await get(client, query_hash(OBTAIN), variables=variables)
    assert replay.status_code == 400
    assert "mutations are not allowed when using GET" in replay.text

    assert await tokens() == before + 1


async def test_registered_query_is_shared_across_processes_on_postgresql(
    client: httpx.AsyncClient, settings: Settings, backend: str
):
    # given a query registered through this app
    sha = query_hash(ME)
    await post(client, {"query": ME, "extensions": apq(sha)})

    # when another app instance (another worker process) gets only the hash
    async with second_app(settings) as other:
        body = await post(other, {"extensions": apq(sha)})

    # then on PostgreSQL the shared table answers; on SQLite each process keeps its own
    # store, so the other process asks for the query once (Apollo's link then resends it).
    if backend == "postgresql":
        assert body == {"data": {"me": None}}
    else:
        assert body == NOT_FOUND_BODY


async def test_memory_store_keeps_the_most_recently_used():
    store = MemoryPersistedQueryStore(capacity=2)
    await store.put("a", "{ a }")
    await store.put("b", "{ b }")
    assert await store.get("a") == "{ a }"  # a is now more recent than b

    await store.put("c", "{ c }")

    assert len(store) == 2
    assert await store.get("b") is None
    assert await store.get("a") == "{ a }"
    assert await store.get("c") == "{ c }"


async def test_database_store_is_bounded_and_evicts_the_least_recently_used(services: Services):
    # given a store that writes every use through (no touch interval)
    store = DatabasePersistedQueryStore(services.db, capacity=2, touch_interval=timedelta(0))
    await store.put("a" * 64, "{ a }")
    await store.put("b" * 64, "{ b }")
    assert await store.get("a" * 64) == "{ a }"

    # when a third query comes
    await store.put("c" * 64, "{ c }")

    # then the table keeps two, and b (least recently used) is gone for every process
    async with services.db.session() as session:
        assert await rows.count_persisted_queries(session) == 2
    fresh = DatabasePersistedQueryStore(services.db, capacity=2)
    assert await fresh.get("b" * 64) is None
    assert await fresh.get("a" * 64) == "{ a }"
    assert await fresh.get("c" * 64) == "{ c }"


async def test_database_store_reads_are_not_a_write_each(services: Services):
    # given a query used just now
    store = DatabasePersistedQueryStore(services.db, capacity=10)
    await store.put("d" * 64, "{ d }")
    async with services.db.session() as session:
        found = await rows.get_persisted_query(session, sha256="d" * 64)
    assert found is not None
    stamped = found[1]

    # when it is read (or registered) again within the touch interval, by this and another
    # process
    assert await store.get("d" * 64) == "{ d }"
    await store.put("d" * 64, "{ d }")
    assert await DatabasePersistedQueryStore(services.db, capacity=10).get("d" * 64) == "{ d }"

    # then last_used_at was not rewritten
    async with services.db.session() as session:
        again = await rows.get_persisted_query(session, sha256="d" * 64)
    assert again is not None
    assert again[1] == stamped


@pytest.mark.parametrize("accept", ["*/*", "text/html"])
async def test_get_without_extensions_still_serves_graphiql(client: httpx.AsyncClient, accept: str):
    response = await client.get("/graphql", headers={"Accept": accept})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_registration_over_get(client: httpx.AsyncClient):
    # Apollo's link with useGETForHashedQueries retries a miss over GET, query included.
    sha = query_hash(ME)
    assert (await get(client, sha)).json() == NOT_FOUND_BODY

    registered = await get(client, sha, query=ME)
    assert registered.json() == {"data": {"me": None}}

    assert (await get(client, sha)).json() == {"data": {"me": None}}
