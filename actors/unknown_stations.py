"""Station ids that tried to connect but are not registered: bounded, newest kept, for operators.

A charger installed but not yet registered is a common support call (issue 16 item 5): its
host remembers how often, since when, from where and with which subprotocols it knocked.
Station-sent ids are unbounded, so at most `capacity` ids are kept per host; the one seen
longest ago is forgotten first. Not durable: a restarted host starts counting again.
"""

from __future__ import annotations

from collections import OrderedDict
import msgspec

from actors.events import UtcDatetime, now_us, utc_datetime


class UnknownStation(msgspec.Struct, kw_only=True):
    station_id: str
    attempts: int
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    # The address the last attempt came from (host:port as the ingress saw it), if known.
    source_address: str | None
    # The websocket subprotocols the last attempt offered, in its order of preference.
    subprotocols: list[str]
    # Why the last attempt was refused (actors.host_protocol.HandshakeResult): unknown_station
    # when it reached its host, or what the gateway refused it for first (no_credentials, ...).
    last_reason: str = "unknown_station"


class _Knocks(msgspec.Struct):
    attempts: int
    first_us: int
    last_us: int
    source_address: str | None
    subprotocols: tuple[str, ...]
    reason: str


class UnknownStations:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, _Knocks] = OrderedDict()

    def record(self, station_id: str, source_address: str | None, subprotocols: tuple[str, ...],
               at_us: int | None = None, reason: str = "unknown_station", attempts: int = 1) -> None:
        """`attempts` > 1: refusals the gateway folded into one knock (serve_app/knocks.py)."""
        if self.capacity <= 0:
            return
        at = now_us() if at_us is None else at_us
        knocks = self._seen.pop(station_id, None)
        if knocks is None:
            knocks = _Knocks(0, at, at, source_address, subprotocols, reason)
        knocks.attempts += attempts
        knocks.last_us, knocks.source_address, knocks.subprotocols = at, source_address, subprotocols
        knocks.reason = reason
        self._seen[station_id] = knocks  # the most recent last
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def forget(self, station_id: str) -> None:
        """The station got registered: it is no longer unknown."""
        self._seen.pop(station_id, None)

    def listed(self) -> list[UnknownStation]:
        """Most recently seen first."""
        return [
            UnknownStation(station_id=station_id, attempts=k.attempts, first_seen=utc_datetime(k.first_us),
                           last_seen=utc_datetime(k.last_us), source_address=k.source_address,
                           subprotocols=list(k.subprotocols), last_reason=k.reason)
            for station_id, k in reversed(self._seen.items())
        ]
