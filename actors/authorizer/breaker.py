"""A circuit breaker for one downstream: closed -> open after N consecutive failures ->
half-open after a cool-down (one probe call) -> closed on the probe's success, open again
on its failure.

While open it fails fast, so a dead downstream costs stations nothing but the policy's
answer, and the downstream is not hammered while it recovers. Pure: the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import msgspec

BreakerState = Literal["closed", "open", "half_open"]


class BreakerStatus(msgspec.Struct, frozen=True, kw_only=True):
    state: BreakerState
    consecutive_failures: int
    # Open only: seconds until the next call may probe the downstream.
    probe_in_s: float | None
    times_opened: int


class CircuitBreaker:
    def __init__(self, failure_threshold: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[BreakerState], None] | None = None) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._on_change = on_change
        self.state: BreakerState = "closed"
        self.consecutive_failures = 0
        self.times_opened = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def allow(self) -> bool:
        """May a call go to the downstream now? In half-open, only the one probe may."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if self._clock() - self._opened_at < self.cooldown_s:
                return False
            self._set("half_open")
        if self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._probe_in_flight = False
        if self.state != "closed":
            self._set("closed")

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        was_probe = self.state == "half_open"
        self._probe_in_flight = False
        if was_probe or (self.state == "closed" and self.consecutive_failures >= self.failure_threshold):
            self._opened_at = self._clock()
            self.times_opened += 1
            self._set("open")

    def status(self) -> BreakerStatus:
        probe_in = None
        if self.state == "open":
            probe_in = round(max(0.0, self.cooldown_s - (self._clock() - self._opened_at)), 3)
        return BreakerStatus(state=self.state, consecutive_failures=self.consecutive_failures,
                             probe_in_s=probe_in, times_opened=self.times_opened)

    def _set(self, state: BreakerState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)
