"""OCPP 1.6J payloads sent by charge stations, as msgspec Structs mirroring the 1.6 JSON schemas.

The `ocpp` library's schemas are the reference (tests check we agree with them); decoding
into these Structs is about 100x cheaper than its jsonschema path (DESIGN.md, pitfalls).
Field names are the wire names, so a Struct encodes back to the exact payload.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

import msgspec

from actors.timestamps import EARLIEST_STATION_TIME, LATEST_STATION_TIME

Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
ConnectorId = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
CiString20 = Annotated[str, msgspec.Meta(max_length=20)]
CiString25 = Annotated[str, msgspec.Meta(max_length=25)]
CiString50 = Annotated[str, msgspec.Meta(max_length=50)]
CiString255 = Annotated[str, msgspec.Meta(max_length=255)]
CiString500 = Annotated[str, msgspec.Meta(max_length=500)]
# anyURI (1.6 sections 6.25 and 6.55; the security whitepaper's string[512] locations): a station
# can fetch nothing from a location without a scheme; the schemas' "format: uri" (where they
# have one) is not enforced by the library's validator.
Uri = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")]


class Payload(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Base of every station payload: the 1.6 schemas set additionalProperties false."""


class BootNotificationRequest(Payload):
    chargePointVendor: CiString20
    chargePointModel: CiString20
    chargePointSerialNumber: CiString25 | None = None
    chargeBoxSerialNumber: CiString25 | None = None
    firmwareVersion: CiString50 | None = None
    iccid: CiString20 | None = None
    imsi: CiString20 | None = None
    meterType: CiString25 | None = None
    meterSerialNumber: CiString25 | None = None


class HeartbeatRequest(Payload):
    pass


ChargePointErrorCode = Literal[
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
    "InternalError", "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure",
    "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure", "ResetFailure",
    "UnderVoltage", "OverVoltage", "WeakSignal",
]
ChargePointStatus = Literal[
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
    "Reserved", "Unavailable", "Faulted",
]


class StatusNotificationRequest(Payload):
    connectorId: ConnectorId
    errorCode: ChargePointErrorCode
    status: ChargePointStatus
    info: CiString50 | None = None
    timestamp: datetime | None = None
    vendorId: CiString255 | None = None
    vendorErrorCode: CiString50 | None = None


class AuthorizeRequest(Payload):
    idTag: CiString20


class StartTransactionRequest(Payload):
    connectorId: ConnectorId
    idTag: CiString20
    meterStart: Int32
    timestamp: datetime
    reservationId: Int32 | None = None


Measurand = Literal[
    "Energy.Active.Export.Register", "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register", "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval",
    "Power.Active.Export", "Power.Active.Import", "Power.Offered", "Power.Reactive.Export",
    "Power.Reactive.Import", "Power.Factor", "Current.Import", "Current.Export",
    "Current.Offered", "Voltage", "Frequency", "Temperature", "SoC", "RPM",
]
# "Hertz": the 1.6 errata sheet (v4.0, 2019-10-23) names it as the unit of the Frequency
# measurand, stations send it, and the ocpp library's MeterValues schema accepts it.
UnitOfMeasure = Literal[
    "Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar", "A", "V", "K",
    "Celcius", "Celsius", "Fahrenheit", "Percent", "Hertz",
]


class SampledValue(Payload):
    value: str
    context: Literal[
        "Interruption.Begin", "Interruption.End", "Sample.Clock", "Sample.Periodic",
        "Transaction.Begin", "Transaction.End", "Trigger", "Other",
    ] | None = None
    format: Literal["Raw", "SignedData"] | None = None
    measurand: Measurand | None = None
    phase: Literal["L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"] | None = None
    location: Literal["Cable", "EV", "Inlet", "Outlet", "Body"] | None = None
    unit: UnitOfMeasure | None = None


class MeterValue(Payload):
    timestamp: datetime
    sampledValue: Annotated[list[SampledValue], msgspec.Meta(min_length=1)]


class MeterValuesRequest(Payload):
    connectorId: ConnectorId
    meterValue: Annotated[list[MeterValue], msgspec.Meta(min_length=1)]
    transactionId: Int32 | None = None


class TransactionDataValue(Payload):
    """A MeterValue inside StopTransaction.transactionData, where the 1.6 StopTransaction.json
    schema sets no minItems on sampledValue: a station sending an empty one must still get its
    StopTransaction answered, or it retries it forever (1.6 section 4.10)."""

    timestamp: datetime
    sampledValue: list[SampledValue]


class StopTransactionRequest(Payload):
    meterStop: Int32
    timestamp: datetime
    transactionId: Int32
    idTag: CiString20 | None = None
    reason: Literal[
        "EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss",
        "Reboot", "Remote", "SoftReset", "UnlockCommand", "DeAuthorized",
    ] | None = None
    transactionData: list[TransactionDataValue] | None = None


class DataTransferRequest(Payload):
    vendorId: CiString255
    messageId: CiString50 | None = None
    data: str | None = None


class DiagnosticsStatusNotificationRequest(Payload):
    status: Literal["Idle", "Uploaded", "UploadFailed", "Uploading"]


class FirmwareStatusNotificationRequest(Payload):
    status: Literal[
        "Downloaded", "DownloadFailed", "Downloading", "Idle", "InstallationFailed",
        "Installing", "Installed",
    ]


# --- the security whitepaper's (edition 3) station messages; answered in security_events.py,
# signed_firmware.py and log_uploads.py ---


class SecurityEventNotificationRequest(Payload):
    # Free text of at most 50 characters; the whitepaper's appendix 1 lists the defined types.
    type: Annotated[str, msgspec.Meta(max_length=50)]
    timestamp: datetime
    techInfo: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class SignedFirmwareStatusNotificationRequest(Payload):
    status: Literal[
        "Downloaded", "DownloadFailed", "Downloading", "DownloadScheduled", "DownloadPaused", "Idle",
        "InstallationFailed", "Installing", "Installed", "InstallRebooting", "InstallScheduled",
        "InstallVerificationFailed", "InvalidSignature", "SignatureVerified",
    ]
    # The SignedUpdateFirmware's requestId; left out only with Idle (nothing ongoing).
    requestId: Int32 | None = None


class LogStatusNotificationRequest(Payload):
    status: Literal[
        "BadMessage", "Idle", "NotSupportedOperation", "PermissionDenied", "Uploaded", "UploadFailure",
        "Uploading",
    ]
    # The GetLog's requestId; left out only with Idle (no upload ongoing).
    requestId: Int32 | None = None


# Every action a 1.6 station may initiate (OCPP 1.6 section 4), with its request type.
STATION_REQUESTS: dict[str, type[Payload]] = {
    "BootNotification": BootNotificationRequest,
    "Heartbeat": HeartbeatRequest,
    "StatusNotification": StatusNotificationRequest,
    "Authorize": AuthorizeRequest,
    "StartTransaction": StartTransactionRequest,
    "MeterValues": MeterValuesRequest,
    "StopTransaction": StopTransactionRequest,
    "DataTransfer": DataTransferRequest,
    "DiagnosticsStatusNotification": DiagnosticsStatusNotificationRequest,
    "FirmwareStatusNotification": FirmwareStatusNotificationRequest,
    # The security whitepaper (edition 3).
    "SecurityEventNotification": SecurityEventNotificationRequest,
    "SignedFirmwareStatusNotification": SignedFirmwareStatusNotificationRequest,
    "LogStatusNotification": LogStatusNotificationRequest,
}

_decoders = {action: msgspec.json.Decoder(cls) for action, cls in STATION_REQUESTS.items()}


def decode_request(action: str, payload: bytes | msgspec.Raw) -> Payload:
    """Decode and validate a station CALL payload; raises msgspec.ValidationError."""
    request = _decoders[action].decode(payload)
    _check_instants(request)
    return request


def _check_instants(request: Payload) -> None:
    """Refuse a station time outside EARLIEST/LATEST_STATION_TIME: every view and report
    converts it to a UTC date, and one such value, once logged, broke the station's views
    (GET /api/stations/{id}) for good (found by tests/test_fuzz_station.py)."""
    stamps = [("timestamp", getattr(request, "timestamp", None))]
    for field in ("meterValue", "transactionData"):
        for k, value in enumerate(getattr(request, field, None) or ()):
            stamps.append((f"{field}[{k}].timestamp", value.timestamp))
    for path, stamp in stamps:
        if stamp is None:
            continue
        aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)  # naive: UTC (to_us)
        if not EARLIEST_STATION_TIME <= aware < LATEST_STATION_TIME:
            raise msgspec.ValidationError(f"timestamp outside years 1900-8999 - at `$.{path}`")
