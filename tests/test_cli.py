"""The `trainql` command: first start, users, schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from graphql import build_schema
from typer.testing import CliRunner

from tests.live import live_server, settings_env
from trainql.cli import app

runner = CliRunner()


def _cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return settings_env(database_url=database_url, state_dir=tmp_path / "state")


def _run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainql", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_first_serve_creates_admin_once_and_the_printed_credentials_work(
    empty_database_url: str, tmp_path: Path
):
    env = _cli_env(empty_database_url, tmp_path)
    with live_server(env, log_path=tmp_path / "first.log") as server:
        output = server.output()
        password = re.search(r"password: (\S+)", output)
        token = re.search(r"token:\s+(\S+)", output)
        assert password and token, output
        login = httpx.post(
            f"{server.base_url}/api-token-auth/",
            json={"username": "admin", "password": password.group(1)},
        )
        assert login.status_code == 200
        me = httpx.post(
            f"{server.base_url}/graphql",
            json={"query": "{ me { username roles } }"},
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
        assert me.json() == {
            "data": {"me": {"username": "admin", "roles": ["HR_STAFF", "MANAGER"]}}
        }

    with live_server(env, log_path=tmp_path / "second.log") as server:
        assert "created user 'admin'" not in server.output()
        assert "password:" not in server.output()

    listed = _run(env, "users", "list")
    assert listed.returncode == 0
    assert listed.stdout.count("admin") == 1


def test_admin_password_from_the_environment(empty_database_url: str, tmp_path: Path):
    env = _cli_env(empty_database_url, tmp_path) | {"TRAINQL_ADMIN_PASSWORD": "chosen-by-ops"}
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        assert "password:" not in server.output()
        login = httpx.post(
            f"{server.base_url}/api-token-auth/",
            json={"username": "admin", "password": "chosen-by-ops"},
        )
        assert login.status_code == 200


def test_users_create_list_and_duplicate(empty_database_url: str, tmp_path: Path):
    env = _cli_env(empty_database_url, tmp_path)
    assert _run(env, "migrate").returncode == 0

    created = _run(
        env,
        "users",
        "create",
        "hana",
        "--role",
        "hr_staff",
        "--role",
        "manager",
        "--password-stdin",
        stdin="s3cret-pass\n",
    )
    assert created.returncode == 0, created.stderr
    assert "roles: HR_STAFF, MANAGER" in created.stdout

    plain = _run(env, "users", "create", "pat", "--password", "another-pass")
    assert plain.returncode == 0
    assert "roles: none" in plain.stdout

    duplicate = _run(env, "users", "create", "hana", "--password", "whatever-pass")
    assert duplicate.returncode == 1
    assert "A user named 'hana' already exists." in duplicate.stderr

    listed = _run(env, "users", "list")
    assert listed.stdout.splitlines() == ["1\thana\tHR_STAFF, MANAGER", "2\tpat\t-"]


def test_users_set_password_then_login(empty_database_url: str, tmp_path: Path):
    env = _cli_env(empty_database_url, tmp_path)
    assert _run(env, "migrate").returncode == 0
    assert _run(env, "users", "create", "kim", "--password", "first-pass").returncode == 0
    changed = _run(env, "users", "set-password", "kim", "--password", "second-pass")
    assert changed.returncode == 0
    missing = _run(env, "users", "set-password", "nobody", "--password", "second-pass")
    assert missing.returncode == 1
    assert "No user named 'nobody'" in missing.stderr
    short = _run(env, "users", "create", "lee", "--password", "short")
    assert short.returncode == 1
    assert "Password too short" in short.stderr


def test_users_create_needs_a_password(empty_database_url: str, tmp_path: Path):
    env = _cli_env(empty_database_url, tmp_path)
    result = _run(env, "users", "create", "kim")
    assert result.returncode == 1
    assert "a password is required" in result.stderr


def test_schema_prints_sdl_that_builds():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    built = build_schema(result.stdout)
    assert built.query_type is not None
    assert "me" in built.query_type.fields


def test_dataset_generate_writes_the_requested_rows(tmp_path: Path):
    out = tmp_path / "gen" / "skills.csv"
    result = runner.invoke(app, ["dataset", "generate", "--rows", "1000", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote 1000 rows to {out}" in result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 1001
    assert lines[0].endswith(",future_need_level")


def test_train_runs_as_the_given_user_and_prints_the_metrics(
    empty_database_url: str, tmp_path: Path
):
    # given
    env = _cli_env(empty_database_url, tmp_path)
    assert _run(env, "migrate").returncode == 0
    created = _run(
        env, "users", "create", "trainer", "--role", "hr_staff", "--password", "pw123456"
    )
    assert created.returncode == 0, created.stderr
    # when
    trained = _run(
        env, "train", "--user", "trainer", "--n-estimators", "10", "--model-version", "cli1"
    )
    # then
    assert trained.returncode == 0, trained.stderr
    out = trained.stdout
    assert "model_version cli1  COMPLETED" in out
    assert "Training completed successfully in" in out
    for word in ("accuracy", "precision", "recall", "f1_score", "HIGH", "MEDIUM", "LOW"):
        assert word in out
    assert (tmp_path / "state" / "models" / "cli1.joblib").exists()
    # and the same validation as the API
    again = _run(env, "train", "--user", "trainer", "--n-estimators", "0")
    assert again.returncode == 1
    assert "n_estimators: Must be an integer from 1 to 1000; got 0." in again.stderr
    manager = _run(env, "users", "create", "boss", "--role", "manager", "--password", "pw123456")
    assert manager.returncode == 0
    refused = _run(env, "train", "--user", "boss")
    assert refused.returncode == 1
    assert "Required role: HR_STAFF" in refused.stderr


@pytest.mark.slow
def test_serve_fails_runs_a_dead_process_left_running(empty_database_url: str, tmp_path: Path):
    # given: a run recorded RUNNING by a process that is gone
    env = _cli_env(empty_database_url, tmp_path)
    assert _run(env, "migrate").returncode == 0
    assert (
        _run(
            env, "users", "create", "hr", "--role", "hr_staff", "--password", "pw123456"
        ).returncode
        == 0
    )
    import sqlalchemy as sa

    from trainql.db.engine import sync_url

    engine = sa.create_engine(sync_url(empty_database_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO training_runs (run_date, model_version, dataset_path, status, "
                "test_split, n_estimators, random_state, target_column, hyperparameters, "
                "per_class_metrics, features_used, feature_importances, notes, updated_at) "
                "VALUES (CURRENT_TIMESTAMP, 'ghost', 'x.csv', 'RUNNING', 0.2, 10, 42, 'y', "
                "'{}', '{}', '[]', '{}', '', CURRENT_TIMESTAMP)"
            )
        )
    # when
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        output = server.output()
    # then
    assert "Marked 1 interrupted training run(s) FAILED." in output
    with engine.connect() as conn:
        status, message = conn.execute(
            sa.text("SELECT status, error_message FROM training_runs")
        ).one()
    engine.dispose()
    assert status == "FAILED"
    assert message.startswith("interrupted")
