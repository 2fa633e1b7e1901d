"""Notice at once when this worker's raylet is gone, so a balancer does not outlive its cluster.

A Ray worker is a child of its node's raylet. When the raylet dies (the whole CSMS killed, the
node lost), the worker's core notices only after its own timeouts, about 3 s here, and until
then a balancer still owns the public port and answers reconnecting stations from a cluster
that no longer exists (issue 16 item 8: 403s for about 3 s after a kill). A pidfd on the
parent becomes readable the instant the parent exits (Linux 5.3+); elsewhere the parent pid
is polled.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger("csms.balancer")

_POLL_S = 0.2


def watch_parent(loop: asyncio.AbstractEventLoop, on_lost: Callable[[], None]) -> bool:
    """Call `on_lost` on `loop` when this process's parent exits; False if there is no parent to watch."""
    parent = os.getppid()
    if parent <= 1:
        return False  # already orphaned: nothing to tell us more
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        fd = None
    if os.getppid() != parent:  # the parent died before the pidfd was made: the pid may be reused
        loop.call_soon(on_lost)
        return True
    if fd is not None:
        def readable() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            on_lost()

        loop.add_reader(fd, readable)
        return True

    def poll() -> None:
        if os.getppid() != parent:
            on_lost()
        else:
            loop.call_later(_POLL_S, poll)

    loop.call_later(_POLL_S, poll)
    return True
