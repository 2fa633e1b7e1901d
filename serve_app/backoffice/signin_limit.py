"""Failed back-office sign-ins per source address: a few are mistakes, more are guessing; free of I/O.

Tokens are long random secrets, so guessing one is hopeless at any rate; the limit is there so
that trying costs the guesser time, keeps the logs readable and shows up as one clear event
(OWASP Authentication Cheat Sheet, "login throttling"). Per source address, not per token:
the guesser does not know the token it is after. While an address is refused, a right token
is refused too, or a guesser would learn from the answer when it found one; a right token
from an address that is not refused clears the address's failures.

Kept per API replica, in memory, like the gateway's flood lockout (serve_app/rate_limit.py):
a guesser gets at most FAILURES_ALLOWED tries per window per replica, and the state costs
no shared store. At most MAX_ADDRESSES are remembered (the longest-idle are forgotten first),
so a flood of addresses cannot grow it without bound.
"""

from __future__ import annotations

import math
import time

FAILURES_ALLOWED = 5
WINDOW_S = 300.0
MAX_ADDRESSES = 10_000


class SigninLimit:
    def __init__(self, failures_allowed: int = FAILURES_ALLOWED, window_s: float = WINDOW_S,
                 max_addresses: int = MAX_ADDRESSES, clock=time.monotonic) -> None:
        self.failures_allowed = failures_allowed
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._clock = clock
        # address -> times of its failures within the window, oldest first; dict order: least recent first
        self._failures: dict[str, list[float]] = {}

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(address, ()) if now - t < self.window_s]
        if times:
            self._failures[address] = times
        else:
            self._failures.pop(address, None)
        return times

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may try again; 0 when it may now."""
        now = self._clock()
        times = self._recent(address, now)
        if len(times) < self.failures_allowed:
            return 0
        # It may try again when enough of its failures have left the window.
        return max(1, math.ceil(times[-self.failures_allowed] + self.window_s - now))

    def failed(self, address: str) -> None:
        now = self._clock()
        times = self._recent(address, now)
        self._failures.pop(address, None)
        self._failures[address] = [*times, now][-self.failures_allowed:]
        while len(self._failures) > self.max_addresses:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
