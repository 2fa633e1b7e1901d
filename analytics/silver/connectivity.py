"""silver.connectivity: one connectivity fact per station: connect, disconnect, boot, or heartbeat gap."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import polars as pl

from actors import events as ev
from analytics import tables as t
from analytics.silver.bronze import micros_of
from analytics.silver.frames import US_PER_DAY, short, table_frame, us_day
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import Booted
from analytics.silver.stations import registered_decoder


class _Disconnected(msgspec.Struct):
    connection_id: str | None = None
    close_code: int | None = None


_disconnected_decoder = msgspec.json.Decoder(_Disconnected)


def connectivity(
    d: int, window: pl.DataFrame, boots: Iterable[Booted], calls: pl.DataFrame, heartbeat_gap_s: float,
    quarantine: Quarantine, last_calls_before: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The day's facts: session events of the window received on `d`, boots (retransmissions
    already removed), and silences between `calls` longer than `heartbeat_gap_s`."""
    rows = []
    day_rows = window.filter((pl.col("received_at") // US_PER_DAY) == d)
    session = day_rows.filter(pl.col("message_type") == "SESSION").sort("received_at", "source", "seq")
    for row in session.iter_rows(named=True):
        action = row["action"]
        if action == ev.CONNECTED:
            rows.append(_fact(row["station_id"], row["received_at"], "connect", detail=row["message_id"]))
        elif action == ev.DISCONNECTED:
            try:
                info = _disconnected_decoder.decode(row["payload"] or "")
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(row, f"Disconnected event payload unreadable: {short(exc)}")
                continue
            rows.append(_fact(row["station_id"], row["received_at"], "disconnect", close_code=info.close_code,
                              detail=info.connection_id or row["message_id"]))
        elif action == ev.STATION_REGISTERED:
            try:
                registered_decoder.decode(row["payload"] or "")
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(row, f"StationRegistered event payload unreadable: {short(exc)}")
        # decisions: analytics.silver.decisions; settlements: analytics.silver.settlements
        elif action not in (ev.STATION_DELETED, ev.AUTHORIZATION_DECIDED, ev.TRANSACTION_SETTLED,
                            ev.CSMS_SECURITY_EVENT, *ev.CERTIFICATE_EVENTS, *ev.SECURITY_PROFILE_EVENTS):
            quarantine.add(row, f"unknown SESSION event {action!r}")
    for boot in boots:
        if us_day(boot.row["received_at"]) == d:
            rows.append(_fact(boot.row["station_id"], boot.row["received_at"], "boot",
                              detail=f"firmware={boot.firmware_version or ''} status={boot.status}"))
    rows.extend(heartbeat_gaps(d, calls, heartbeat_gap_s, last_calls_before))
    rows.sort(key=lambda r: (r["station_id"], r["event_ts"], r["kind"]))
    return table_frame(t.CONNECTIVITY, rows)


def _fact(station_id: str, at_us: int, kind: str, gap_s: float | None = None,
          close_code: int | None = None, detail: str | None = None) -> dict[str, Any]:
    return {"station_id": station_id, "event_ts": at_us, "kind": kind, "gap_s": gap_s,
            "close_code": close_code, "detail": detail}


def heartbeat_gaps(d: int, calls: pl.DataFrame, gap_s: float,
                   last_calls_before: pl.DataFrame | None = None) -> list[dict[str, Any]]:
    """Silences longer than `gap_s` between a station's CALLs, dated by the CALL that ended them.

    By receive time: connectivity is about when the CSMS heard from the station. A silence
    that began the day before is seen from `last_calls_before`.
    """
    seeds = [] if last_calls_before is None else [micros_of(last_calls_before)]
    gaps = (
        pl.concat([calls.select("station_id", "received_at"), *seeds])
        .unique()
        .sort("station_id", "received_at")
        .with_columns(gap=(pl.col("received_at") - pl.col("received_at").shift(1).over("station_id")) / 1e6)
        .filter((pl.col("gap") > gap_s) & ((pl.col("received_at") // US_PER_DAY) == d))
    )
    return [_fact(s, at, "heartbeat_gap", gap_s=g) for s, at, g in gaps.iter_rows()]
