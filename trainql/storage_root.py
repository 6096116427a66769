"""Where datasets and models live: a local directory or an fsspec URL (`file://`, `s3://`).

A *location* is the string a file is read from and written to: a plain absolute path on
a local filesystem (pandas and joblib read those fastest, and `file://` URLs name one too),
or a URL for any other filesystem fsspec knows (`s3://bucket/prefix/x.csv`). Locations are
plain strings, so a training job carries them to a Dask worker, which opens them with its
own credentials (for S3, the usual AWS variables: `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`...).

Writes are atomic on both kinds: on a local filesystem through a temporary file renamed
into place; on an object store as one object, which appears whole when its upload completes
(or not at all: a failed upload is discarded).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

LOCAL_PROTOCOLS = frozenset({"file", "local"})


class OutsideRoot(ValueError):
    """A relative path that leads outside its storage root (or is absolute)."""


def filesystem(location: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem of `location` and the path within it (instances are cached by
    fsspec, so this is cheap after the first call in a process)."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(location)
    return fs, str(path)


def is_local(location: str) -> bool:
    """True for a plain path or a `file://` URL."""
    if "://" not in location:
        return True
    return location.split("://", 1)[0].lower() in LOCAL_PROTOCOLS


@dataclass(frozen=True, slots=True)
class StorageRoot:
    """A directory that files are kept under, as configured (TRAINQL_DATA_ROOT,
    TRAINQL_MODEL_DIR): a plain path, a `file://` URL, or another fsspec URL."""

    configured: str
    setting: str

    @classmethod
    def of(cls, value: StorageRoot | Path | str, *, setting: str) -> StorageRoot:
        """`value` as a root (a root stays itself; a path or URL is configured as given)."""
        if isinstance(value, StorageRoot):
            return value
        return cls(configured=str(value), setting=setting)

    @property
    def is_url(self) -> bool:
        """Configured as a URL (`file://` says the directory is shared; a plain path does not)."""
        return "://" in self.configured

    @property
    def is_local(self) -> bool:
        """On this machine's filesystem (a plain path or a `file://` URL)."""
        return is_local(self.configured)

    def local_path(self) -> Path:
        """The root as an absolute local path; ValueError for a root on an object store."""
        if not self.is_local:
            raise ValueError(f"{self.setting}={self.configured!r} is not a local directory")
        raw = self.configured.split("://", 1)[1] if self.is_url else self.configured
        return Path(raw).resolve()

    @property
    def location(self) -> str:
        """The root's own location (an absolute path, or the URL without a trailing /)."""
        if self.is_local:
            return str(self.local_path())
        return self.configured.rstrip("/")

    def child(self, relative: str) -> str:
        """The location of `relative` under the root, or OutsideRoot when it is absolute or
        its `..` parts lead out. On a local root symbolic links are followed first, so a
        link pointing outside the root is refused too."""
        if not relative or relative.startswith("/") or Path(relative).drive:
            raise OutsideRoot(f"{relative!r} is absolute")
        if self.is_local:
            root = self.local_path()
            resolved = (root / relative).resolve()
            if not resolved.is_relative_to(root):
                raise OutsideRoot(f"{relative!r} leads outside {self.setting}")
            return str(resolved)
        base = self.location
        scheme, rest = base.split("://", 1)
        joined = posixpath.normpath(posixpath.join(rest, relative))
        if joined != rest and not joined.startswith(rest + "/"):
            raise OutsideRoot(f"{relative!r} leads outside {self.setting}")
        return f"{scheme}://{joined}"

    def relative(self, location: str) -> str:
        """The path of `location` relative to the root (the inverse of `child`)."""
        base = self.location
        if not location.startswith(base + ("" if base.endswith("/") else "/")):
            raise OutsideRoot(f"{location!r} is not under {self.setting}")
        return location[len(base) :].lstrip("/")


# --- Reading and writing locations -----------------------------------------------------------


def open_for_reading(location: str) -> IO[bytes]:
    """A binary file object reading `location` (close it, or use it in a `with`)."""
    if is_local(location):
        return open(_local(location), "rb")
    fs, path = filesystem(location)
    # Written by another process since this one listed its directory, perhaps.
    fs.invalidate_cache(posixpath.dirname(path))
    handle: IO[bytes] = fs.open(path, "rb")
    return handle


def kind_of(location: str) -> str | None:
    """'file', 'directory', or None when nothing is there."""
    if is_local(location):
        local = Path(_local(location))
        if local.is_file():
            return "file"
        return "directory" if local.exists() else None
    fs, path = filesystem(location)
    # Another process (a worker, an instance) may have written it since this one looked.
    fs.invalidate_cache(posixpath.dirname(path))
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return None
    return "directory" if info.get("type") == "directory" else "file"


def write_atomically(location: str, write: Callable[[IO[bytes]], object]) -> None:
    """Write the file at `location` with `write(handle)` so that readers see all of it or
    nothing: locally through a temporary file in the same directory, flushed to disk and
    renamed over the target; on an object store as one upload, discarded if `write` raises.
    A failed write leaves nothing behind."""
    if is_local(location):
        target = Path(_local(location))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return
    fs, path = filesystem(location)
    remote: Any = fs.open(path, "wb")
    try:
        write(remote)
    except BaseException:
        # Closing would upload what was written so far: abort the upload instead (and mark
        # the file closed, or its finalizer would try to upload the discarded buffer).
        with contextlib.suppress(Exception):
            remote.discard()
        remote.closed = True
        raise
    remote.close()


def put_file_atomically(source: Path, location: str) -> None:
    """Copy the local file `source` to `location`, atomically as `write_atomically` does."""
    if not is_local(location):
        fs, path = filesystem(location)
        # One upload: the object appears when it completes.
        fs.put_file(str(source), path)
        return

    def copy(handle: IO[bytes]) -> None:
        with source.open("rb") as original:
            while block := original.read(1 << 20):
                handle.write(block)

    write_atomically(location, copy)


def move_local_file_into(source: Path, location: str) -> None:
    """Move the local file `source` to `location`: a rename when both are on this machine
    (the caller keeps `source` on the target's filesystem), an upload otherwise. Either
    way the target appears whole; `source` is gone afterwards."""
    if is_local(location):
        os.replace(source, _local(location))
        return
    try:
        put_file_atomically(source, location)
    finally:
        source.unlink(missing_ok=True)


def remove(location: str) -> None:
    """Delete the file at `location`; nothing there is not an error."""
    if is_local(location):
        Path(_local(location)).unlink(missing_ok=True)
        return
    fs, path = filesystem(location)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(path)


def siblings(location: str, pattern: str) -> Iterator[str]:
    """Locations in `location`'s directory whose names match the glob `pattern`."""
    if is_local(location):
        directory = Path(_local(location)).parent
        if directory.is_dir():
            yield from (str(p) for p in directory.glob(pattern))
        return
    fs, path = filesystem(location)
    scheme = location.split("://", 1)[0]
    fs.invalidate_cache(posixpath.dirname(path))
    for found in fs.glob(posixpath.join(posixpath.dirname(path), pattern)):
        yield f"{scheme}://{found}"


def _local(location: str) -> str:
    return location.split("://", 1)[1] if "://" in location else location
