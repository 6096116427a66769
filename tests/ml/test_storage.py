"""ml/storage.py: a full or read-only storage is InsufficientStorage, and a failed copy
leaves nothing behind (on a real, small tmpfs)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.storage_support import files_under, fill, make_read_only, small_tmpfs
from trainql.errors import InsufficientStorage
from trainql.ml.storage import copy_file_atomically, storage_error

LOCATION = "the model directory (TRAINQL_MODEL_DIR)"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "there is no space left on its storage"),
        (errno.EDQUOT, "the disk quota of its storage is used up"),
        (errno.EROFS, "its storage is read-only"),
        (errno.EFBIG, "the file would pass the largest file size this server may write"),
    ],
)
def test_a_lack_of_storage_is_insufficient_storage_naming_what_and_where(code: int, reason: str):
    error = storage_error(OSError(code, "os message"), what="the model v1", location=LOCATION)
    assert isinstance(error, InsufficientStorage)
    assert error.http_status == 507
    assert error.code == "INSUFFICIENT_STORAGE"
    assert error.message == (
        f"Could not keep the model v1 in {LOCATION}: {reason}. Nothing was kept; free space "
        "(or make the storage writable) and try again."
    )


@pytest.mark.parametrize("code", [errno.EACCES, errno.ENOENT, errno.EIO])
def test_other_os_errors_are_not_a_lack_of_storage(code: int):
    assert storage_error(OSError(code, "x"), what="it", location=LOCATION) is None


def test_a_copy_onto_a_full_tmpfs_is_refused_and_leaves_no_partial_file(tmp_path: Path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * (512 * 1024))
    with small_tmpfs(tmp_path / "small", size_kb=1024) as root:
        fill(root, leave_kb=128)
        before = files_under(root)
        with pytest.raises(InsufficientStorage, match="no space left"):
            copy_file_atomically(source, root / "sub" / "copy.bin", what="it", location=LOCATION)
        assert files_under(root) == before


def test_a_copy_onto_a_read_only_tmpfs_is_refused(tmp_path: Path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x")
    with small_tmpfs(tmp_path / "small", size_kb=1024) as root:
        make_read_only(root)
        with pytest.raises(InsufficientStorage, match="read-only"):
            copy_file_atomically(source, root / "copy.bin", what="it", location=LOCATION)
        assert files_under(root) == []
