"""The external authorizer's AuthorizationDecided events, by the CALL each decided.

The session logs one with the message id and receive time of the CALL it decided
(StationSession._handle_call); it is folded onto that CALL's transaction and authorization
rows, never kept on its own.
"""

from __future__ import annotations

import msgspec
import polars as pl

from actors import events as ev
from actors.authorizer.decision import AuthorizationDecided
from analytics.silver.bronze import BronzeRow
from analytics.silver.frames import short
from analytics.silver.quarantine import Quarantine

# (station, message id, receive time) of the CALL an AuthorizationDecided event decided.
DecisionKey = tuple[str, str, int]
Decisions = dict[DecisionKey, AuthorizationDecided]

_decided_decoder = msgspec.json.Decoder(AuthorizationDecided)


def decision_key(row: BronzeRow) -> DecisionKey:
    return (row["station_id"], row["message_id"], row["received_at"])


def authorization_decisions(frames: list[pl.DataFrame], quarantine: Quarantine) -> Decisions:
    """The AuthorizationDecided events of `frames` by the CALL they decided; a malformed one is
    quarantined with the reason (and decides nothing)."""
    found: Decisions = {}
    is_decision = (pl.col("message_type") == "SESSION") & (pl.col("action") == ev.AUTHORIZATION_DECIDED)
    events = pl.concat([f.filter(is_decision) for f in frames])
    for row in events.unique(subset=["source", "seq"]).sort("received_at", "source", "seq").iter_rows(named=True):
        try:
            decided = _decided_decoder.decode(row["payload"] or "")
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"AuthorizationDecided event payload unreadable: {short(exc)}")
            continue
        found.setdefault(decision_key(row), decided)
    return found
