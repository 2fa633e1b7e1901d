"""Whether the data root can take writes now, and how a write that could not be made durable is reported.

A full disk must not pass for a healthy one (issue 16 item 4): a host whose events cannot be
made durable acknowledges nothing (its commit fails, it exits, Ray rebuilds it from disk), so
health must say so and name the cause, and a change the API reports as failed must not have
happened. `statvfs` answers in microseconds, so every health check and admin write can ask.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import msgspec


class NotStored(msgspec.Struct, frozen=True):
    """A change refused because it could not be made durable: none of it took effect."""

    reason: str
    # The filesystem is full (HTTP 507) rather than failing otherwise (503).
    no_space: bool = False


def describe(exc: BaseException) -> str:
    """`OSError: [Errno 28] No space left on device`, with the causes that led to it."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    return text if cause is None else f"{text} (caused by {describe(cause)})"


def not_stored(exc: OSError) -> NotStored:
    return NotStored(reason=describe(exc), no_space=exc.errno in (errno.ENOSPC, errno.EDQUOT))


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def write_problem(path: str | os.PathLike[str], min_free_bytes: int) -> NotStored | None:
    """Why writes under `path` would not be durable now (read-only, or less free space than
    `min_free_bytes`, what a log segment, a snapshot and a landed file need), else None."""
    try:
        stats = os.statvfs(Path(path))
    except OSError as exc:
        return not_stored(exc)
    if stats.f_flag & os.ST_RDONLY:
        return NotStored(reason=f"data root {path} is mounted read-only")
    free = stats.f_bavail * stats.f_frsize
    if free < min_free_bytes:
        return NotStored(reason=f"data root {path} has {_mib(free)} free of {_mib(stats.f_blocks * stats.f_frsize)}, "
                                f"less than the {_mib(min_free_bytes)} events need to be made durable "
                                "(disk_free_min_bytes)", no_space=True)
    return None
