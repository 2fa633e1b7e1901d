"""OCPP 2.0.1 reservation commands (Part 2 H01-H04): ReserveNow and CancelReservation, the reservations kept per station.

A reservation ends at its expiry (the station's, H01; forgotten here at a time taken from the
log, so replay drops the same ones), with a ReservationStatusUpdate (Expired / Removed, H03/H04),
a CancelReservation (H02), or the transaction that carries its reservationId (H01):
station_side folds those two.
"""

from __future__ import annotations

from actors.ocpp201 import messages as m
from actors.ocpp201.feature import Check, Fold, Mask
from actors.station_state import Reservation201, StationState
from actors.timestamps import to_us


def apply_reserve_now_result(state: StationState, request: m.ReserveNowRequest, response: m.ReserveNowResponse,
                             at_us: int) -> None:
    if response.status != "Accepted":
        return  # Faulted, Occupied, Rejected, Unavailable: nothing reserved
    reservations = state.part201().reservations
    for rid in [rid for rid, r in reservations.items() if not r.active_at(at_us)]:
        del reservations[rid]
    # H01: a reserved EVSE answers Occupied, so Accepted means it held no other reservation;
    # the same id again replaces its reservation (H01).
    if request.evseId is not None:
        for rid in [rid for rid, r in reservations.items() if r.evse_id == request.evseId]:
            del reservations[rid]
    reservations[request.id] = Reservation201(
        reservation_id=request.id, id_token=request.idToken.idToken, expiry_us=to_us(request.expiryDateTime),
        evse_id=request.evseId, connector_type=request.connectorType,
        group_id_token=request.groupIdToken.idToken if request.groupIdToken else None, reserved_at_us=at_us)


def apply_cancel_reservation_result(state: StationState, request: m.CancelReservationRequest,
                                    response: m.CancelReservationResponse, at_us: int) -> None:
    # Accepted: cancelled. Rejected: the station has no such reservation (H02). Either way, none.
    state.part201().reservations.pop(request.reservationId, None)


COMMAND_RESULTS: dict[str, Fold] = {
    "CancelReservation": apply_cancel_reservation_result,
    "ReserveNow": apply_reserve_now_result,
}
CHECKS: dict[str, Check] = {}
MASKS: dict[str, Mask] = {}
