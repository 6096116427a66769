from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from trainql.config import Settings


def test_defaults_live_in_the_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    for var in (
        "TRAINQL_DATABASE_URL",
        "TRAINQL_STATE_DIR",
        "TRAINQL_DATA_ROOT",
        "TRAINQL_MODEL_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite:///.trainql/trainql.db"
    assert settings.data_root == Path(".trainql/data")
    assert settings.model_dir == Path(".trainql/models")
    assert settings.max_upload_mb == 100


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAINQL_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("TRAINQL_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("TRAINQL_LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.log_level == "DEBUG"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAINQL_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError, match="log_level must be one of"):
        Settings()


def test_cors_origins_must_be_origins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAINQL_CORS_ORIGINS", "http://a.example, http://b.example/app")
    with pytest.raises(
        ValidationError, match=r"TRAINQL_CORS_ORIGINS: Invalid origin 'http://b.example/app'"
    ):
        Settings()
