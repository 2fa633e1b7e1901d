"""Station times as every OCPP version needs them: the bounds we accept, and microseconds since the epoch to and from datetimes."""

from __future__ import annotations

from datetime import datetime, timezone

# Station times we accept. Wider than any working clock (an unset one says 1970 or 2000), and
# clear of the edges of Python's datetime, where converting to UTC or through a float
# timestamp overflows ("9999-12-31T23:59:59-01:00" is year 10000 in UTC).
EARLIEST_STATION_TIME = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_STATION_TIME = datetime(9000, 1, 1, tzinfo=timezone.utc)


def to_us(ts: datetime) -> int:
    # Stations that send local time without an offset are taken as UTC (OCPP asks for UTC);
    # anything else would shift every event of the station.
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return int(ts.timestamp() * 1_000_000)


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def from_us(us: int) -> datetime:
    """The UTC datetime of microseconds since the epoch (what typed answers carry)."""
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
