"""silver.transactions: one ended transaction (1.6 StopTransaction, 2.0.1 TransactionEvent Ended seen, or settled by the CSMS), per station and transaction id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import polars as pl

from actors.authorizer.decision import OFFLINE_SOURCES
from analytics import tables as t
from analytics.silver.decisions import Decisions, decision_key
from analytics.silver.frames import table_frame, us_day
from analytics.silver.identity import id_tag_hash
from analytics.silver.records import TransactionEventSeen, TransactionStarted, TransactionStopped
from analytics.silver.settlements import Settlements


class Start(msgspec.Struct):
    """A transaction's start, as its stop and its meter values need it."""

    connector_id: int
    id_tag: str | None
    start_us: int
    meter_start: int | float | None
    copies: int = 1
    authorization: str | None = None  # the AuthorizationDecided source, if one was logged
    evse_id: int | None = None


# (station, transaction id) -> its start
Starts = dict[tuple[str, int | str], Start]
# (station, 2.0.1 transaction id) -> the seqNos of its events that arrived
SeqNos = dict[tuple[str, str], set[int]]


def transaction_seq_nos(events: Iterable[TransactionEventSeen]) -> SeqNos:
    found: SeqNos = {}
    for e in events:
        found.setdefault((e.station_id, e.transaction_id), set()).add(e.seq_no)
    return found


def seq_gaps(seen: set[int]) -> list[int]:
    """The numbers below the highest seen that never arrived (seqNo starts at 0, Part 2 E)."""
    return [n for n in range(max(seen)) if n not in seen] if seen else []


def _wh(value: int | float | None) -> int | None:
    # The table keeps meter readings as integer Wh; 2.0.1 readings are decimals (energy_wh is not rounded).
    return None if value is None else int(round(value))


def transaction_starts(started: Iterable[TransactionStarted], decisions: Decisions) -> Starts:
    """(station, transactionId) -> its start, from the starts the CSMS answered (in receive order)."""
    found: Starts = {}
    for s in started:
        key = (s.row["station_id"], s.transaction_id)
        decided = decisions.get(decision_key(s.row))
        start = found.get(key)
        if start is None:
            start = found[key] = Start(s.connector_id, s.id_tag, s.start_us, s.meter_start_wh, evse_id=s.evse_id)
        else:
            start.copies += 1  # the CSMS gave a retried start the id it already had
        # As the live fold does: a retried start keeps the decision the transaction started with.
        if start.authorization is None and decided is not None:
            start.authorization = decided.source
    return found


def transactions(d: int, stops: Iterable[TransactionStopped], starts: Starts, *, seq_nos: SeqNos | None = None,
                 settlements: Settlements | None = None) -> pl.DataFrame:
    """The transactions that ended on day `d`; `stops` in receive order (retransmissions
    already removed), `seq_nos` the numbered events of 2.0.1 transactions in the lookback (for
    their seq gaps), `settlements` the CSMS's of the window and the lookback.

    A settled transaction has a row of its own (its meter stop the CSMS's estimate) unless
    its StopTransaction is in the window; one that comes later gets its row on its own day
    (end_kind station, the settlement's reason kept): the station's meterStop wins, as live.
    """
    seq_nos = seq_nos or {}
    settlements = settlements or {}
    rows: dict[tuple, dict[str, Any]] = {}
    stopped: set[tuple[str, int]] = set()
    for s in stops:  # in receive order: the first stop of a transaction wins
        row = s.row
        stopped.add((row["station_id"], s.transaction_id))
        if us_day(s.stop_us) != d:
            continue
        start = starts.get((row["station_id"], s.transaction_id))
        # A known transaction has one row whatever the station resent; orphans (-1, or an id
        # we never gave out, or a start older than the lookback) are told apart by content.
        key = (row["station_id"], s.transaction_id) if start else (
            row["station_id"], s.transaction_id, s.stop_us, s.meter_stop_wh)
        if key in rows:
            continue
        settled = settlements.get((row["station_id"], s.transaction_id)) if start else None
        rows[key] = _row(row["station_id"], s.transaction_id, start, s.stop_us, s.meter_stop_wh, s.reason,
                         "station", settled.reason if settled else None, evse_id=s.evse_id, seq_nos=seq_nos)
    for (station_id, transaction_id), settled in settlements.items():
        key = (station_id, transaction_id)
        if us_day(settled.ended_at_us) != d or key in stopped or key in rows or settled.meter_stop_wh is None:
            continue
        rows[key] = _row(station_id, transaction_id, starts.get(key), settled.ended_at_us, settled.meter_stop_wh,
                         None, settled.by, settled.reason, evse_id=None, seq_nos=seq_nos)
    ordered = sorted(rows.values(), key=lambda r: (r["station_id"], r["stop_ts"], r["transaction_id"] or 0,
                                                   r["station_transaction_id"] or ""))
    return table_frame(t.TRANSACTIONS, ordered)


def _row(station_id: str, transaction_id: int | str, start: Start | None, stop_us: int,
         meter_stop_wh: int | float | None, stop_reason: str | None, end_kind: str, settled_reason: str | None,
         *, evse_id: int | None, seq_nos: SeqNos) -> dict[str, Any]:
    meter_start = start.meter_start if start else None
    station_assigned = isinstance(transaction_id, str)  # 2.0.1: the station's own id
    return {
        "station_id": station_id, "transaction_id": None if station_assigned else transaction_id,
        "connector_id": start.connector_id if start else None,
        "id_tag_hash": id_tag_hash(start.id_tag) if start else None,
        "start_ts": start.start_us if start else None, "stop_ts": stop_us,
        "duration_s": (stop_us - start.start_us) / 1e6 if start else None,
        "meter_start_wh": _wh(meter_start), "meter_stop_wh": _wh(meter_stop_wh),
        "energy_wh": float(meter_stop_wh - meter_start)
        if meter_start is not None and meter_stop_wh is not None else None,
        "stop_reason": stop_reason, "is_orphan": start is None,
        "is_duplicate": bool(start and start.copies > 1),
        "end_kind": end_kind, "settled_reason": settled_reason,
        "meter_stop_estimated": end_kind != "station",
        "authorization": start.authorization if start else None,
        "authorized_offline": start.authorization in OFFLINE_SOURCES if start else None,
        "station_transaction_id": transaction_id if station_assigned else None,
        "evse_id": evse_id if evse_id is not None else (start.evse_id if start else None),
        "seq_gaps": seq_gaps(seq_nos.get((station_id, transaction_id), set())) if station_assigned else None,
    }
