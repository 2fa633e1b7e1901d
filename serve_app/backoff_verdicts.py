"""A gateway replica's copy of the hosts' password-backoff verdicts: a guesser told to wait is refused here till then.

The backoff is decided by the station's host (actors/guessing.py), where the password is
checked. While a (station, source address) pair waits, every further attempt would get the
same 429 from the host, so the replica keeps the verdict and answers 429 itself, and the
attempt costs the host only a knock's counter (serve_app/knocks.py), not a Connect. Only the
pair the host refused is kept, so the verdict never reaches another address or station; at
worst it outlives a reset on the host (a success from the station's own address clears the
per-station wait) by the rest of the wait, at most `guess_backoff_cap_s`. At most
`capacity` pairs are kept, the least recently refused forgotten first, so a flood of
addresses cannot grow it. Per replica: with several replicas a guesser may reach
each host once per wait per replica, which the host refuses in turn.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from actors.guessing import source_host

CAPACITY = 10_000


class BackoffVerdicts:
    def __init__(self, capacity: int = CAPACITY, clock=time.monotonic) -> None:
        self.capacity = capacity
        self._clock = clock
        # (station id, source host) -> when the wait ends; the least recently refused first.
        self._until: OrderedDict[tuple[str, str], float] = OrderedDict()

    def refused(self, station_id: str, source_address: str | None, wait_s: float) -> None:
        """The host answered "backoff" with `wait_s` for this station from this address."""
        key = (station_id, source_host(source_address))
        self._until.pop(key, None)
        self._until[key] = self._clock() + wait_s
        while len(self._until) > self.capacity:
            self._until.popitem(last=False)

    def wait_s(self, station_id: str, source_address: str | None) -> float:
        """Seconds this pair must still wait (0.0: ask the host)."""
        key = (station_id, source_host(source_address))
        until = self._until.get(key)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._until[key]
            return 0.0
        return left

    def __len__(self) -> int:
        return len(self._until)
