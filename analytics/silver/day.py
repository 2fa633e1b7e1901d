"""All day-partitioned silver tables of one UTC day from its bronze window: staging, then one builder per table."""

from __future__ import annotations

import datetime as dt

import polars as pl

from actors import events as ev
from analytics import tables as t
from analytics.silver import staging
from analytics.silver.authorizations import authorizations
from analytics.silver.bronze import answered_calls, micros
from analytics.silver.component_events import component_events
from analytics.silver.connectivity import connectivity
from analytics.silver.decisions import authorization_decisions
from analytics.silver.frames import day_number
from analytics.silver.meter_values import meter_values
from analytics.silver.quarantine import Quarantine
from analytics.silver.security_events import security_events
from analytics.silver.settlements import transaction_settlements
from analytics.silver.status_changes import status_changes
from analytics.silver.transactions import transaction_seq_nos, transaction_starts, transactions


def curate_day_frames(
    day: dt.date, window: pl.DataFrame, starts: pl.DataFrame, heartbeat_gap_s: float,
    last_calls_before: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """The silver rows of `day`: {table name: frame} for every day-partitioned silver table.

    `window`: bronze rows (BRONZE_SCHEMA) received or happened on `day`, plus MeterValues
    and StopTransactions of the day before and stops of the day after whose samples may
    fall on `day`, station answers to RemoteStartTransaction received the day after, and
    the CALLs received in the last tables.RETRANSMISSION_WINDOW_S before `day` (so that
    a retransmission of one is recognised).
    `starts`: the StartTransaction CALLs and answers of the lookback period, and the
    AuthorizationDecided and TransactionSettled events received in it.
    `last_calls_before`: per station, the receive time of its last CALL before `day`
    (station_id, received_at), where heartbeat gaps spanning midnight begin.
    """
    d = day_number(day)
    window = micros(window.filter(pl.struct("source", "seq").is_first_distinct()))
    quarantine = Quarantine(d)
    # Only what silver interprets or quarantines is looked at row by row (not heartbeats).
    of_interest = answered_calls(window, [*staging.INTERPRETED, ev.MALFORMED]).sort("received_at", "source", "seq")
    staged = staging.stage_calls(of_interest, quarantine)
    calls = window.filter((pl.col("direction") == "in") & (pl.col("message_type") == "CALL"))

    starts = micros(starts)
    decisions = authorization_decisions([window, starts], quarantine)
    lookback_calls = (
        answered_calls(starts.unique(subset=["source", "seq"], keep="first")).sort("received_at", "source", "seq")
        if not starts.is_empty() else starts)
    started = staging.stage_starts(lookback_calls, quarantine)
    starts_by_tx = transaction_starts(started, decisions)
    settlements = transaction_settlements([window, starts], quarantine)
    seq_nos = transaction_seq_nos(staging.stage_events(lookback_calls)) if not lookback_calls.is_empty() else {}
    frames = {
        t.STATUS_CHANGES.name: status_changes(d, staged.statuses),
        t.TRANSACTIONS.name: transactions(d, staged.stops, starts_by_tx, seq_nos=seq_nos, settlements=settlements),
        t.METER_VALUES.name: meter_values(d, staged.samples, starts_by_tx, quarantine),
        t.CONNECTIVITY.name: connectivity(d, window, staged.boots, calls, heartbeat_gap_s, quarantine,
                                          last_calls_before),
        t.AUTHORIZATIONS.name: authorizations(d, staged.authorizes, started,
                                              staging.remote_starts(window, d, quarantine), decisions),
        t.SECURITY_EVENTS.name: security_events(d, staging.stage_security_events(
            answered_calls(window, list(staging.SECURITY_EVENT_ACTIONS)).sort("received_at", "source", "seq"),
            quarantine)),
        t.COMPONENT_EVENTS.name: component_events(d, staged.component_events),
    }
    frames[t.QUARANTINE.name] = quarantine.frame()
    return frames
