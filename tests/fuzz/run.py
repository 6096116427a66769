"""Fuzz a live `trainql serve` with schemathesis: the OpenAPI document and the GraphQL schema,
each as an HR_STAFF user and as anonymous. Passes only with no server error at all and at
least --min-requests generated requests in all.

    python -m tests.fuzz.run [--postgres-server URL] [--examples N] [--seed S] [--out DIR]

.ci/run calls it (PostgreSQL, whose NUL and integer range checks are stricter than SQLite's).
The REST runs use schemathesis's `not_a_server_error`; the GraphQL runs use `no_server_error`
from tests/fuzz/hooks.py, which reads our error codes (see there why). The server's log is
searched too: an unexpected error logged with a traceback fails the run even if its answer
somehow looked fine. Reports (schemathesis JSON, the server log) go to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.live import live_server, settings_env

HR_USER = "fuzz-hr"
ADMIN_PASSWORD = "fuzz-admin-" + uuid.uuid4().hex
HR_PASSWORD = "fuzz-hr-" + uuid.uuid4().hex
RUN_TIMEOUT_S = 240
REPO = Path(__file__).resolve().parents[2]
# A log line the service writes only for an error it did not expect (with a traceback).
UNEXPECTED_MARKERS = ("Unexpected error", "Traceback (most recent call last)")


@dataclass
class FuzzRun:
    name: str
    requests: int
    failures: int
    errors: int
    seconds: float
    exit_code: int


def _admin_conninfo(server_url: str) -> str:
    return make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(server_url: str) -> str:
    name = f"trainql_fuzz_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(base_url: str, env: dict[str, str]) -> str:
    """An HR_STAFF user (made with the CLI, as an operator would) and its token, plus a little
    data for the read operations to find: a dataset and a completed run."""
    created = subprocess.run(
        [sys.executable, "-m", "trainql", "users", "create", HR_USER, "--role", "hr_staff",
         "--password-stdin"],
        input=HR_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    if created.returncode != 0:
        raise SystemExit(f"could not create {HR_USER}: {created.stderr}")
    with httpx.Client(base_url=base_url, timeout=120) as http:
        login = http.post("/api-token-auth/", json={"username": HR_USER, "password": HR_PASSWORD})
        login.raise_for_status()
        token = str(login.json()["token"])
        auth = {"Authorization": f"Token {token}"}
        csv = b"job_role_name,trend_score,future_need_level\nEngineer,0.8,HIGH\nClerk,0.2,LOW\n"
        http.post(
            "/ai/datasets", data={"name": "seed"}, files={"file": ("s.csv", csv)}, headers=auth
        ).raise_for_status()
        http.post(
            "/api/training/train/", json={"hyperparameters": {"n_estimators": 5}}, headers=auth
        ).raise_for_status()
    return token


def schemathesis_run(
    name: str, location: str, *, token: str | None, check: str, examples: int, seed: int, out: Path
) -> FuzzRun:
    report = out / f"{name}.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", location,
        "--checks", check, "--max-examples", str(examples), "--seed", str(seed),
        "--report", "json", "--report-json-path", str(report),
        "--request-timeout", "60", "--no-color",
    ]  # fmt: skip
    if token is not None:
        command += ["--header", f"Authorization: Token {token}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    # Run in `out`, where schemathesis keeps its cache (.schemathesis/), not in the checkout.
    done = subprocess.run(
        command,
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    (out / f"{name}.log").write_text(done.stdout + done.stderr)
    if not report.exists():
        print(done.stdout + done.stderr)
        raise SystemExit(f"schemathesis wrote no report for {name}")
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    if cases["with_failures"] or summary["errors"]:
        print(done.stdout[-6000:])
    return FuzzRun(
        name=name,
        requests=int(cases["generated"]),
        failures=int(cases["with_failures"]),
        errors=len(summary["errors"]),
        seconds=seconds,
        exit_code=done.returncode,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--postgres-server", help="a PostgreSQL server URL; default SQLite")
    parser.add_argument("--examples", type=int, default=50, help="examples per operation")
    parser.add_argument("--seed", type=int, default=42, help="schemathesis seed")
    parser.add_argument("--min-requests", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("fuzz-report"))
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trainql-fuzz-") as temp:
        state = Path(temp) / "state"
        server_url = args.postgres_server
        database_url = create_database(server_url) if server_url else f"sqlite:///{temp}/fuzz.db"
        env = settings_env(
            database_url=database_url,
            state_dir=state,
            # Fuzzed trainings may ask for 1000 trees: cap each so the run stays short.
            extra={"TRAINQL_ADMIN_PASSWORD": ADMIN_PASSWORD, "TRAINQL_TRAINING_TIMEOUT_S": "10"},
        )
        try:
            with live_server(env, log_path=out / "serve.log") as server:
                token = seed(server.base_url, env)
                openapi = f"{server.base_url}/api/openapi.json"
                graphql = f"{server.base_url}/graphql"
                plan = [
                    ("openapi-anonymous", openapi, None, "not_a_server_error"),
                    ("openapi-hr-staff", openapi, token, "not_a_server_error"),
                    ("graphql-anonymous", graphql, None, "no_server_error"),
                    ("graphql-hr-staff", graphql, token, "no_server_error"),
                ]
                runs = [
                    schemathesis_run(
                        name, location, token=auth, check=check,
                        examples=args.examples, seed=args.seed, out=out,
                    )
                    for name, location, auth, check in plan
                ]  # fmt: skip
                log = server.output()
        finally:
            if server_url:
                drop_database(server_url, database_url)
    unexpected = [line for line in log.splitlines() if any(m in line for m in UNEXPECTED_MARKERS)]
    total = sum(run.requests for run in runs)
    print(f"{'run':<20} {'requests':>8} {'failures':>8} {'errors':>6} {'seconds':>8}")
    for run in runs:
        print(
            f"{run.name:<20} {run.requests:>8} {run.failures:>8} {run.errors:>6} "
            f"{run.seconds:>8.1f}"
        )
    print(f"{'total':<20} {total:>8}   (in {time.monotonic() - started:.0f} s, seed {args.seed})")
    problems = []
    if any(run.failures or run.errors for run in runs):
        problems.append("schemathesis found failures or errors (reports in " + str(out) + ")")
    if unexpected:
        problems.append("the server logged unexpected errors:\n  " + "\n  ".join(unexpected))
    if total < args.min_requests:
        problems.append(f"only {total} requests were generated; at least {args.min_requests}")
    for problem in problems:
        print(f"FUZZ FAILED: {problem}")
    if not problems:
        print("fuzz: 0 server errors")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
