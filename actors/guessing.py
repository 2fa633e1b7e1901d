"""Basic-auth guessing slowed: exponential backoff after failed passwords, per station and per source; free of I/O.

Station passwords are 16-40 character machine secrets (docs/security.md), so guessing one is
hopeless at any rate; the backoff makes trying cost the guesser time and keeps a flood of
failures from costing a password check each (OWASP Authentication Cheat Sheet, "login
throttling"). It lives in the StationHost because that is where the password is checked (one
host owns a station, so the per-station bound holds for the whole fleet, whatever the number
of gateway replicas).

Three tables, each an exponential backoff that starts after some free failures
(`free`, then base_s, 2 base_s, 4 base_s, ... up to cap_s after the last failure):
- (station, source address): the guesser on one address trying one station. A success from
  that address resets it.
- station, counting failures from addresses that never authenticated as it: guessers spread
  over many addresses. A success resets it.
- source address, across stations: one address trying many station ids. Not reset by a
  success (a guesser with one valid password would reset it at will); it expires.

A lockout of the legitimate station is what an attacker would want, so an address the station
authenticated from recently ("trusted": the last TRUSTED_PER_STATION per station) is held only
to its own (station, source) backoff: an attacker elsewhere cannot keep the station out, and
a success from its own address resets that. Limit: a station that comes from a new address
(a modem's new IP) while someone guesses its password waits like the guesser, at most cap_s
after the last failure.

A source is the address without its port (the port changes with every connection). Every
failure table keeps at most `capacity` entries, the longest idle forgotten first, and an entry
is forgotten twice the cap after its last failure, so a flood of addresses or ids cannot grow
it. Trusted addresses are kept per station that authenticated (at most TRUSTED_PER_STATION
each), until it is deregistered.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

TRUSTED_PER_STATION = 4


def source_host(address: str | None) -> str:
    """The address without its port: `10.0.0.7:51234` -> `10.0.0.7`, `[::1]:5000` -> `::1`."""
    if not address:
        return ""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass(frozen=True)
class BackoffRule:
    """`free` failures cost nothing; then each waits base_s * 2**k, at most cap_s."""

    free: int
    base_s: float
    cap_s: float

    def wait_s(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - self.free - 1, 60))


class _Failures:
    __slots__ = ("count", "last_at")

    def __init__(self) -> None:
        self.count = 0
        self.last_at = 0.0


class _Table:
    """Failures per key, bounded, the longest idle first."""

    def __init__(self, rule: BackoffRule, capacity: int, forget_s: float) -> None:
        self.rule, self.capacity, self.forget_s = rule, capacity, forget_s
        self._entries: OrderedDict[object, _Failures] = OrderedDict()

    def wait_s(self, key: object, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.last_at + self.rule.wait_s(entry.count) - now)

    def failed(self, key: object, now: float) -> None:
        entry = self._entries.pop(key, None) or _Failures()
        entry.count += 1
        entry.last_at = now
        self._entries[key] = entry
        self._prune(now)

    def reset(self, key: object) -> None:
        self._entries.pop(key, None)

    def _prune(self, now: float) -> None:
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if len(entries) <= self.capacity and now - oldest.last_at < self.forget_s:
                break
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class GuessingBackoff:
    """Whether a station's password may be checked now for a handshake from `source`, and for
    how long not; told every check's outcome. Times from `clock` (seconds, monotonic)."""

    def __init__(self, *, pair: BackoffRule, station: BackoffRule, source: BackoffRule, capacity: int,
                 clock=time.monotonic) -> None:
        forget_s = 2 * max(pair.cap_s, station.cap_s, source.cap_s)
        self._pairs = _Table(pair, capacity, forget_s)
        self._stations = _Table(station, capacity, forget_s)
        self._sources = _Table(source, capacity, forget_s)
        # Per station, the addresses it authenticated from, the most recent last (at most
        # TRUSTED_PER_STATION). Not cut at `capacity`: only a success adds one, so the host's
        # registered stations bound it, and a station connected for weeks must keep its trust.
        self._trusted: dict[str, list[str]] = {}
        self._clock = clock

    def wait_s(self, station_id: str, source: str | None) -> float:
        """Seconds before this handshake's password may be checked (0.0: now)."""
        now, src = self._clock(), source_host(source)
        own = self._pairs.wait_s((station_id, src), now)
        if self._is_trusted(station_id, src):
            return own
        return max(own, self._stations.wait_s(station_id, now), self._sources.wait_s(src, now))

    def failed(self, station_id: str, source: str | None) -> None:
        now, src = self._clock(), source_host(source)
        self._pairs.failed((station_id, src), now)
        if not self._is_trusted(station_id, src):
            self._stations.failed(station_id, now)
            self._sources.failed(src, now)

    def succeeded(self, station_id: str, source: str | None) -> None:
        src = source_host(source)
        self._pairs.reset((station_id, src))
        self._stations.reset(station_id)
        self._trust(station_id, src)

    def forget(self, station_id: str) -> None:
        """The station was deregistered: its failures and addresses start afresh."""
        self._stations.reset(station_id)
        self._trusted.pop(station_id, None)

    def _is_trusted(self, station_id: str, src: str) -> bool:
        return src in self._trusted.get(station_id, ())

    def _trust(self, station_id: str, src: str) -> None:
        sources = self._trusted.get(station_id, [])
        if src in sources:
            sources.remove(src)
        sources.append(src)
        del sources[:-TRUSTED_PER_STATION]
        self._trusted[station_id] = sources

    def sizes(self) -> dict[str, int]:
        """Entries per table (tests, and to see that state stays bounded)."""
        return {"pairs": len(self._pairs), "stations": len(self._stations), "sources": len(self._sources),
                "trusted_stations": len(self._trusted)}
