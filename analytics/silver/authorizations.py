"""silver.authorizations: one authorization answer: an id tag the station asked about, a start the CSMS answered, or a remote start it sent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from actors.authorizer.decision import AuthorizationDecided
from analytics import tables as t
from analytics.silver.bronze import BronzeRow
from analytics.silver.decisions import Decisions, decision_key
from analytics.silver.frames import table_frame, us_day
from analytics.silver.identity import id_tag_hash
from analytics.silver.records import Authorized, RemoteStartSent, TransactionStarted


def _authorization(row: BronzeRow, event_ts: int, id_tag: str, status: str | None,
                   decided: AuthorizationDecided | None, connector_id: int | None = None,
                   transaction_id: int | str | None = None) -> dict[str, Any]:
    # The column holds the CSMS's integer ids (1.6); a 2.0.1 id is the station's own string.
    station_assigned = isinstance(transaction_id, str)
    return {
        "station_id": row["station_id"], "event_ts": event_ts, "received_at": row["received_at"],
        "action": row["action"], "connector_id": connector_id, "id_tag_hash": id_tag_hash(id_tag), "status": status,
        "accepted": status == "Accepted", "authorization": decided.source if decided else None,
        "downstream": decided.downstream if decided else None,
        "transaction_id": None if station_assigned else transaction_id,
        "message_id": row["message_id"], "source": row["source"], "seq": row["seq"],
        "station_transaction_id": transaction_id if station_assigned else None,
    }


def authorizations(
    d: int, authorizes: Iterable[Authorized], starts: Iterable[TransactionStarted],
    remote_starts: Iterable[RemoteStartSent], decisions: Decisions,
) -> pl.DataFrame:
    """The day's answers: `authorizes` (retransmissions already removed) by receive day, or by
    their event's timestamp (a 2.0.1 TransactionEvent's token; a retried event is one row, its first
    copy), `starts` by their timestamp (a retried start is one row, its first copy), `remote_starts`
    as sent."""
    starts = list(starts)
    # A 2.0.1 event that names no EVSE is on its transaction's start's connector.
    connectors = {(s.row["station_id"], s.transaction_id): s.connector_id for s in starts}
    rows = []
    events: set[tuple] = set()
    for a in authorizes:
        event_ts = a.event_us if a.event_us is not None else a.row["received_at"]
        if us_day(event_ts) != d:
            continue
        if a.transaction_id is not None:
            # A TransactionEvent retried under a new message id (E13) carries the same token and time.
            key = (a.row["station_id"], a.transaction_id, a.id_tag.upper(), event_ts)
            if key in events:
                continue
            events.add(key)
        connector = a.connector_id
        if connector is None and a.transaction_id is not None:
            connector = connectors.get((a.row["station_id"], a.transaction_id))
        rows.append(_authorization(a.row, event_ts, a.id_tag, a.status, decisions.get(decision_key(a.row)),
                                   connector, a.transaction_id))
    seen: dict[tuple[str, int | str], dict[str, Any]] = {}
    for s in starts:  # in receive order: a retried start is one row, its first copy
        if us_day(s.start_us) != d or s.id_tag is None:
            continue  # (a 2.0.1 transaction may start before any id token: nothing was asked)
        decided = decisions.get(decision_key(s.row))
        key = (s.row["station_id"], s.transaction_id)
        if key in seen:
            if seen[key]["authorization"] is None and decided is not None:
                seen[key].update(authorization=decided.source, downstream=decided.downstream)
            continue
        seen[key] = _authorization(s.row, s.start_us, s.id_tag, s.id_tag_status, decided, s.connector_id,
                                   s.transaction_id)
    rows.extend(seen.values())
    rows.extend(_authorization(r.row, r.row["received_at"], r.id_tag, r.status, None, r.connector_id)
                for r in remote_starts)
    rows.sort(key=lambda r: (r["station_id"], r["event_ts"], r["source"], r["seq"]))
    return table_frame(t.AUTHORIZATIONS, rows)
