"""silver.security_events: one SecurityEventNotification the CSMS answered, per station, type, station timestamp and techInfo (a re-sent one counts once)."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from analytics import tables as t
from analytics.silver.frames import table_frame, us_day
from analytics.silver.records import SecurityEventReported


def security_events(d: int, events: Iterable[SecurityEventReported]) -> pl.DataFrame:
    """The security events that happened on day `d` by the station's clock; `events` in receive
    order, so the first copy of one the station sent again (no answer reached it) is the row."""
    seen: set[tuple] = set()
    rows = []
    for e in events:
        if us_day(e.station_ts) != d:
            continue
        row = e.row
        key = (row["station_id"], e.type, e.station_ts, e.tech_info)
        if key in seen:
            continue
        seen.add(key)
        rows.append({
            "station_id": row["station_id"], "ocpp_version": row["ocpp_version"], "type": e.type,
            "tech_info": e.tech_info, "station_ts": e.station_ts, "received_at": row["received_at"],
            "critical": e.critical, "message_id": row["message_id"], "source": row["source"], "seq": row["seq"],
        })
    rows.sort(key=lambda r: (r["station_id"], r["station_ts"], r["source"], r["seq"]))
    return table_frame(t.SECURITY_EVENTS, rows)
