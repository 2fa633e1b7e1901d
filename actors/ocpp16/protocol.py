"""OCPP 1.6J as the rest of the CSMS sees it: the one `Protocol` object of this folder (actors/protocol.py)."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.ocpp16 import answers as a
from actors.ocpp16 import certificates as cert16
from actors.ocpp16 import csms_side as c16
from actors.ocpp16 import log_uploads as lu16
from actors.ocpp16 import messages as m
from actors.ocpp16 import security_events as se16
from actors.ocpp16 import signed_firmware as sf16
from actors.ocpp16 import station_side as s16
from actors.ocpp16.secrets import (
    SECRET_CONFIGURATION_KEYS,
    authorization_key_password,
    check_secret_command,
    loggable_command,
    password_command,
)
from actors.protocol import Policy, Protocol, StationAction
from actors.security_profiles import new_security_profile_16, requested_security_profile_16
from actors.station_state import StationState

A = StationAction
# Durable: a CALLRESULT for these leaves only after the events are fsync'd (DESIGN.md,
# Durability). Transaction messages: OCPP 1.6 section 4.7, the ones a station must not lose.
# BootNotification is the one action allowed before an Accepted boot (section 4.2.1; what a
# TriggerMessage asked for is let through by the session, section 4.2).
ACTIONS: dict[str, StationAction] = {
    "BootNotification": A(s16.answer_boot, s16.apply_boot, a.BootNotificationResponse, durable=True,
                          before_accepted=True),
    "Heartbeat": A(s16.answer_heartbeat, s16.apply_heartbeat, a.HeartbeatResponse, durable=False),
    "StatusNotification": A(s16.answer_status, s16.apply_status, a.StatusNotificationResponse, durable=True),
    "Authorize": A(s16.answer_authorize, s16.apply_nothing, a.AuthorizeResponse, durable=False,
                   authorization="decide"),
    "StartTransaction": A(s16.answer_start, s16.apply_start, a.StartTransactionResponse, durable=True,
                          transaction_message=True, authorization="decide"),
    "MeterValues": A(s16.answer_meter_values, s16.apply_meter_values, a.MeterValuesResponse, durable=True,
                     transaction_message=True),
    # StopTransaction's idTagInfo is only informative (4.10): never worth a wait for the
    # downstream, but answered from its cached answer where there is one.
    "StopTransaction": A(s16.answer_stop, s16.apply_stop, a.StopTransactionResponse, durable=True,
                         transaction_message=True, authorization="cache"),
    "DataTransfer": A(s16.answer_data_transfer, s16.apply_nothing, a.DataTransferResponse, durable=False),
    "DiagnosticsStatusNotification": A(s16.answer_diagnostics_status, s16.apply_diagnostics_status,
                                       a.DiagnosticsStatusNotificationResponse, durable=False),
    "FirmwareStatusNotification": A(s16.answer_firmware_status, s16.apply_firmware_status,
                                    a.FirmwareStatusNotificationResponse, durable=False),
    # The security whitepaper (edition 3). A security event is what an operator must never
    # miss (the station queues critical ones until delivered, A04): durable like a status.
    "SecurityEventNotification": A(se16.answer_security_event, se16.apply_security_event,
                                   se16.SecurityEventNotificationResponse, durable=True),
    "SignedFirmwareStatusNotification": A(sf16.answer_signed_firmware_status, sf16.apply_signed_firmware_status,
                                          sf16.SignedFirmwareStatusNotificationResponse, durable=False),
    "LogStatusNotification": A(lu16.answer_log_status, lu16.apply_log_status,
                               lu16.LogStatusNotificationResponse, durable=False),
    # Security whitepaper A02/A03: durable, so the CSR is on disk before we accept to sign it.
    "SignCertificate": A(cert16.answer_sign_certificate, cert16.apply_sign_certificate,
                         cert16.SignCertificateResponse, durable=True),
}

# Station requests of the security whitepaper, decoded by their own modules' types.
_whitepaper_decoders = {action: msgspec.json.Decoder(t) for action, t in cert16.STATION_REQUESTS.items()}


def decode_request(action: str, payload: bytes) -> Any:
    decoder = _whitepaper_decoders.get(action)
    return m.decode_request(action, payload) if decoder is None else decoder.decode(payload)


def new_password(action: str, request_json: str, response_json: str) -> bytes | None:
    """A station that accepted ChangeConfiguration AuthorizationKey authenticates with the new
    key from its next connection on (security profile 1-2; OCPP-J 1.6 section 6.2.2)."""
    if action != "ChangeConfiguration":
        return None
    request = msgspec.json.decode(request_json)
    if str(request.get("key", "")).lower() not in SECRET_CONFIGURATION_KEYS:
        return None
    if msgspec.json.decode(response_json).get("status") not in ("Accepted", "RebootRequired"):
        return None
    try:
        return authorization_key_password(str(request.get("value", "")))
    except ValueError:
        return None  # refused by check_command before sending; nothing else sends it


def id_token(request: Any) -> str | None:
    # idTags are CiString (case-insensitive) in 1.6; the id-tag table is keyed upper-case.
    tag = getattr(request, "idTag", None)
    return tag.upper() if tag else None


def authorization_outcome(request: Any, answer: Any) -> tuple[str, int | None]:
    # Authorize, StartTransaction (whose decision belongs to the transaction it started), StopTransaction.
    info = getattr(answer, "idTagInfo", None)
    return getattr(info, "status", ""), getattr(answer, "transactionId", None)


def after_apply(state: StationState, action: str, policy: Policy) -> None:
    # A start may have settled the connector's stale transaction (stale_transactions): it
    # counts as completed too.
    if action in ("StopTransaction", "StartTransaction"):
        state.forget_old_transactions(policy.completed_transactions_kept)


OCPP16 = Protocol(
    version="1.6",
    subprotocol="ocpp1.6",
    actions=ACTIONS,
    decode_request=decode_request,
    commands=c16.COMMANDS,
    decode_command=c16.decode_command,
    check_command=check_secret_command,
    loggable_command=loggable_command,
    loggable_result=c16.loggable_result,
    apply_command_result=c16.apply_command_result,
    new_password=new_password,
    new_security_profile=new_security_profile_16,
    requested_security_profile=requested_security_profile_16,
    password_command=password_command,
    station_timestamp_us=s16.station_timestamp_us,
    id_token=id_token,
    after_apply=after_apply,
    authorization_outcome=authorization_outcome,
    # OCPP 1.6 section 4.2: while a station is Pending the CSMS may configure it, trigger
    # messages, etc., but not start or stop charging.
    not_while_pending=frozenset({"RemoteStartTransaction", "RemoteStopTransaction"}),
    stale_transactions=s16.stale_transactions,
    certificate_request=cert16.certificate_request,
    certificate_signed=cert16.certificate_signed,
    certificate_renewal=cert16.RENEWAL,
)
