"""silver.status_changes: one StatusNotification per station, connector (2.0.1: EVSE and connector), station timestamp and content (retransmissions removed)."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from analytics import tables as t
from analytics.silver.frames import table_frame, us_day
from analytics.silver.records import StatusReported


def status_changes(d: int, reports: Iterable[StatusReported]) -> pl.DataFrame:
    """The statuses that happened on day `d`; `reports` in receive order (retransmissions already removed)."""
    seen: set[tuple] = set()
    rows = []
    for s in reports:  # in receive order: the first copy wins
        row = s.row
        event_ts = s.station_ts if s.station_ts is not None else row["received_at"]
        if us_day(event_ts) != d:
            continue
        # The grain: a status the station stamped is that status whichever message carried it.
        # Without a station timestamp only the message id tells a re-sent CALL from a new one,
        # so the staging step has removed those; each remaining one is its own status (its
        # receive time, which differs per copy, stands in as the event time).
        key = (row["station_id"], s.evse_id, s.connector_id, event_ts, s.status, s.error_code, s.info,
               s.vendor_id, s.vendor_error_code)
        if key in seen:
            continue
        seen.add(key)
        rows.append({
            "station_id": row["station_id"], "connector_id": s.connector_id, "event_ts": event_ts,
            "station_ts": s.station_ts, "received_at": row["received_at"],
            "lateness_s": (row["received_at"] - s.station_ts) / 1e6 if s.station_ts is not None else 0.0,
            "status": s.status, "error_code": s.error_code, "info": s.info,
            "vendor_id": s.vendor_id, "vendor_error_code": s.vendor_error_code,
            "source": row["source"], "seq": row["seq"], "evse_id": s.evse_id,
        })
    # 1.6 rows have no EVSE (-1 sorts them as before); a station that changed version has both.
    rows.sort(key=lambda r: (r["station_id"], -1 if r["evse_id"] is None else r["evse_id"], r["connector_id"],
                             r["event_ts"], r["source"], r["seq"]))
    return table_frame(t.STATUS_CHANGES, rows)
