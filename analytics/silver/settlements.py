"""The CSMS's TransactionSettled events, by the transaction each settled (issue 16, item 3).

A transaction whose StopTransaction never came is settled by the CSMS (a rule of the
station's version, or an operator's close: actors/settlement.py) and logged as one SESSION
event; silver.transactions gives it a row of its own (or notes it on the station's late stop).
"""

from __future__ import annotations

import msgspec
import polars as pl

from actors import events as ev
from actors.station_state import Settlement
from analytics.silver.bronze import session_events
from analytics.silver.quarantine import Quarantine

# (station, transaction id) -> its settlement
Settlements = dict[tuple[str, int], Settlement]

_settled_decoder = msgspec.json.Decoder(Settlement)


def transaction_settlements(frames: list[pl.DataFrame], quarantine: Quarantine) -> Settlements:
    """The TransactionSettled events of `frames` (the first of a transaction counts; the fold
    takes no second one); a malformed one is quarantined with the reason."""
    found: Settlements = {}
    for row, settled in session_events(frames, ev.TRANSACTION_SETTLED, _settled_decoder, quarantine):
        found.setdefault((row["station_id"], settled.transaction_id), settled)
    return found
