"""Dataset path safety and the checks a CSV must pass before a run is recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainql.errors import DatasetInvalid
from trainql.ml.generator import generate_future_skills
from trainql.ml.loading import inspect_dataset, resolve_dataset_path

TARGET = "future_need_level"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "ml").mkdir(parents=True)
    generate_future_skills(60).to_csv(data / "ml" / "ok.csv", index=False)
    return data


def _inspect(root: Path, name: str, content: str | bytes, *, target: str = TARGET) -> None:
    path = root / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    inspect_dataset(
        resolve_dataset_path(root, name), display=name, target_column=target, test_split=0.2
    )


def test_a_good_dataset_is_summarised(root: Path):
    summary = inspect_dataset(
        resolve_dataset_path(root, "ml/ok.csv"), display="x", target_column=TARGET, test_split=0.2
    )
    assert summary.rows == 60
    assert set(summary.class_counts) == {"LOW", "MEDIUM", "HIGH"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("ml/missing.csv", "Dataset file not found: 'ml/missing.csv'"),
        ("../outside.csv", "leads outside the data root"),
        ("ml/../../outside.csv", "leads outside the data root"),
        ("/etc/passwd", "is absolute"),
        ("", "dataset_path is empty"),
        ("ml", "is not a file"),
        ("ml/ok.txt", "is not a CSV file"),
    ],
)
def test_bad_paths_are_refused(root: Path, path: str, message: str):
    (root.parent / "outside.csv").write_text("a,b\n1,2\n")
    (root / "ml" / "ok.txt").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetInvalid, match=message):
        resolve_dataset_path(root, path)


def test_a_symlink_out_of_the_data_root_is_refused(root: Path):
    secret = root.parent / "secret.csv"
    secret.write_text("a,future_need_level\n1,LOW\n")
    os.symlink(secret, root / "ml" / "link.csv")
    with pytest.raises(DatasetInvalid, match="leads outside the data root"):
        resolve_dataset_path(root, "ml/link.csv")


def test_a_symlink_inside_the_data_root_is_followed(root: Path):
    os.symlink(root / "ml" / "ok.csv", root / "alias.csv")
    assert Path(resolve_dataset_path(root, "alias.csv")) == (root / "ml" / "ok.csv").resolve()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n\n  \n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a binary file"),
        ("a,future_need_level\ncaf\u00e9,LOW\n".encode("latin-1"), "is not UTF-8 text"),
        (
            b"a,b\n1,2\n",
            "Target column 'future_need_level' is not in dataset 'bad.csv'. Its columns are: a, b.",
        ),
        (b"future_need_level\nLOW\nHIGH\nLOW\nHIGH\n", "has only the target column"),
        (b"a,future_need_level\n", "has a header but no data rows"),
        (b"a,future_need_level\n1,LOW\n2,LOW\n3,LOW\n", "has a single class ('LOW')"),
        (
            b"a,future_need_level\n1,LOW\n2,LOW\n3,LOW\n4,HIGH\n",
            "Class 'HIGH' of 'future_need_level' has only 1 row",
        ),
        (
            b"a,future_need_level\n1,LOW\n2,LOW\n3,HIGH\n4,HIGH\n5,MEDIUM\n6,MEDIUM\n",
            "is too small: 6 rows cannot be split 0.2",
        ),
        (b'a,future_need_level\n"1,LOW\n2,HIGH\n', "is not a readable CSV file"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(root: Path, content: bytes, message: str):
    with pytest.raises(DatasetInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        _inspect(root, "bad.csv", content)


def test_another_target_column_can_be_named(root: Path):
    _inspect(
        root,
        "own.csv",
        b"x,label\n1,a\n2,b\n3,a\n4,b\n5,a\n6,b\n7,a\n8,b\n9,a\n10,b\n",
        target="label",
    )
