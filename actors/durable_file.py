"""Crash-safe file writes: a file is either its old content or its complete new content."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so that entries created, renamed or removed in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file written by someone else (e.g. by a library given only its path)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_replace(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on clean exit, make it durably become `path`.

    For writers that want a path rather than bytes (polars' write_parquet). The temp file
    is in the same directory so os.replace is an atomic rename on the same filesystem;
    its name does not end like the target's, so globs over the directory never see it.
    On an exception the temp file is removed and `path` is left untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        # The data must be on disk before the rename is, or a crash could leave the new
        # name pointing at an empty or partial file.
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable.
    fsync_dir(path.parent)


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data`: temp file in the same dir, fsync, rename, fsync the dir."""
    with atomic_replace(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
