"""OCPP 2.0.1 remote control and the rest of the core commands: RequestStart/StopTransaction, GetTransactionStatus, Reset, ChangeAvailability, UnlockConnector, TriggerMessage, ClearCache, DataTransfer.

What an answer changes is kept in `Station201` (remote starts, requested availability, the
last reset, the last transaction status) or, for TriggerMessage, in the version-neutral
`triggered_messages`; RequestStopTransaction, UnlockConnector, ClearCache and DataTransfer
change nothing the CSMS keeps: their answers live on in the log. Requirement ids are
OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

from actors.ocpp201 import messages as m
from actors.ocpp201.feature import Check, Fold, Mask
from actors.station_state import (
    REMOTE_STARTS_KEPT,
    TRIGGERED_MESSAGES_KEPT,
    RemoteStart,
    RequestedAvailability,
    RequestedReset,
    StationState,
    TransactionStatus,
)

# --- RequestStartTransaction (F01, F02) -----------------------------------------------------------


def check_request_start(request: m.RequestStartTransactionRequest) -> None:
    profile = request.chargingProfile
    # F01 / K05: a profile sent with RequestStartTransaction is the TxProfile of the
    # transaction it starts, which has no transactionId yet.
    if profile is not None and profile.chargingProfilePurpose != "TxProfile":
        raise ValueError("a RequestStartTransaction chargingProfile must be a TxProfile (OCPP 2.0.1 F01, K05)")
    if profile is not None and profile.transactionId is not None:
        raise ValueError("a RequestStartTransaction chargingProfile has no transactionId: the transaction "
                         "does not exist yet (OCPP 2.0.1 F01, K05)")


def apply_request_start_result(state: StationState, request: m.RequestStartTransactionRequest,
                               response: m.RequestStartTransactionResponse, at_us: int) -> None:
    """Accepted: the remoteStartId is kept until the TransactionEvent that carries it names its
    transaction (station_side.apply_transaction_event, F02). A station whose EVSE already runs
    a transaction (cable plugged in first, F01) names it in the answer."""
    if response.status != "Accepted":
        return
    part = state.part201()
    part.remote_starts.pop(request.remoteStartId, None)  # re-inserted last: newest last
    part.remote_starts[request.remoteStartId] = RemoteStart(
        remote_start_id=request.remoteStartId, id_token=request.idToken.idToken, evse_id=request.evseId,
        requested_at_us=at_us, status=response.status, transaction_id=response.transactionId)
    for old in list(part.remote_starts)[:-REMOTE_STARTS_KEPT]:
        del part.remote_starts[old]
    seq = part.transaction_seq_nos.get(response.transactionId) if response.transactionId else None
    if seq is not None and seq.remote_start_id is None:
        seq.remote_start_id = request.remoteStartId


# --- GetTransactionStatus (E14) -------------------------------------------------------------------


def apply_get_transaction_status_result(state: StationState, request: m.GetTransactionStatusRequest,
                                        response: m.GetTransactionStatusResponse, at_us: int) -> None:
    # E14: ongoingIndicator only when a transactionId was asked about; messagesInQueue says
    # whether the station still holds transaction messages for the CSMS (of that transaction).
    state.part201().transaction_status = TransactionStatus(
        messages_in_queue=response.messagesInQueue, asked_at_us=at_us, transaction_id=request.transactionId,
        ongoing=response.ongoingIndicator if request.transactionId is not None else None)


# --- Reset (B11 without, B12 with an ongoing transaction) -----------------------------------------


def apply_reset_result(state: StationState, request: m.ResetRequest, response: m.ResetResponse, at_us: int) -> None:
    # Scheduled (B12): OnIdle, or an Immediate the station will do once its transactions end.
    state.part201().last_reset = RequestedReset(type=request.type, status=response.status, requested_at_us=at_us,
                                                evse_id=request.evseId)


# --- ChangeAvailability (G03 EVSE / station, G04 connector) ---------------------------------------


def availability_key(evse: m.EVSEType | None) -> str:
    # EVSE id 0 is the Charging Station as a whole (Part 2, EVSE numbering), as is no evse.
    if evse is None or (evse.id == 0 and evse.connectorId is None):
        return ""
    return str(evse.id) if evse.connectorId is None else f"{evse.id}.{evse.connectorId}"


def check_change_availability(request: m.ChangeAvailabilityRequest) -> None:
    # G03/G04: evse absent is the whole station; evse.id 0 with a connector names nothing.
    if request.evse is not None and request.evse.id == 0 and request.evse.connectorId is not None:
        raise ValueError("ChangeAvailability of a connector needs its EVSE id > 0 (OCPP 2.0.1 G04)")


def apply_change_availability_result(state: StationState, request: m.ChangeAvailabilityRequest,
                                     response: m.ChangeAvailabilityResponse, at_us: int) -> None:
    if response.status not in ("Accepted", "Scheduled"):
        return
    part = state.part201()
    key = availability_key(request.evse)
    # A change of the station supersedes what was asked of its EVSEs and connectors, a change
    # of an EVSE what was asked of its connectors (G03: their status follows the EVSE's).
    if key == "":
        part.availability.clear()
    elif "." not in key:
        for old in [k for k in part.availability if k.startswith(f"{key}.")]:
            del part.availability[old]
    evse = request.evse if key else None
    part.availability[key] = RequestedAvailability(
        operational_status=request.operationalStatus, status=response.status, requested_at_us=at_us,
        evse_id=evse.id if evse is not None else None, connector_id=evse.connectorId if evse is not None else None)


# --- TriggerMessage (F06) -------------------------------------------------------------------------

# MessageTriggerEnumType names the action it triggers, but for the certificate ones.
TRIGGERED_ACTION = {
    "SignChargingStationCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
}


def apply_trigger_message_result(state: StationState, request: m.TriggerMessageRequest,
                                 response: m.TriggerMessageResponse, at_us: int) -> None:
    # F06 and B02: a station not yet Accepted may send what a TriggerMessage asked for; each
    # Accepted trigger lets one such request through (StationSession.apply consumes it).
    if response.status != "Accepted":
        return
    action = TRIGGERED_ACTION.get(request.requestedMessage, request.requestedMessage)
    state.triggered_messages.append(action)
    del state.triggered_messages[:-TRIGGERED_MESSAGES_KEPT]


COMMAND_RESULTS: dict[str, Fold] = {
    "ChangeAvailability": apply_change_availability_result,
    "GetTransactionStatus": apply_get_transaction_status_result,
    "RequestStartTransaction": apply_request_start_result,
    "Reset": apply_reset_result,
    "TriggerMessage": apply_trigger_message_result,
}
CHECKS: dict[str, Check] = {
    "ChangeAvailability": check_change_availability,
    "RequestStartTransaction": check_request_start,
}
MASKS: dict[str, Mask] = {}
