"""Settling a transaction whose StopTransaction never came: the estimate, the admin close, and the fold.

A station that resets or loses a message leaves a transaction open for good; it would then
block its id tag (ConcurrentTx) and pile up on its connector (issue 16, item 3). Which frames
show such a transaction over is a rule of the station's version (`Protocol.stale_transactions`,
1.6: actors/ocpp16/station_side.py); an operator may also close one (`close_transaction`).
Either way the session logs a `TransactionSettled` event and `apply_settlement` folds it, so
the settlement survives replay and lands in bronze like every other event. Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Literal

from actors.station_state import Settlement, StationState, Transaction

# The admin close's refusals: no such transaction (or one forgotten, beyond
# Policy.completed_transactions_kept), or one already stopped or settled.
CloseRefusal = Literal["unknown", "closed"]


def settlement_of(tx: Transaction, reason: str, by: Literal["csms", "operator"], ended_at_us: int) -> Settlement:
    """The settlement of open transaction `tx`, its meter stop estimated from what was measured."""
    if tx.last_meter_wh is not None:
        estimate: int | None = math.floor(tx.last_meter_wh)
    else:
        estimate = tx.meter_start_wh
    if tx.started_at_us is not None:
        # Station and CSMS clocks differ: a transaction never ends before it began.
        ended_at_us = max(ended_at_us, tx.started_at_us)
    return Settlement(transaction_id=tx.transaction_id, reason=reason, by=by,
                      meter_stop_wh=estimate, ended_at_us=ended_at_us)


def close_transaction(state: StationState, transaction_id: int, reason: str, at_us: int) -> Settlement | CloseRefusal:
    """An operator's close of a stale transaction, or why it cannot be closed."""
    tx = state.transactions.get(transaction_id)
    if tx is None:
        return "unknown"
    if not tx.active:
        return "closed"
    return settlement_of(tx, reason, "operator", at_us)


def apply_settlement(state: StationState, settlement: Settlement) -> None:
    """Fold a logged settlement: the transaction ends with the estimate, marked as settled."""
    tx = state.transactions.get(settlement.transaction_id)
    if tx is None or not tx.active:
        return  # forgotten since, or its StopTransaction came first: the station's stop stands
    tx.settlement = settlement
    tx.meter_stop_wh = settlement.meter_stop_wh
    tx.stopped_at_us = settlement.ended_at_us
    # What the station holds (its TxProfiles, reservations) changes on the station's word
    # only: a settlement is the CSMS's inference, the late StopTransaction does the rest.
