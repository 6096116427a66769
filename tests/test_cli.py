"""The `trainql` command: first start, users, schema."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from graphql import build_schema
from typer.testing import CliRunner

from tests.live import free_port, live_server, settings_env
from tests.storage_support import FILLER, files_under, fill, small_tmpfs
from trainql.cli import app
from trainql.config import Settings
from trainql.db import migrate
from trainql.db.engine import Database, sync_url
from trainql.db.preflight import shown_url
from trainql.errors import AuthenticationError
from trainql.ml.default_dataset import default_dataset_source
from trainql.ml.model_store import load_model
from trainql.resolvers.auth import authenticate, issue_token
from trainql.resolvers.users import get_user
from trainql.services import Services

runner = CliRunner()


def _cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return settings_env(database_url=database_url, state_dir=tmp_path / "state")


def _run(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainql", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
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
    assert duplicate.stderr == "error: A user named 'hana' already exists.\n"

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


def test_predict_writes_the_rows_with_their_predictions(empty_database_url: str, tmp_path: Path):
    # given: a model trained by the CLI, and rows without the target
    env = _cli_env(empty_database_url, tmp_path)
    assert _run(env, "migrate").returncode == 0
    assert _run(env, "users", "create", "t", "--role", "hr_staff", "--password", "pw123456")
    trained = _run(env, "train", "--user", "t", "--n-estimators", "10", "--model-version", "p1")
    assert trained.returncode == 0, trained.stderr
    frame = pd.read_csv(default_dataset_source()).drop(columns=["future_need_level"])
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    out = tmp_path / "out" / "predicted.csv"
    # when
    done = _run(
        env, "predict", "--user", "t", "--version", "p1", "--csv", str(rows), "--out", str(out)
    )
    # then: the rows, the model's labels and probabilities, and a summary on stderr
    assert done.returncode == 0, done.stderr
    assert "357 rows predicted with run 1 (model_version p1)" in done.stderr
    answer = pd.read_csv(out)
    pipeline = load_model(tmp_path / "state" / "models" / "p1.joblib")
    assert answer["predicted_future_need_level"].tolist() == list(pipeline.predict(frame))
    probabilities = answer[[f"probability_{c}" for c in pipeline.classes_]].to_numpy()
    assert abs(probabilities - pipeline.predict_proba(frame)).max() < 1e-6
    assert [p.name for p in out.parent.iterdir()] == ["predicted.csv"]
    # to standard output, by run id
    printed = _run(env, "predict", "--user", "t", "--run", "1", "--csv", str(rows))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0].endswith(",probability_MEDIUM")
    assert len(printed.stdout.splitlines()) == 358
    # and the API's refusals, in one line
    assert (
        _operator_error(_run(env, "predict", "--user", "t", "--alias", "prod", "--csv", str(rows)))
        == "error: No model alias 'prod'."
    )
    assert (
        _operator_error(_run(env, "predict", "--run", "1", "--alias", "prod", "--csv", str(rows)))
        == "error: give exactly one of --run, --version or --alias"
    )
    frame.drop(columns=["skill_name"]).to_csv(rows, index=False)
    lacking = _operator_error(_run(env, "predict", "--user", "t", "--run", "1", "--csv", str(rows)))
    assert lacking.startswith("error: The CSV file lacks the model's input column(s) 'skill_name'")


@pytest.mark.slow
def test_serve_retries_a_run_a_dead_process_left_running(empty_database_url: str, tmp_path: Path):
    # given: a run recorded RUNNING by a process that is gone (no lease: nobody owns it)
    env = _cli_env(empty_database_url, tmp_path) | {"TRAINQL_RECONCILE_INTERVAL_S": "0.2"}
    assert _run(env, "migrate").returncode == 0
    from trainql.db.engine import sync_url

    engine = sa.create_engine(sync_url(empty_database_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO training_runs (run_date, model_version, dataset_path, status, "
                "test_split, n_estimators, random_state, target_column, hyperparameters, "
                "per_class_metrics, features_used, feature_importances, notes, updated_at, "
                "attempt, fencing_token) "
                "VALUES (CURRENT_TIMESTAMP, 'ghost', 'ml/data/future_skills_dataset.csv', "
                "'RUNNING', 0.2, 5, 42, 'future_need_level', '{\"n_estimators\": 5}', '{}', "
                "'[]', '{}', '', CURRENT_TIMESTAMP, 1, 1)"
            )
        )
    # when: a new process serves (no start-up sweep: its reconciler finds the run)
    with live_server(env, log_path=tmp_path / "serve.log") as server:
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as conn:
                status, attempt, message = conn.execute(
                    sa.text("SELECT status, attempt, error_message FROM training_runs")
                ).one()
            if status in {"COMPLETED", "FAILED"} or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        output = server.output()
    engine.dispose()
    # then: trained again, as attempt 2, and never marked interrupted
    assert (status, attempt, message) == ("COMPLETED", 2, None), output
    assert "interrupted" not in output
    assert (tmp_path / "state" / "models" / "ghost~attempt-2.joblib").exists()


# --- An operator's mistakes: one line on stderr, status 1, never a traceback ----------------

# Every command that works on the database, with arguments that would succeed on a good one.
DATABASE_COMMANDS = {
    "users create": ("users", "create", "newbie", "--password", "pw123456"),
    "users list": ("users", "list"),
    "users set-password": ("users", "set-password", "admin", "--password", "pw123456"),
    "users revoke-tokens": ("users", "revoke-tokens", "admin"),
    "train": ("train", "--n-estimators", "5"),
    "predict": ("predict", "--run", "1", "--csv", "rows.csv"),
}
ALL_COMMANDS = {
    **DATABASE_COMMANDS,
    "migrate": ("migrate",),
    "serve": ("serve", "--port", "0"),
}


def _operator_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed (asserting it is one line, status 1, and no
    traceback anywhere)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    assert result.stderr.endswith("\n"), output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


def _clean_env() -> dict[str, str]:
    """The environment without any TRAINQL_ variable: every setting at its default."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRAINQL_")}


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_every_command_in_a_fresh_directory_says_to_migrate(tmp_path: Path, command: str):
    # when
    result = _run(_clean_env(), *DATABASE_COMMANDS[command], cwd=tmp_path)
    # then
    assert _operator_error(result) == (
        "error: there is no database at .trainql/trainql.db: run `trainql migrate` to create "
        "it (or set TRAINQL_DATABASE_URL to the database to use)"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == [], "a refused command creates nothing"


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_every_command_on_an_unmigrated_database_says_to_migrate(
    empty_database_url: str, tmp_path: Path, command: str
):
    # given: a database that exists but has no tables (an empty SQLite file)
    if empty_database_url.startswith("sqlite"):
        Path(empty_database_url.removeprefix("sqlite:///")).touch()
    env = _cli_env(empty_database_url, tmp_path)
    # when
    result = _run(env, *DATABASE_COMMANDS[command])
    # then
    assert _operator_error(result) == (
        f"error: the database at {shown_url(empty_database_url)} is not migrated: "
        "run `trainql migrate`"
    )


def test_a_database_at_an_older_revision_says_to_migrate(empty_database_url: str, tmp_path: Path):
    # given
    migrate.upgrade(empty_database_url, "0003")
    env = _cli_env(empty_database_url, tmp_path)
    # when
    result = _run(env, "users", "list")
    # then
    assert _operator_error(result) == (
        f"error: the database at {shown_url(empty_database_url)} is at schema revision 0003, "
        f"this trainql needs {migrate.head_revision()}: run `trainql migrate`"
    )
    assert _run(env, "migrate").returncode == 0
    assert _run(env, "users", "list").returncode == 0


def test_a_database_migrated_by_a_newer_trainql_is_named(empty_database_url: str, tmp_path: Path):
    # given
    migrate.upgrade(empty_database_url)
    engine = sa.create_engine(sync_url(empty_database_url), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    env = _cli_env(empty_database_url, tmp_path)
    shown = shown_url(empty_database_url)
    # when
    listed, migrated = _run(env, "users", "list"), _run(env, "migrate")
    # then
    assert _operator_error(listed) == (
        f"error: the database at {shown} is at schema revision f00d, which this trainql does "
        f"not know (it needs {migrate.head_revision()}): was it migrated by a newer trainql?"
    )
    assert _operator_error(migrated) == (
        f"error: could not migrate the database at {shown}: Can't locate revision identified "
        "by 'f00d'; was the database migrated by a newer trainql?"
    )


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_command_against_an_unreachable_server_fails_in_one_line(
    tmp_path: Path, command: str
):
    # given: nothing listens on the port
    url = f"postgresql://trainql:s3cret-pw@127.0.0.1:{free_port()}/trainql"
    env = _cli_env(url, tmp_path)
    # when
    line = _operator_error(_run(env, *ALL_COMMANDS[command]))
    # then
    shown = shown_url(url)
    assert "s3cret-pw" not in line
    prefix = (
        f"error: could not migrate the database at {shown}: "
        if command in {"migrate", "serve"}
        else f"error: cannot use the database at {shown}: "
    )
    assert line.startswith(prefix + "connection failed: "), line
    assert "Connection refused" in line


@pytest.mark.parametrize("command", ["users list", "migrate", "serve"])
@pytest.mark.parametrize(
    ("url", "unsupported"),
    [("mysql://u@db.example/skills", " (mysql is not supported)"), ("not a url", "")],
)
def test_a_bad_database_url_fails_in_one_line(
    tmp_path: Path, command: str, url: str, unsupported: str
):
    env = _cli_env(url, tmp_path)
    line = _operator_error(_run(env, *ALL_COMMANDS[command]))
    assert line == (
        f"error: TRAINQL_DATABASE_URL={url!r} is not a database URL trainql can use"
        f"{unsupported}: use sqlite:///path/to/file.db or "
        "postgresql://user:password@host:5432/dbname"
    )


def test_an_invalid_setting_fails_in_one_line_naming_the_variable(tmp_path: Path):
    env = _clean_env() | {"TRAINQL_LOG_LEVEL": "chatty", "TRAINQL_TOKEN_TTL_HOURS": "soon"}
    line = _operator_error(_run(env, "users", "list", cwd=tmp_path))
    assert line == (
        "error: invalid configuration: TRAINQL_LOG_LEVEL='chatty': log_level must be one of "
        "CRITICAL, ERROR, WARNING, INFO, DEBUG; TRAINQL_TOKEN_TTL_HOURS='soon': Input should "
        "be a valid number, unable to parse string as a number"
    )


def test_serve_on_a_port_in_use_fails_in_one_line_before_migrating(tmp_path: Path):
    # given
    env = _cli_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when
        result = _run(env, "serve", "--port", str(port))
    # then
    assert _operator_error(result) == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(check --host and --port)"
    )
    assert not (tmp_path / "db.sqlite").exists()


def test_serve_on_a_host_that_does_not_resolve_fails_in_one_line(tmp_path: Path):
    env = _cli_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    line = _operator_error(_run(env, "serve", "--host", "no-such-host.invalid"))
    assert line.startswith("error: cannot listen on no-such-host.invalid:8000: ")
    assert line.endswith(" (check --host)")


def test_serve_with_a_data_root_it_cannot_create_fails_in_one_line(tmp_path: Path):
    # given: the data root would be a directory under a file
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = _cli_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path) | {
        "TRAINQL_DATA_ROOT": str(blocker / "data")
    }
    # when
    line = _operator_error(_run(env, "serve", "--port", str(free_port())))
    # then
    assert line == f"error: cannot write to {blocker / 'data'} (TRAINQL_DATA_ROOT): Not a directory"


def test_users_revoke_tokens_revokes_every_token_of_the_user(
    empty_database_url: str, tmp_path: Path
):
    # given: two tokens of one user and one of another
    env = _cli_env(empty_database_url, tmp_path)
    assert _run(env, "migrate").returncode == 0
    for name in ("kim", "lee"):
        assert _run(env, "users", "create", name, "--password", "pw123456").returncode == 0

    async def issue(username: str) -> str:
        db = Database(empty_database_url)
        try:
            return await issue_token(db, await get_user(db=db, username=username))
        finally:
            await db.dispose()

    kims = [anyio.run(issue, "kim"), anyio.run(issue, "kim")]
    lees = anyio.run(issue, "lee")
    # when
    result = _run(env, "users", "revoke-tokens", "kim")
    missing = _run(env, "users", "revoke-tokens", "nobody")
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout == "revoked 2 tokens of 'kim'\n"
    assert _operator_error(missing) == "error: No user named 'nobody'."

    async def who(token: str) -> str | None:
        db = Database(empty_database_url)
        services = Services.create(Settings(database_url=empty_database_url), db=db)
        try:
            credentials = await authenticate(services, f"Token {token}")
        except AuthenticationError as exc:
            return exc.message
        finally:
            await db.dispose()
        return credentials.user.username if credentials else None

    assert [anyio.run(who, t) for t in (*kims, lees)] == ["Invalid token.", "Invalid token.", "lee"]


def test_serve_on_a_full_data_root_says_so_in_one_line_and_exits_1(tmp_path: Path):
    # given: a data root that is writable but has no room for the default dataset (a
    # read-only one is refused earlier, by the check that the directories are writable)
    with small_tmpfs(tmp_path / "data", size_kb=1024) as data_root:
        fill(data_root, leave_kb=4)
        env = settings_env(
            database_url=f"sqlite:///{tmp_path / 'trainql.db'}", state_dir=tmp_path / "state"
        )
        env["TRAINQL_DATA_ROOT"] = str(data_root)
        # when
        done = _run(env, "serve", "--port", str(free_port()))
        left = files_under(data_root)
    # then: one clear last line (after the migration's log), no traceback, status 1, before
    # anything listens; and no partial copy
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert done.stderr.splitlines()[-1] == (
        "error: Could not keep the default dataset ml/data/future_skills_dataset.csv in the "
        "data root (TRAINQL_DATA_ROOT): there is no space left on its storage. Nothing was "
        "kept; free space (or make the storage writable) and try again."
    )
    assert left == [FILLER]
