"""OCPP 1.6 CSMS-initiated actions: the requests an operator may send, the stations' answers, and what an answer changes.

Requests are msgspec Structs mirroring the 1.6 JSON schemas (the `ocpp` library's are the
reference; tests compare), so the operator API refuses an invalid payload before anything
is sent. A few rules the schemas leave out but the 1.6 text states are enforced too; each
names its section. Responses are typed but lenient (unknown fields ignored, no length
limits): a station's answer is what happened, and we would rather fold it than refuse it.

`apply_<action>_result(state, request, response, at_us)` folds an answered command into the
station's state; it runs live when the CALLRESULT arrives and again on replay, from the
logged CALL and CALLRESULT events (`StationSession.apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from actors.ocpp16 import log_uploads, signed_firmware
from actors.ocpp16 import certificates as cert16
from actors.ocpp16 import messages as m
from actors.ocpp16.messages import CiString20, CiString50, CiString500, ConnectorId, Int32, Payload, Uri
from actors.ocpp16.secrets import MASK, SECRET_CONFIGURATION_KEYS
from actors.ocpp16.station_side import to_us
from actors.station_state import (
    ChargingProfileRecord,
    ChargingSchedulePeriodRecord,
    ChargingScheduleRecord,
    ConfigurationValue,
    ConnectorAvailability,
    DiagnosticsUpload,
    FirmwareUpdate,
    LocalAuthorization,
    Reservation,
    StationState,
    TRIGGERED_MESSAGES_KEPT,
)


# RemoteStartTransaction and UnlockConnector name a real connector: "connectorId > 0" (1.6
# sections 6.33 and 6.53); elsewhere 0 means the whole Charge Point.
PositiveConnectorId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
# "Lowest level is 0" (1.6 section 7, ChargingProfile.stackLevel).
StackLevel = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]

ChargingProfilePurpose = Literal["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]
ChargingRateUnit = Literal["A", "W"]
IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]


def _one_decimal(value: float | None, name: str) -> None:
    # 1.6 section 7, ChargingSchedule(Period): "Accepts at most one digit fraction". The schema
    # says multipleOf 0.1, which binary floating point division gets wrong (0.3 / 0.1 is
    # 2.9999999999999996, so jsonschema refuses 6.3 A); round() is exact here.
    if value is not None and round(value, 1) != value:
        raise ValueError(f"{name} must have at most one decimal digit (OCPP 1.6 section 7, ChargingSchedulePeriod), got {value}")


# --- shared types (1.6 section 7) ------------------------------------------------------------


class ChargingSchedulePeriod(Payload):
    startPeriod: Int32
    limit: float
    numberPhases: Int32 | None = None


class ChargingSchedule(Payload):
    chargingRateUnit: ChargingRateUnit
    # 1..* in 1.6 section 7, ChargingSchedule; the schema sets no minItems.
    chargingSchedulePeriod: Annotated[list[ChargingSchedulePeriod], msgspec.Meta(min_length=1)]
    duration: Int32 | None = None
    startSchedule: datetime | None = None
    minChargingRate: float | None = None


class ChargingProfile(Payload):
    chargingProfileId: Int32
    stackLevel: StackLevel
    chargingProfilePurpose: ChargingProfilePurpose
    chargingProfileKind: Literal["Absolute", "Recurring", "Relative"]
    chargingSchedule: ChargingSchedule
    transactionId: Int32 | None = None
    recurrencyKind: Literal["Daily", "Weekly"] | None = None
    validFrom: datetime | None = None
    validTo: datetime | None = None

    def __post_init__(self) -> None:
        # 1.6 section 7, ChargingProfile: "transactionId: Only valid if ChargingProfilePurpose is set to TxProfile".
        if self.transactionId is not None and self.chargingProfilePurpose != "TxProfile":
            raise ValueError("transactionId is only valid in a TxProfile (OCPP 1.6 section 7, ChargingProfile)")
        schedule = self.chargingSchedule
        _one_decimal(schedule.minChargingRate, "minChargingRate")
        for period in schedule.chargingSchedulePeriod:
            _one_decimal(period.limit, "limit")


class IdTagInfo(Payload):
    status: IdTagStatus
    expiryDate: datetime | None = None
    parentIdTag: CiString20 | None = None


class AuthorizationData(Payload):
    idTag: CiString20
    # Required in a Full update; in a Differential one its absence deletes the entry
    # (section 7, AuthorizationData).
    idTagInfo: IdTagInfo | None = None


# --- requests (1.6 section 5, messages in section 6) -----------------------------------------


class CancelReservationRequest(Payload):
    reservationId: Int32


class ChangeAvailabilityRequest(Payload):
    connectorId: ConnectorId
    type: Literal["Inoperative", "Operative"]


class ChangeConfigurationRequest(Payload):
    key: CiString50
    value: CiString500


class ClearCacheRequest(Payload):
    pass


class ClearChargingProfileRequest(Payload):
    id: Int32 | None = None
    connectorId: ConnectorId | None = None
    chargingProfilePurpose: ChargingProfilePurpose | None = None
    stackLevel: StackLevel | None = None


class GetCompositeScheduleRequest(Payload):
    connectorId: ConnectorId
    duration: Int32
    chargingRateUnit: ChargingRateUnit | None = None


class GetConfigurationRequest(Payload):
    key: list[CiString50] | None = None


class GetDiagnosticsRequest(Payload):
    location: Uri
    retries: Int32 | None = None
    retryInterval: Int32 | None = None
    startTime: datetime | None = None
    stopTime: datetime | None = None


class GetLocalListVersionRequest(Payload):
    pass


class RemoteStartTransactionRequest(Payload):
    idTag: CiString20
    connectorId: PositiveConnectorId | None = None
    chargingProfile: ChargingProfile | None = None

    def __post_init__(self) -> None:
        # 1.6 sections 5.11 and 5.16: "the ChargingProfilePurpose MUST be set to TxProfile".
        if self.chargingProfile is not None and self.chargingProfile.chargingProfilePurpose != "TxProfile":
            raise ValueError("a RemoteStartTransaction chargingProfile must be a TxProfile (OCPP 1.6 sections 5.11, 5.16)")


class RemoteStopTransactionRequest(Payload):
    transactionId: Int32


class ReserveNowRequest(Payload):
    connectorId: ConnectorId
    expiryDate: datetime
    idTag: CiString20
    reservationId: Int32
    parentIdTag: CiString20 | None = None


class ResetRequest(Payload):
    type: Literal["Hard", "Soft"]


class SendLocalListRequest(Payload):
    listVersion: Int32
    updateType: Literal["Differential", "Full"]
    localAuthorizationList: list[AuthorizationData] | None = None

    def __post_init__(self) -> None:
        if self.updateType == "Full" and any(e.idTagInfo is None for e in self.localAuthorizationList or ()):
            raise ValueError("every entry of a Full update needs its idTagInfo (OCPP 1.6 section 7, AuthorizationData)")


class SetChargingProfileRequest(Payload):
    connectorId: ConnectorId
    csChargingProfiles: ChargingProfile

    def __post_init__(self) -> None:
        # 1.6 section 3.13.1: "ChargePointMaxProfile can only be set at Charge Point ConnectorId 0".
        if self.csChargingProfiles.chargingProfilePurpose == "ChargePointMaxProfile" and self.connectorId != 0:
            raise ValueError("a ChargePointMaxProfile can only be set at connectorId 0 (OCPP 1.6 section 3.13.1)")


class TriggerMessageRequest(Payload):
    requestedMessage: Literal[
        "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
        "Heartbeat", "MeterValues", "StatusNotification",
    ]
    # 0 is meaningful here: StatusNotification for connector 0 is the Charge Point's (5.17).
    connectorId: ConnectorId | None = None


class UnlockConnectorRequest(Payload):
    connectorId: PositiveConnectorId


class UpdateFirmwareRequest(Payload):
    location: Uri
    retrieveDate: datetime
    retries: Int32 | None = None
    retryInterval: Int32 | None = None


# Every action the CSMS may initiate in OCPP 1.6 (core and the optional feature profiles),
# with its request type. DataTransfer has the same payload in both directions.
COMMANDS: dict[str, type[Payload]] = {
    "CancelReservation": CancelReservationRequest,
    "ChangeAvailability": ChangeAvailabilityRequest,
    "ChangeConfiguration": ChangeConfigurationRequest,
    "ClearCache": ClearCacheRequest,
    "ClearChargingProfile": ClearChargingProfileRequest,
    "DataTransfer": m.DataTransferRequest,
    "GetCompositeSchedule": GetCompositeScheduleRequest,
    "GetConfiguration": GetConfigurationRequest,
    "GetDiagnostics": GetDiagnosticsRequest,
    "GetLocalListVersion": GetLocalListVersionRequest,
    "RemoteStartTransaction": RemoteStartTransactionRequest,
    "RemoteStopTransaction": RemoteStopTransactionRequest,
    "ReserveNow": ReserveNowRequest,
    "Reset": ResetRequest,
    "SendLocalList": SendLocalListRequest,
    "SetChargingProfile": SetChargingProfileRequest,
    "TriggerMessage": TriggerMessageRequest,
    "UnlockConnector": UnlockConnectorRequest,
    "UpdateFirmware": UpdateFirmwareRequest,
    # The security whitepaper (edition 3).
    "SignedUpdateFirmware": signed_firmware.SignedUpdateFirmwareRequest,
    "GetLog": log_uploads.GetLogRequest,
    **cert16.COMMANDS,  # the security whitepaper's certificate commands
}

_command_decoders = {action: msgspec.json.Decoder(cls) for action, cls in COMMANDS.items()}


def decode_command(action: str, payload: bytes | str | msgspec.Raw) -> Payload:
    """Decode and validate an operator's command payload for `action` (a key of COMMANDS).

    Raises msgspec.ValidationError for a payload the 1.6 schema or text forbids
    (msgspec.DecodeError, its base class, for text that is not JSON).
    """
    return _command_decoders[action].decode(payload)


# --- responses (the stations' .conf PDUs) -------------------------------------------------------


class CommandResponse(msgspec.Struct, omit_defaults=True):
    """Base of every answer to our CALLs: unknown fields are ignored, lengths are not checked."""


# msgspec reads any JSON integer into an int; a reported number must still fit the msgpack
# snapshot of the state (64 bits), even if 1.6 promises 32.
AnyInt = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class CancelReservationResponse(CommandResponse):
    status: Literal["Accepted", "Rejected"]


class ChangeAvailabilityResponse(CommandResponse):
    status: Literal["Accepted", "Rejected", "Scheduled"]


class ChangeConfigurationResponse(CommandResponse):
    status: Literal["Accepted", "Rejected", "RebootRequired", "NotSupported"]


class ClearCacheResponse(CommandResponse):
    status: Literal["Accepted", "Rejected"]


class ClearChargingProfileResponse(CommandResponse):
    status: Literal["Accepted", "Unknown"]


class DataTransferResponse(CommandResponse):
    status: Literal["Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId"]
    # "Text" in 1.6, but vendors put JSON objects here; the answer is kept either way.
    data: str | dict[str, Any] | list[Any] | None = None


class ReportedSchedulePeriod(CommandResponse):
    startPeriod: AnyInt
    limit: float
    numberPhases: AnyInt | None = None


class ReportedSchedule(CommandResponse):
    """A composite schedule as a station computed it: no one-decimal rule (it may convert W to A)."""

    chargingRateUnit: ChargingRateUnit
    chargingSchedulePeriod: list[ReportedSchedulePeriod]
    duration: AnyInt | None = None
    startSchedule: datetime | None = None
    minChargingRate: float | None = None


class GetCompositeScheduleResponse(CommandResponse):
    status: Literal["Accepted", "Rejected"]
    connectorId: AnyInt | None = None
    scheduleStart: datetime | None = None
    chargingSchedule: ReportedSchedule | None = None


class KeyValue(CommandResponse):
    key: str
    # Required by the schema; a station that leaves it out still told us the value.
    readonly: bool | None = None
    value: str | None = None


class GetConfigurationResponse(CommandResponse):
    configurationKey: list[KeyValue] | None = None
    unknownKey: list[str] | None = None


class GetDiagnosticsResponse(CommandResponse):
    fileName: str | None = None


class GetLocalListVersionResponse(CommandResponse):
    listVersion: AnyInt


class RemoteStartTransactionResponse(CommandResponse):
    status: Literal["Accepted", "Rejected"]


class RemoteStopTransactionResponse(CommandResponse):
    status: Literal["Accepted", "Rejected"]


class ReserveNowResponse(CommandResponse):
    status: Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]


class ResetResponse(CommandResponse):
    status: Literal["Accepted", "Rejected"]


class SendLocalListResponse(CommandResponse):
    status: Literal["Accepted", "Failed", "NotSupported", "VersionMismatch"]


class SetChargingProfileResponse(CommandResponse):
    status: Literal["Accepted", "Rejected", "NotSupported"]


class TriggerMessageResponse(CommandResponse):
    status: Literal["Accepted", "Rejected", "NotImplemented"]


class UnlockConnectorResponse(CommandResponse):
    status: Literal["Unlocked", "UnlockFailed", "NotSupported"]


class UpdateFirmwareResponse(CommandResponse):
    pass


COMMAND_RESPONSES: dict[str, type[CommandResponse]] = {
    "CancelReservation": CancelReservationResponse,
    "ChangeAvailability": ChangeAvailabilityResponse,
    "ChangeConfiguration": ChangeConfigurationResponse,
    "ClearCache": ClearCacheResponse,
    "ClearChargingProfile": ClearChargingProfileResponse,
    "DataTransfer": DataTransferResponse,
    "GetCompositeSchedule": GetCompositeScheduleResponse,
    "GetConfiguration": GetConfigurationResponse,
    "GetDiagnostics": GetDiagnosticsResponse,
    "GetLocalListVersion": GetLocalListVersionResponse,
    "RemoteStartTransaction": RemoteStartTransactionResponse,
    "RemoteStopTransaction": RemoteStopTransactionResponse,
    "ReserveNow": ReserveNowResponse,
    "Reset": ResetResponse,
    "SendLocalList": SendLocalListResponse,
    "SetChargingProfile": SetChargingProfileResponse,
    "TriggerMessage": TriggerMessageResponse,
    "UnlockConnector": UnlockConnectorResponse,
    "UpdateFirmware": UpdateFirmwareResponse,
    "SignedUpdateFirmware": signed_firmware.SignedUpdateFirmwareResponse,
    "GetLog": log_uploads.GetLogResponse,
    **cert16.COMMAND_RESPONSES,
}
assert COMMAND_RESPONSES.keys() == COMMANDS.keys()

_response_decoders = {action: msgspec.json.Decoder(cls) for action, cls in COMMAND_RESPONSES.items()}


def decode_command_result(action: str, payload: bytes | str | msgspec.Raw) -> CommandResponse:
    """Decode a station's CALLRESULT payload for our `action`; raises msgspec.ValidationError (DecodeError)."""
    return _response_decoders[action].decode(payload)


def _opt_us(ts: datetime | None) -> int | None:
    return None if ts is None else to_us(ts)


def _is_secret(key: str) -> bool:
    return key.lower() in SECRET_CONFIGURATION_KEYS


def loggable_result(action: str, payload_json: str) -> str:
    """A station's CALLRESULT payload as the log and the operator may see it.

    The AuthorizationKey is write-only (OCPP 1.6 security whitepaper), yet a station may
    report its value in GetConfiguration: masked here, as actors.ocpp16.secrets masks the
    ChangeConfiguration that sets it. Anything else passes through unchanged.
    """
    if action != "GetConfiguration":
        return payload_json
    try:
        answer = msgspec.json.decode(payload_json)
    except msgspec.DecodeError:
        return payload_json
    keys = answer.get("configurationKey") if isinstance(answer, dict) else None
    masked = False
    for entry in keys if isinstance(keys, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and _is_secret(entry["key"]) \
                and entry.get("value") not in (None, MASK):
            entry["value"] = MASK
            masked = True
    return msgspec.json.encode(answer).decode() if masked else payload_json


# --- how answers change state --------------------------------------------------------------


# ChangeAvailability (5.2)


def apply_change_availability_result(
    state: StationState, request: ChangeAvailabilityRequest, response: ChangeAvailabilityResponse, at_us: int,
) -> None:
    if response.status not in ("Accepted", "Scheduled"):
        return
    # Connector 0 is the whole Charge Point and all its connectors (6.7): it supersedes
    # whatever was asked of single connectors before.
    if request.connectorId == 0:
        state.availability.clear()
    state.availability[request.connectorId] = ConnectorAvailability(
        connector_id=request.connectorId, type=request.type, status=response.status, requested_at_us=at_us,
    )


# ChangeConfiguration (5.3) and GetConfiguration (5.8)


def apply_change_configuration_result(
    state: StationState, request: ChangeConfigurationRequest, response: ChangeConfigurationResponse, at_us: int,
) -> None:
    if response.status not in ("Accepted", "RebootRequired"):
        return
    known = state.configuration.get(request.key.lower())
    state.configuration[request.key.lower()] = ConfigurationValue(
        key=known.key if known else request.key,
        # The AuthorizationKey (security whitepaper, profiles 1-2) is the station's password.
        value=MASK if _is_secret(request.key) else request.value,
        readonly=known.readonly if known else None,
        reboot_required=response.status == "RebootRequired",
        updated_at_us=at_us,
    )


def apply_get_configuration_result(
    state: StationState, request: GetConfigurationRequest, response: GetConfigurationResponse, at_us: int,
) -> None:
    reported = {
        kv.key.lower(): ConfigurationValue(
            key=kv.key,
            value=MASK if _is_secret(kv.key) and kv.value is not None else kv.value,
            readonly=kv.readonly,
            updated_at_us=at_us,
        )
        for kv in response.configurationKey or ()
    }
    unknown = list(response.unknownKey or ())
    if not request.key:
        # No key asked: the station reports every key it has (5.8, 6.23), so the list is complete.
        state.configuration = reported
    else:
        state.configuration.update(reported)
        for key in unknown:
            state.configuration.pop(key.lower(), None)
    state.unknown_configuration_keys = unknown
    state.configuration_read_at_us = at_us


# SendLocalList (5.15) and GetLocalListVersion (5.10)


def apply_send_local_list_result(
    state: StationState, request: SendLocalListRequest, response: SendLocalListResponse, at_us: int,
) -> None:
    if response.status != "Accepted":
        return  # Failed / NotSupported / VersionMismatch: the station's list did not change
    if request.updateType == "Full":
        state.local_list = {}
    for entry in request.localAuthorizationList or ():
        key = entry.idTag.upper()  # IdToken is a CiString: case-insensitive
        info = entry.idTagInfo
        if info is None:
            state.local_list.pop(key, None)  # Differential without idTagInfo deletes (section 7, AuthorizationData)
            continue
        state.local_list[key] = LocalAuthorization(
            id_tag=entry.idTag, status=info.status, expiry_us=_opt_us(info.expiryDate), parent_id_tag=info.parentIdTag,
        )
    state.local_list_version = request.listVersion


def apply_get_local_list_version_result(
    state: StationState, request: GetLocalListVersionRequest, response: GetLocalListVersionResponse, at_us: int,
) -> None:
    # 0: the list is empty; -1: the station does not support a local list (6.28).
    state.station_local_list_version = response.listVersion
    state.station_local_list_version_at_us = at_us


# ReserveNow (5.13) and CancelReservation (5.1)


def apply_reserve_now_result(
    state: StationState, request: ReserveNowRequest, response: ReserveNowResponse, at_us: int,
) -> None:
    if response.status != "Accepted":
        return
    # Expired reservations end on the station by themselves (5.13); forget them here, at a
    # time taken from the log, so replay drops exactly the same ones.
    for rid in [rid for rid, r in state.reservations.items() if not r.active_at(at_us)]:
        del state.reservations[rid]
    # A reserved connector answers Occupied (5.13), so Accepted means the connector held no
    # other reservation; an equal reservationId replaces its reservation.
    for rid in [rid for rid, r in state.reservations.items() if r.connector_id == request.connectorId]:
        del state.reservations[rid]
    state.reservations[request.reservationId] = Reservation(
        reservation_id=request.reservationId,
        connector_id=request.connectorId,
        id_tag=request.idTag,
        parent_id_tag=request.parentIdTag,
        expiry_us=to_us(request.expiryDate),
        reserved_at_us=at_us,
    )


def apply_cancel_reservation_result(
    state: StationState, request: CancelReservationRequest, response: CancelReservationResponse, at_us: int,
) -> None:
    # Accepted: cancelled. Rejected: "Reservation for the identifier has not been found"
    # (section 7, CancelReservationStatus), so the station holds none either way.
    state.reservations.pop(request.reservationId, None)


# SetChargingProfile (5.16) and ClearChargingProfile (5.5)


def charging_profile_record(connector_id: int, profile: ChargingProfile, at_us: int) -> ChargingProfileRecord:
    schedule = profile.chargingSchedule
    return ChargingProfileRecord(
        charging_profile_id=profile.chargingProfileId,
        connector_id=connector_id,
        stack_level=profile.stackLevel,
        purpose=profile.chargingProfilePurpose,
        kind=profile.chargingProfileKind,
        transaction_id=profile.transactionId,
        recurrency_kind=profile.recurrencyKind,
        valid_from_us=_opt_us(profile.validFrom),
        valid_to_us=_opt_us(profile.validTo),
        schedule=ChargingScheduleRecord(
            charging_rate_unit=schedule.chargingRateUnit,
            periods=[
                ChargingSchedulePeriodRecord(start_period_s=p.startPeriod, limit=p.limit, number_phases=p.numberPhases)
                for p in schedule.chargingSchedulePeriod
            ],
            duration_s=schedule.duration,
            start_schedule_us=_opt_us(schedule.startSchedule),
            min_charging_rate=schedule.minChargingRate,
        ),
        set_at_us=at_us,
    )


def store_charging_profile(state: StationState, connector_id: int, profile: ChargingProfile, at_us: int) -> None:
    # 5.16, setting a charging profile: "If a charging profile with the same chargingProfileId,
    # or the same combination of stackLevel / ChargingProfilePurpose, exists on the Charge
    # Point, the new charging profile SHALL replace the existing charging profile". Profiles
    # stack per connector (3.13.2), so the stackLevel / purpose match is on the same connector.
    for pid, existing in list(state.charging_profiles.items()):
        if pid == profile.chargingProfileId or (
            existing.connector_id == connector_id
            and existing.purpose == profile.chargingProfilePurpose
            and existing.stack_level == profile.stackLevel
        ):
            del state.charging_profiles[pid]
    state.charging_profiles[profile.chargingProfileId] = charging_profile_record(connector_id, profile, at_us)


def apply_set_charging_profile_result(
    state: StationState, request: SetChargingProfileRequest, response: SetChargingProfileResponse, at_us: int,
) -> None:
    if response.status != "Accepted":
        return
    store_charging_profile(state, request.connectorId, request.csChargingProfiles, at_us)


# RemoteStartTransaction (5.11)


def apply_remote_start_result(
    state: StationState, request: RemoteStartTransactionRequest, response: RemoteStartTransactionResponse, at_us: int,
) -> None:
    # 5.11: "The Charge Point SHALL use this charging profile for the transaction" it starts.
    # Recorded unbound (no transactionId) on the request's connector (0 when the station picks
    # it); station_side.apply_start binds it to the transaction the StartTransaction opens
    # there, and apply_stop ends it with that transaction (3.13.1).
    if response.status != "Accepted" or request.chargingProfile is None:
        return
    store_charging_profile(state, request.connectorId or 0, request.chargingProfile, at_us)


def clears(request: ClearChargingProfileRequest, profile: ChargingProfileRecord) -> bool:
    """Whether ClearChargingProfile removes this profile (5.5, 6.13): one by id, or all that match every filter given."""
    if request.id is not None:
        return profile.charging_profile_id == request.id
    return (
        (request.connectorId is None or profile.connector_id == request.connectorId)
        and (request.chargingProfilePurpose is None or profile.purpose == request.chargingProfilePurpose)
        and (request.stackLevel is None or profile.stack_level == request.stackLevel)
    )


def apply_clear_charging_profile_result(
    state: StationState, request: ClearChargingProfileRequest, response: ClearChargingProfileResponse, at_us: int,
) -> None:
    # Accepted: cleared. Unknown: "No Charging Profile(s) were found matching the request"
    # (section 7, ClearChargingProfileStatus), so the station holds none of them either way.
    for pid in [pid for pid, p in state.charging_profiles.items() if clears(request, p)]:
        del state.charging_profiles[pid]


# UpdateFirmware (5.19) and GetDiagnostics (5.9)


def apply_update_firmware_result(
    state: StationState, request: UpdateFirmwareRequest, response: UpdateFirmwareResponse, at_us: int,
) -> None:
    # The .conf carries nothing: progress arrives as FirmwareStatusNotification (4.5).
    state.firmware_update = FirmwareUpdate(
        location=request.location,
        retrieve_at_us=to_us(request.retrieveDate),
        retries=request.retries,
        retry_interval_s=request.retryInterval,
        requested_at_us=at_us,
    )


def apply_get_diagnostics_result(
    state: StationState, request: GetDiagnosticsRequest, response: GetDiagnosticsResponse, at_us: int,
) -> None:
    # No fileName: the station has no diagnostics to upload (6.26).
    state.diagnostics_upload = DiagnosticsUpload(
        location=request.location,
        file_name=response.fileName,
        start_us=_opt_us(request.startTime),
        stop_us=_opt_us(request.stopTime),
        retries=request.retries,
        retry_interval_s=request.retryInterval,
        requested_at_us=at_us,
    )


# TriggerMessage (5.17)


def apply_trigger_message_result(
    state: StationState, request: TriggerMessageRequest, response: TriggerMessageResponse, at_us: int,
) -> None:
    # 1.6 section 4.2: while Pending the station may send what the Central System asked for
    # with TriggerMessage; the requestedMessage values are the actions' names. Each Accepted
    # trigger lets one such request through (StationSession.apply consumes it).
    if response.status != "Accepted":
        return
    # ExtendedTriggerMessage (security whitepaper) folds here too, its names mapped to actions.
    state.triggered_messages.append(cert16.TRIGGERED_ACTIONS.get(request.requestedMessage, request.requestedMessage))
    del state.triggered_messages[:-TRIGGERED_MESSAGES_KEPT]


ApplyResult = Callable[[StationState, Any, Any, int], None]

# The actions whose answer changes what the CSMS knows of the station; the others
# (RemoteStopTransaction, Reset, UnlockConnector, ClearCache, DataTransfer,
# GetCompositeSchedule) live on in the event log only; RemoteStartTransaction changes
# state only through the TxProfile it may carry.
COMMAND_RESULTS: dict[str, ApplyResult] = {
    "CancelReservation": apply_cancel_reservation_result,
    "ChangeAvailability": apply_change_availability_result,
    "ChangeConfiguration": apply_change_configuration_result,
    "ClearChargingProfile": apply_clear_charging_profile_result,
    "GetConfiguration": apply_get_configuration_result,
    "GetDiagnostics": apply_get_diagnostics_result,
    "GetLocalListVersion": apply_get_local_list_version_result,
    "RemoteStartTransaction": apply_remote_start_result,
    "ReserveNow": apply_reserve_now_result,
    "SendLocalList": apply_send_local_list_result,
    "SetChargingProfile": apply_set_charging_profile_result,
    "TriggerMessage": apply_trigger_message_result,
    "UpdateFirmware": apply_update_firmware_result,
    "SignedUpdateFirmware": signed_firmware.apply_signed_update_firmware_result,
    "GetLog": log_uploads.apply_get_log_result,
    **cert16.COMMAND_RESULTS,
    "ExtendedTriggerMessage": apply_trigger_message_result,
}


def apply_command_result(state: StationState, action: str, request_json: str, response_json: str, at_us: int) -> bool:
    """Fold the station's CALLRESULT to our CALL into the state; whether anything was applied.

    Never raises: an answer that does not decode for its action (or a logged request that
    no longer does) changes nothing; the raw answer stays in the log and goes to the operator.
    """
    apply = COMMAND_RESULTS.get(action)
    if apply is None:
        return False
    try:
        request = decode_command(action, request_json)
        response = decode_command_result(action, response_json)
    except msgspec.DecodeError:
        return False
    apply(state, request, response, at_us)
    return True
