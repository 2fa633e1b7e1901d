"""silver.transactions: one completed transaction (1.6 StopTransaction, 2.0.1 TransactionEvent Ended seen), per station and transaction id."""

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


def transactions(d: int, stops: Iterable[TransactionStopped], starts: Starts, seq_nos: SeqNos | None = None,
                 ) -> pl.DataFrame:
    """The transactions stopped on day `d`; `stops` in receive order (retransmissions already removed);
    `seq_nos`: the numbered events of 2.0.1 transactions in the lookback, for their seq gaps."""
    seq_nos = seq_nos or {}
    rows: dict[tuple, dict[str, Any]] = {}
    for s in stops:  # in receive order: the first stop of a transaction wins
        row = s.row
        if us_day(s.stop_us) != d:
            continue
        start = starts.get((row["station_id"], s.transaction_id))
        # A known transaction has one row whatever the station resent; orphans (-1, or an id
        # we never gave out, or a start older than the lookback) are told apart by content.
        key = (row["station_id"], s.transaction_id) if start else (
            row["station_id"], s.transaction_id, s.stop_us, s.meter_stop_wh)
        if key in rows:
            continue
        meter_start = start.meter_start if start else None
        station_assigned = isinstance(s.transaction_id, str)  # 2.0.1: the station's own id
        rows[key] = {
            "station_id": row["station_id"], "transaction_id": None if station_assigned else s.transaction_id,
            "connector_id": start.connector_id if start else None,
            "id_tag_hash": id_tag_hash(start.id_tag) if start else None,
            "start_ts": start.start_us if start else None, "stop_ts": s.stop_us,
            "duration_s": (s.stop_us - start.start_us) / 1e6 if start else None,
            "meter_start_wh": _wh(meter_start), "meter_stop_wh": _wh(s.meter_stop_wh),
            "energy_wh": float(s.meter_stop_wh - meter_start)
            if meter_start is not None and s.meter_stop_wh is not None else None,
            "stop_reason": s.reason, "is_orphan": start is None,
            "is_duplicate": bool(start and start.copies > 1),
            "authorization": start.authorization if start else None,
            "authorized_offline": start.authorization in OFFLINE_SOURCES if start else None,
            "station_transaction_id": s.transaction_id if station_assigned else None,
            "evse_id": s.evse_id if s.evse_id is not None else (start.evse_id if start else None),
            "seq_gaps": seq_gaps(seq_nos.get((row["station_id"], s.transaction_id), set()))
            if station_assigned else None,
        }
    ordered = sorted(rows.values(), key=lambda r: (r["station_id"], r["stop_ts"], r["transaction_id"] or 0,
                                                   r["station_transaction_id"] or ""))
    return table_frame(t.TRANSACTIONS, ordered)
