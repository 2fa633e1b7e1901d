"""Polls with a deadline: the one way tests wait for something that happens elsewhere (no bare sleeps)."""

from __future__ import annotations

import asyncio
import inspect
import time


class _Deadline:
    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self.at = time.monotonic() + timeout

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise AssertionError(f"timed out after {self.timeout}s waiting for {self.what}")


async def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """Call `predicate()` (a plain or an async function) until it returns something truthy, and
    return that; AssertionError after `timeout` s. Polls every `interval` s."""
    deadline = _Deadline(timeout, what)
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        deadline.check()
        await asyncio.sleep(interval)


def wait_until_blocking(predicate, timeout: float, what: str, interval: float = 0.2):
    """wait_until for code without an event loop (fixtures, Ray drivers): blocks the thread."""
    deadline = _Deadline(timeout, what)
    while True:
        result = predicate()
        if result:
            return result
        deadline.check()
        time.sleep(interval)
