"""Instants as the CSMS keeps them (integer microseconds since the Unix epoch, UTC) and as OCPP writes them."""

from __future__ import annotations

from datetime import datetime, timezone


def to_us(ts: datetime) -> int:
    # Stations that send local time without an offset are taken as UTC (OCPP asks for UTC);
    # anything else would shift every event of the station.
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return int(ts.timestamp() * 1_000_000)


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc).isoformat().replace("+00:00", "Z")
