"""create_app(): health, readiness, error masking, CORS, schema revision check."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from graphql import GraphQLError

from tests.lifespan import app_lifespan
from tests.storage_support import files_under, fill, small_tmpfs
from trainql.app import StaleDatabaseError, create_app
from trainql.config import Settings
from trainql.errors import InsufficientStorage, NotFound
from trainql.schema.errors import _map_error


async def test_health_and_readiness(client: httpx.AsyncClient):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_readiness_fails_when_the_database_is_gone(tmp_path: Path):
    settings = Settings(state_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings)  # not started: the lifespan would refuse this database
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
    assert ready.status_code == 503


async def test_unexpected_rest_error_is_masked_and_logged(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    def explode() -> None:
        raise RuntimeError("secret connection string in here")

    app.add_api_route("/boom", explode)
    with caplog.at_level(logging.ERROR, logger="trainql.rest"):
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret" not in response.text
    record = next(r for r in caplog.records if r.name == "trainql.rest")
    assert record.exc_info is not None


def test_graphql_errors_keep_domain_codes_and_mask_the_rest():
    domain = _map_error(
        GraphQLError("x", original_error=NotFound("No training run 7.")), pre_execution=False
    )
    assert domain.message == "No training run 7."
    assert domain.extensions == {"code": "NOT_FOUND"}

    masked = _map_error(
        GraphQLError("boom", original_error=RuntimeError("password=hunter2")), pre_execution=False
    )
    assert masked.message == "Internal server error"
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR"}


async def test_unknown_route_is_404_without_redirect(client: httpx.AsyncClient):
    response = await client.get("/api/nothing-here/")
    assert response.status_code == 404


async def test_cors_allows_configured_origins_only(settings: Settings):
    app = create_app(settings.model_copy(update={"cors_origins": ["http://app.example"]}))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            preflight = {"Access-Control-Request-Method": "POST"}
            allowed = await http.options(
                "/graphql", headers={"Origin": "http://app.example", **preflight}
            )
            denied = await http.options(
                "/graphql", headers={"Origin": "http://evil.example", **preflight}
            )
    assert allowed.headers["access-control-allow-origin"] == "http://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in denied.headers


def test_wildcard_origin_never_allows_credentials(tmp_path: Path):
    settings = Settings(state_dir=tmp_path, cors_origins="*")
    assert settings.cors_origins == ["*"]
    app = create_app(settings)
    cors = next(m for m in app.user_middleware if m.cls is CORSMiddleware)  # type: ignore[comparison-overlap]
    assert cors.kwargs["allow_credentials"] is False


async def test_app_refuses_an_unmigrated_database(tmp_path: Path):
    app = create_app(Settings(state_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/new.db"))
    with pytest.raises(StaleDatabaseError, match="trainql migrate"):
        async with app_lifespan(app):
            pass


async def test_graphql_missing_variable_is_bad_user_input_not_masked(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    query = "query Run($id: ID!) { trainingRun(id: $id) { id } }"
    with caplog.at_level(logging.ERROR, logger="trainql.graphql"):
        response = await client.post("/graphql", json={"query": query})
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "Variable '$id'" in error["message"]
    assert not [r for r in caplog.records if r.name == "trainql.graphql"]


async def test_startup_on_a_full_data_root_refuses_with_the_reason_and_leaves_nothing(
    settings: Settings, tmp_path: Path
):
    # given: a data root with no room for the default dataset
    with small_tmpfs(tmp_path / "small", size_kb=1024) as data_root:
        fill(data_root, leave_kb=4)
        before = files_under(data_root)
        application = create_app(settings.model_copy(update={"data_root": data_root}))
        # when / then: the start fails saying why, and no partial copy is left
        with pytest.raises(InsufficientStorage) as refused:
            async with app_lifespan(application):
                pass
        assert refused.value.message == (
            "Could not keep the default dataset ml/data/future_skills_dataset.csv in the data "
            "root (TRAINQL_DATA_ROOT): there is no space left on its storage. Nothing was kept; "
            "free space (or make the storage writable) and try again."
        )
        assert files_under(data_root) == before
