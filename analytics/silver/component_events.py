"""silver.component_events: one 2.0.1 NotifyEvent eventData per station, eventId and event timestamp (retransmissions removed)."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from analytics import tables as t
from analytics.silver.frames import table_frame, us_day
from analytics.silver.records import ComponentEventReported

# The standardized variable a component reports a problem with (OCPP 2.0.1 Part 2 N07 and the
# device model's Problem variable: "true" while the problem lasts).
PROBLEM_VARIABLE = "Problem"


def component_events(d: int, reported: Iterable[ComponentEventReported]) -> pl.DataFrame:
    """The events that happened on day `d` (eventData timestamp); `reported` in receive order, so
    the first copy of an event the station sent twice is the one kept."""
    seen: set[tuple] = set()
    rows = []
    for reported_event in reported:
        e = reported_event.event
        if us_day(e.timestamp_us) != d:
            continue
        row = reported_event.row
        # A station numbers its events (eventId); a reboot may number them afresh, so the time is
        # part of what names one.
        key = (row["station_id"], e.event_id, e.timestamp_us, e.component, e.component_instance, e.evse_id,
               e.connector_id, e.variable, e.variable_instance)
        if key in seen:
            continue
        seen.add(key)
        rows.append({
            "station_id": row["station_id"], "event_ts": e.timestamp_us, "received_at": row["received_at"],
            "generated_at": reported_event.generated_at_us, "event_id": e.event_id, "component": e.component,
            "component_instance": e.component_instance, "evse_id": e.evse_id, "connector_id": e.connector_id,
            "variable": e.variable, "variable_instance": e.variable_instance, "trigger": e.trigger,
            "actual_value": e.actual_value, "event_notification_type": e.notification_type, "cleared": e.cleared,
            "problem": e.variable == PROBLEM_VARIABLE and e.actual_value.strip().lower() == "true" and not e.cleared,
            "tech_code": e.tech_code, "tech_info": e.tech_info, "cause": e.cause,
            "station_transaction_id": e.transaction_id, "variable_monitoring_id": e.variable_monitoring_id,
            "message_id": row["message_id"], "source": row["source"], "seq": row["seq"],
        })
    rows.sort(key=lambda r: (r["station_id"], r["event_ts"], r["event_id"], r["source"], r["seq"]))
    return table_frame(t.COMPONENT_EVENTS, rows)
