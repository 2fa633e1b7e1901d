"""Per-station rate limit on inbound frames: a token bucket per connection, kept by the gateway.

Why in the gateway replica, per socket: a station has one socket and it lives in one replica,
so the bucket needs no shared state and no Ray call; a refused frame never reaches the
station's host, so a flood costs the host (and the event log) nothing; and the bucket is a few
floats next to the socket. A station closed for flooding is locked out of that replica for a
minute (StationBuckets): measured, flooders that reconnected at once got a fresh burst per
connection, and then cost a handshake per connection, which slowed calm stations' p99 from
about 40 ms to about 1 s (scripts/bench_edges.py, BENCHMARKS.md).

Over the limit:
- a transaction message (StartTransaction, StopTransaction, MeterValues) and an answer to
  one of our CALLs wait for a token instead (the gateway reads the station's next frame only
  after answering this one, so the wait pushes back on the socket): OCPP 1.6 section 4.7 lets a
  station drop a transaction message after repeated CALLERRORs, and answers cannot be refused;
- any other CALL (and anything that is not a frame at all) gets a CALLERROR at once. OCPP-J 1.6
  has no code for "too many requests" (4.2.3); GenericError ("any other error not covered by
  the previous ones") is the honest one: InternalError would blame us, and SecurityError or
  NotSupported would tell the station something false about the action. The description says
  it is a rate limit and to retry later;
- `strikes` refused CALLs within a minute mean the station is flooding, not bursting: the
  socket is closed with 1008 (policy violation, RFC 6455 section 7.4.1), and the station's
  handshakes to this replica get 429 with Retry-After for FLOOD_LOCKOUT_S.
"""

from __future__ import annotations

import re
import time

from actors import ocppj, protocols

CLOSE_POLICY_VIOLATION = 1008
RATE_LIMITED = ocppj.GENERIC_ERROR
STRIKE_WINDOW_S = 60.0
FLOOD_LOCKOUT_S = 60.0

# The messages a station must not lose (OCPP 1.6 section 4.7), of every version we speak;
# the gateway passes the set of the socket's own version.
TRANSACTION_ACTIONS = protocols.TRANSACTION_ACTIONS

# Just enough of the frame to classify it without parsing: [type, "id", "Action", ...
_PREFIX = re.compile(r'\s*\[\s*([0-9]+)\s*,\s*"(?:[^"\\]|\\.)*"\s*,\s*"([A-Za-z]*)"')
_ANSWER = re.compile(r"\s*\[\s*[34]\s*,")


def must_wait(text: str, transaction_actions: frozenset[str] = TRANSACTION_ACTIONS) -> bool:
    """Whether a frame over the limit waits for a token (answers, transaction messages)
    rather than being refused with a CALLERROR."""
    if _ANSWER.match(text):
        return True
    match = _PREFIX.match(text)
    return match is not None and match.group(1) == "2" and match.group(2) in transaction_actions


def refusal(text: str, rate_per_s: float, burst: int) -> str:
    """The CALLERROR for a CALL refused by the limit, under the frame's own message id."""
    frame = ocppj.parse_frame(text)
    message_id = frame.message_id if isinstance(frame, ocppj.Call | ocppj.FrameError) else ocppj.UNREADABLE_MESSAGE_ID
    return ocppj.call_error(
        message_id, RATE_LIMITED,
        f"rate limit: at most {rate_per_s:g} messages/s ({burst} at once) per station; retry later",
    )


class TokenBucket:
    """`rate_per_s` tokens a second up to `burst`; a frame takes one. Not thread-safe: one
    bucket per socket, used only by the task serving that socket."""

    def __init__(self, rate_per_s: float, burst: int, strikes: int, clock=time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self.strikes_allowed = strikes
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._strikes = 0
        self._window_start = 0.0

    def take(self) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there will be (none taken)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def strike(self) -> bool:
        """Count a refused CALL; True when the station has been refused too often and must go."""
        now = self._clock()
        if now - self._window_start > STRIKE_WINDOW_S:
            self._window_start, self._strikes = now, 0
        self._strikes += 1
        return self._strikes >= self.strikes_allowed


class StationBuckets:
    """The buckets of one gateway replica, and its stations locked out for flooding.

    A station closed for flooding may not connect to this replica again for FLOOD_LOCKOUT_S:
    its handshake is refused with 429 before the host is asked or the socket accepted. Only a
    station that authenticated and then flooded is locked out, so nobody can lock out another.
    """

    def __init__(self, rate_per_s: float, burst: int, strikes: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self.strikes = rate_per_s, burst, strikes
        self._clock = clock
        # station id -> when it was closed for flooding, oldest first
        self._flooded: dict[str, float] = {}

    def open(self, station_id: str) -> TokenBucket | None:
        """The bucket for a new connection of the station; None when the limit is off."""
        if self.rate <= 0:
            return None
        return TokenBucket(self.rate, self.burst, self.strikes, clock=self._clock)

    def flooded(self, station_id: str) -> None:
        self._flooded.pop(station_id, None)
        self._flooded[station_id] = self._clock()

    def locked_out_s(self, station_id: str) -> float:
        """Seconds until the station may connect to this replica again (0: it may now)."""
        now = self._clock()
        while self._flooded:  # forget expired lockouts, oldest first
            oldest, closed_at = next(iter(self._flooded.items()))
            if now - closed_at < FLOOD_LOCKOUT_S:
                break
            del self._flooded[oldest]
        closed_at = self._flooded.get(station_id)
        return 0.0 if closed_at is None else FLOOD_LOCKOUT_S - (now - closed_at)
