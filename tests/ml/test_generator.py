"""The deterministic future-skills generator and the shipped default dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainql.ml.default_dataset import default_dataset_source
from trainql.ml.generator import (
    COLUMNS,
    LEVELS,
    NUMERIC_COLUMNS,
    generate_future_skills,
    write_future_skills_csv,
)


def test_same_seed_same_table_and_every_level_present():
    first = generate_future_skills(500, seed=7)
    assert first.equals(generate_future_skills(500, seed=7))
    assert not first.equals(generate_future_skills(500, seed=8))
    assert tuple(first.columns) == COLUMNS
    assert set(first["future_need_level"]) == set(LEVELS)
    for column in NUMERIC_COLUMNS:
        assert pd.api.types.is_numeric_dtype(first[column])


def test_tiny_tables_still_have_every_level():
    for rows in (3, 4, 5, 10):
        assert set(generate_future_skills(rows, seed=rows)["future_need_level"]) == set(LEVELS)


def test_shipped_dataset_is_the_generators_357_rows():
    shipped = pd.read_csv(default_dataset_source())
    assert len(shipped) == 357
    assert tuple(shipped.columns) == COLUMNS
    expected = generate_future_skills(357)
    pd.testing.assert_frame_equal(shipped, expected, check_dtype=False)


def test_large_files_are_written_in_chunks(tmp_path: Path):
    out = tmp_path / "big.csv"
    assert write_future_skills_csv(out, 2_500, chunk_rows=1_000) == 2_500
    frame = pd.read_csv(out)
    assert len(frame) == 2_500
    assert tuple(frame.columns) == COLUMNS
    assert not (tmp_path / ".big.csv.partial").exists()
