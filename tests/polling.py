"""Polls with a deadline: how tests wait for something that happens elsewhere (no bare sleeps)."""

from __future__ import annotations

import asyncio
import time


async def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """Await `predicate()` until it returns something truthy (returned); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
