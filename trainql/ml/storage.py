"""File writes that fail for want of storage: a full disk, a quota, read-only storage.

Such a failure is the server's condition, not a bug: it becomes InsufficientStorage (507)
with a message saying what could not be kept and what to do. Every other OSError stays what
it is (unexpected, masked and logged by the transports).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainql.errors import InsufficientStorage

# errno -> what it means for the operator, in words.
STORAGE_ERRNOS = {
    errno.ENOSPC: "there is no space left on its storage",
    errno.EDQUOT: "the disk quota of its storage is used up",
    errno.EROFS: "its storage is read-only",
    errno.EFBIG: "the file would pass the largest file size this server may write",
}


def storage_error(exc: OSError, *, what: str, location: str) -> InsufficientStorage | None:
    """InsufficientStorage for `exc` when it is a lack of storage, else None.

    `what` names the thing that could not be kept ("the upload"), `location` the place and
    its setting ("the data root (TRAINQL_DATA_ROOT)").
    """
    reason = STORAGE_ERRNOS.get(exc.errno) if exc.errno is not None else None
    if reason is None:
        return None
    return InsufficientStorage(
        f"Could not keep {what} in {location}: {reason}. Nothing was kept; free space "
        "(or make the storage writable) and try again."
    )


@contextmanager
def storage_errors(*, what: str, location: str) -> Iterator[None]:
    """Turn a lack of storage inside the block into InsufficientStorage (see storage_error).

    The block must itself leave nothing partial behind; this only names the failure.
    """
    try:
        yield
    except OSError as exc:
        translated = storage_error(exc, what=what, location=location)
        if translated is None:
            raise
        raise translated from exc


def copy_file_atomically(source: Path, target: Path, *, what: str, location: str) -> None:
    """Copy `source` to `target` through a private temporary file in `target`'s directory,
    renamed into place once complete: a reader never sees half a file, several processes may
    copy at once, and a failed copy leaves nothing behind. A lack of storage is
    InsufficientStorage (see storage_error)."""
    with storage_errors(what=what, location=location):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
