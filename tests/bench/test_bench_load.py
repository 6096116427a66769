"""The load bench runs every operation of its mix and its write check can fail."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bench.bench_load import MIX, Ledger, check_ledger, parse_args, run_load
from trainql.db import migrate


@pytest.mark.slow
async def test_a_short_run_on_sqlite_draws_every_operation_and_loses_nothing():
    # given: a tiny run, 2 clients for 4 s on one worker
    args = parse_args(["--clients", "2", "--seconds", "4", "--workers", "1", "--backend", "sqlite"])
    # when
    result = await run_load(args)
    # then
    assert [row["operation"] for row in result["rows"]] == list(MIX)
    assert all(row["errors"] == 0 for row in result["rows"]), result["rows"]
    assert sum(row["requests"] for row in result["rows"]) > 20
    assert result["check"]["ok"], result["check"]
    assert result["check"]["acknowledged_runs"] >= 3  # the seeded trainings at least


async def test_the_check_reports_an_acknowledged_write_that_is_not_there(tmp_path: Path):
    # given: an empty database, and a ledger claiming a dataset and a run
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate.upgrade(url)
    missing = str(uuid.uuid4())
    ledger = Ledger(datasets={missing: "trained"}, runs={7: 0.9})
    # when
    check = await check_ledger(url, ledger, tmp_path)
    # then
    assert check["lost_datasets"] == [missing]
    assert check["lost_runs"] == [7]
    assert not check["ok"]
