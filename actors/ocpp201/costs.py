"""OCPP 2.0.1 CostUpdated (Part 2 I02): the running total cost the CSMS shows the driver of a transaction.

I02.FR.01: the CSMS sends either CostUpdated at relevant moments or the running cost in its
TransactionEventResponse; this is the former, sent by an operator (or a tariff job) through the
command path. What we last sent is kept with the transaction while the state keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from actors.ocpp201 import messages as m
from actors.station_state import CostUpdate, StationState


def check_cost_updated(req: m.CostUpdatedRequest) -> None:
    if not math.isfinite(req.totalCost):
        raise ValueError("totalCost is a number (OCPP 2.0.1 I02, CostUpdatedRequest)")


CHECKS: dict[str, Callable[[Any], None]] = {"CostUpdated": check_cost_updated}

MASKS: dict[str, Callable[[dict], dict]] = {}


def apply_cost_updated_result(state: StationState, req: m.CostUpdatedRequest, res: m.CostUpdatedResponse,
                              at_us: int) -> None:
    costs = state.part201().costs
    costs[req.transactionId] = CostUpdate(total_cost=req.totalCost, updated_at_us=at_us)
    # Bounded by the transactions the state keeps (forget_old_transactions drops old ones).
    for tx_id in [tx_id for tx_id in costs if tx_id not in state.transactions]:
        del costs[tx_id]


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "CostUpdated": apply_cost_updated_result,
}
