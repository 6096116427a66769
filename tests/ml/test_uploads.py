"""Checking and storing uploaded CSV files (no HTTP, no database)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from trainql.errors import DatasetInvalid, PayloadTooLarge
from trainql.ml.uploads import store_csv_upload, summarize_csv

GOOD_CSV = b"skill,level\npython,HIGH\nsql,LOW\n\nrust,MEDIUM\n"


class BytesUpload:
    """An in-memory upload with the read(size) of Starlette's UploadFile."""

    def __init__(self, content: bytes) -> None:
        self._buffer = io.BytesIO(content)
        self.reads = 0

    async def read(self, size: int = -1) -> bytes:
        self.reads += 1
        return self._buffer.read(size)


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    return path


def test_summary_counts_data_rows_and_reads_the_header(tmp_path: Path):
    assert summarize_csv(write(tmp_path, GOOD_CSV)) == (["skill", "level"], 3)


def test_summary_accepts_a_byte_order_mark_and_quoted_newlines(tmp_path: Path):
    content = '\ufeffname,note\n"a","line one\nline two"\n'.encode()
    assert summarize_csv(write(tmp_path, content)) == (["name", "note"], 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n", "no header row"),
        (b"skill,level\n", "no data rows"),
        (b"skill,level\r\n\r\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"a,b\n1,\x00\x00\n", "looks binary"),
        ("name,city\nJosé,Köln\n".encode("latin-1"), "not UTF-8"),
        (b"a,,c\n1,2,3\n", "empty column name"),
        (b"a,b,a\n1,2,3\n", "repeats column names: a"),
        (b"a,b\n1,2,3\n", "Line 2 has 3 fields; the header has 2"),
    ],
)
def test_summary_refuses_what_is_not_a_usable_csv(tmp_path: Path, content: bytes, message: str):
    with pytest.raises(DatasetInvalid, match=message):
        summarize_csv(write(tmp_path, content))


async def test_store_moves_a_checked_file_into_datasets(tmp_path: Path):
    # when
    stored = await store_csv_upload(
        BytesUpload(GOOD_CSV), data_root=tmp_path, name="abc", max_bytes=1024
    )
    # then
    assert stored.relative_path == "datasets/abc.csv"
    assert (stored.columns, stored.row_count, stored.size_bytes) == (
        ["skill", "level"],
        3,
        len(GOOD_CSV),
    )
    assert (tmp_path / "datasets" / "abc.csv").read_bytes() == GOOD_CSV
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == ["abc.csv"]


async def test_store_refuses_an_invalid_file_and_leaves_nothing(tmp_path: Path):
    with pytest.raises(DatasetInvalid, match="no data rows"):
        await store_csv_upload(
            BytesUpload(b"a,b\n"), data_root=tmp_path, name="abc", max_bytes=1024
        )
    assert list((tmp_path / "datasets").iterdir()) == []


async def test_store_stops_reading_past_the_limit_and_leaves_nothing(tmp_path: Path):
    # given: 5 MiB, read 1 MiB at a time, against a 2 MiB limit
    upload = BytesUpload(b"a,b\n" + b"1,2\n" * (5 * 1024 * 1024 // 4))
    # when
    with pytest.raises(PayloadTooLarge, match="larger than the limit of 2 MB") as caught:
        await store_csv_upload(upload, data_root=tmp_path, name="abc", max_bytes=2 * 1024 * 1024)
    # then: refused on the third chunk, not after reading everything
    assert caught.value.http_status == 413
    assert upload.reads == 3
    assert list((tmp_path / "datasets").iterdir()) == []
