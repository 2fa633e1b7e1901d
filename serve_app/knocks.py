"""Handshakes the gateway refused before asking a host, folded per station id and sent to the hosts in batches.

A support agent must see why a station cannot connect (issue 13 item 6), also when the gateway
refused it (no credentials, no common subprotocol, flood lockout, ...). A refusal must cost
the host no more than a counter and never delay a real connect, so it does not go through
the connect path (serve_app/host_link.py): it is folded here into one Knock per station id
(the count grows, the last result, time and address win), and every KNOCK_INTERVAL_S the
gateway sends each host one fire-and-forget Ray call with its knocks, under a timeout (a lost
batch loses records, nothing else).

Bounded per interval: at most `per_source` distinct station ids per source address (so one
address spraying random ids cannot fill the hosts' unknown-station lists) and at most
`per_host` knocks per host; refusals beyond those are only counted (`dropped`).
"""

from __future__ import annotations

from collections import Counter

from actors.guessing import source_host
from actors.host_protocol import Knock

KNOCK_INTERVAL_S = 1.0
STATIONS_PER_SOURCE = 20
KNOCKS_PER_HOST = 1_000


class PendingKnocks:
    """One gateway replica's refusals not yet sent, by host; not thread-safe (the replica's loop)."""

    def __init__(self, per_source: int = STATIONS_PER_SOURCE, per_host: int = KNOCKS_PER_HOST) -> None:
        self.per_source, self.per_host = per_source, per_host
        self._by_host: dict[str, dict[str, Knock]] = {}
        self._ids_per_source: Counter[str] = Counter()
        # Refusals not recorded because a bound was reached (since the last take).
        self.dropped = 0

    def refused(self, host: str, station_id: str, result: str, at_us: int, source_address: str | None,
                subprotocols: tuple[str, ...]) -> bool:
        """Fold one refusal in; False when a bound dropped it (it is still counted in the metric)."""
        pending = self._by_host.setdefault(host, {})
        known = pending.get(station_id)
        if known is not None:
            pending[station_id] = Knock(station_id, result, at_us, source_address, subprotocols, known.count + 1)
            return True
        source = source_host(source_address)
        if len(pending) >= self.per_host or self._ids_per_source[source] >= self.per_source:
            self.dropped += 1
            return False
        self._ids_per_source[source] += 1
        pending[station_id] = Knock(station_id, result, at_us, source_address, subprotocols)
        return True

    def take(self) -> dict[str, list[Knock]]:
        """Everything pending, by host, and start a new interval."""
        taken = {host: list(knocks.values()) for host, knocks in self._by_host.items() if knocks}
        self._by_host.clear()
        self._ids_per_source.clear()
        self.dropped = 0
        return taken

    def __len__(self) -> int:
        return sum(len(knocks) for knocks in self._by_host.values())
