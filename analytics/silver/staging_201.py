"""OCPP 2.0.1 staging: bronze rows of 2.0.1 stations (`ocpp_version` "2.0.1") -> the staged records of analytics.silver.records.

The only module of silver that knows 2.0.1 payloads (as staging_16 is for 1.6). Interpreted:
StatusNotification (per EVSE and connector, so a 2.0.1 Faulted counts in the fault report),
BootNotification (stations, connectivity), Authorize and the CSMS's RequestStartTransaction
with its answer (authorizations), MeterValues,
TransactionEvent (Started is a transaction's start, Ended its stop, every event's seqNo is
counted so that the transaction shows the numbers that never arrived (seq gaps), and the
sampled values of both messages, J01 and J02, go to meter_values with their EVSE) and
NotifyEvent (component_events: how 2.0.1 reports errors, N07).
"""

from __future__ import annotations

import msgspec
import polars as pl

from actors.ocpp201 import messages as m
# The live fold's reading of the energy register (units, multipliers) and of an event, so silver
# and the API agree.
from actors.ocpp201.station_side import component_event, register_readings
from actors.security_events import is_critical
from actors.timestamps import to_us
from analytics.silver.bronze import BronzeRow, sent_commands
from analytics.silver.frames import short
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import (
    Authorized, Booted, ComponentEventReported, RemoteStartSent, SampledValues, SecurityEventReported, Staged,
    StatusReported, TransactionEventSeen, TransactionStarted, TransactionStopped,
)

VERSION = "2.0.1"
INTERPRETED = ("StatusNotification", "BootNotification", "Authorize", "TransactionEvent", "MeterValues",
               "NotifyEvent")
# A transaction starts and ends with TransactionEvent (Started / Ended, Part 2 E01-E15).
START = "TransactionEvent"
STOP = "TransactionEvent"
BOOT = "BootNotification"
REMOTE_START = "RequestStartTransaction"
# Meter values outside a transaction (J01) and a transaction's own (J02: in its events).
SAMPLED = ("MeterValues", "TransactionEvent")
# A security event (Part 2 use case A04).
SECURITY_EVENT = "SecurityEventNotification"
# 2.0.1 StatusNotification has no error code (G01; errors arrive as NotifyEvent, N07): the
# contract's error_code column is not nullable, so it says so.
NO_ERROR_CODE = "NotReported"


class _IdTokenInfo(msgspec.Struct):
    status: str


class _AuthorizeResult(msgspec.Struct):
    idTokenInfo: _IdTokenInfo


class _BootResult(msgspec.Struct):
    status: str = ""


class _RequestStartResult(msgspec.Struct):
    """Lenient: the status is all silver reads of the answer."""

    status: str


class _TransactionEventResult(msgspec.Struct):
    idTokenInfo: _IdTokenInfo | None = None


class _Numbered(msgspec.Struct):
    """What the seq gaps need of a TransactionEvent (lenient: the CSMS validated it when it answered)."""

    seqNo: int
    transactionInfo: "_TransactionInfo"


class _TransactionInfo(msgspec.Struct):
    transactionId: str


_authorize_result_decoder = msgspec.json.Decoder(_AuthorizeResult)
_transaction_event_result_decoder = msgspec.json.Decoder(_TransactionEventResult)
_numbered_decoder = msgspec.json.Decoder(_Numbered)
_boot_result_decoder = msgspec.json.Decoder(_BootResult)
_signed_encoder = msgspec.json.Encoder()
_request_start_result_decoder = msgspec.json.Decoder(_RequestStartResult)


def decode(row: BronzeRow, quarantine: Quarantine) -> m.Payload | None:
    return quarantine.decoded(row, m.decode_request, "2.0.1")


def stage_call(row: BronzeRow, staged: Staged, quarantine: Quarantine) -> None:
    """Add one accepted CALL of an interpreted action to `staged` (or quarantine it with the reason)."""
    req = decode(row, quarantine)
    if req is None:
        return
    if isinstance(req, m.StatusNotificationRequest):
        staged.statuses.append(StatusReported(
            row, req.connectorId, to_us(req.timestamp), req.connectorStatus, NO_ERROR_CODE, None, None, None,
            evse_id=req.evseId))
    elif isinstance(req, m.BootNotificationRequest):
        staged.boots.append(_booted(row, req))
    elif isinstance(req, m.MeterValuesRequest):
        # J01: a meter per EVSE (0: the station's main meter); the connector is not named.
        _add_samples(staged.samples, row, req.evseId, 0, None, req.meterValue)
    elif isinstance(req, m.AuthorizeRequest):
        if row["answer_type"] != "CALLRESULT":
            return  # its answer is not in bronze: no outcome to record
        try:
            status = _authorize_result_decoder.decode(row["answer"]).idTokenInfo.status
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"Authorize answer has no idTokenInfo: {short(exc)}")
            return
        staged.authorizes.append(Authorized(row, req.idToken.idToken, status))
    elif isinstance(req, m.TransactionEventRequest):
        _stage_transaction_event(row, req, staged, quarantine)
    elif isinstance(req, m.NotifyEventRequest):
        generated = to_us(req.generatedAt)
        staged.component_events.extend(ComponentEventReported(row, generated, component_event(data))
                                       for data in req.eventData)


def _stage_transaction_event(row: BronzeRow, req: m.TransactionEventRequest, staged: Staged,
                             quarantine: Quarantine) -> None:
    evse = req.evse
    if req.eventType == "Updated" and req.idToken is not None and row["answer_type"] == "CALLRESULT":
        # E02 (cable plugged in first), E05 (the token arrives in an Updated): the CSMS answered its
        # idTokenInfo, an authorization as an Authorize's is. A Started's is the start's row
        # (stage_start); an Ended's token stops the transaction (E07), it starts nothing.
        try:
            info = _transaction_event_result_decoder.decode(row["answer"] or "{}").idTokenInfo
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"TransactionEvent answer unreadable: {short(exc)}")
            info = None
        if info is not None:
            staged.authorizes.append(Authorized(
                row, req.idToken.idToken, info.status, event_us=to_us(req.timestamp),
                connector_id=evse.connectorId if evse else None, transaction_id=req.transactionInfo.transactionId))
    if req.meterValue:
        # The EVSE is named once, in the first event after the EV connected (TransactionEventRequest
        # evse): where an event does not name it, the transaction's start does.
        _add_samples(staged.samples, row, evse.id if evse else None, evse.connectorId if evse else None,
                     req.transactionInfo.transactionId, req.meterValue)
    if req.eventType == "Ended":
        readings = register_readings(req.meterValue or [])
        # stoppedReason may be omitted when it is Local (TransactionType).
        staged.stops.append(TransactionStopped(
            row, req.transactionInfo.transactionId, to_us(req.timestamp),
            readings.end if readings.end is not None else readings.last,
            req.transactionInfo.stoppedReason or "Local", evse_id=evse.id if evse else None))


def _as_sent(value: float) -> str:
    """A sampled value's number as text (raw_value): 2.0.1 sends a JSON number, decoded to a float."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _add_samples(samples: SampledValues, row: BronzeRow, evse: int | None, connector: int | None,
                 transaction_id: str | None, values: list[m.MeterValueType]) -> None:
    msg = samples.add_message(row, connector, transaction_id, evse)
    col = samples.samples
    for value in values:
        sampled_us = to_us(value.timestamp)
        for sv in value.sampledValue:
            unit = sv.unitOfMeasure
            col["msg"].append(msg)
            col["sampled_at"].append(sampled_us)
            col["value"].append(_as_sent(sv.value))
            col["context"].append(sv.context)
            col["format"].append(None)  # 2.0.1 signs beside the value (signedMeterValue), never in it
            col["measurand"].append(sv.measurand)
            col["phase"].append(sv.phase)
            col["location"].append(sv.location)
            # UnitOfMeasureType: unit default "Wh", multiplier default 0 (a power of ten).
            col["unit_sent"].append(unit.unit if unit else None)
            col["multiplier"].append(unit.multiplier if unit else None)
            col["signed"].append(_signed_encoder.encode(sv.signedMeterValue).decode()
                                 if sv.signedMeterValue is not None else None)


def stage_start(row: BronzeRow, quarantine: Quarantine) -> TransactionStarted | None:
    """A TransactionEvent Started the CSMS answered, or None (any other event, or unreadable)."""
    if '"Started"' not in (row["payload"] or ""):
        return None  # cheap test first: most of a transaction's events are Updated
    req = decode(row, quarantine)
    if not isinstance(req, m.TransactionEventRequest) or req.eventType != "Started":
        return None
    try:
        info = _transaction_event_result_decoder.decode(row["answer"] or "{}").idTokenInfo
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        quarantine.add(row, f"TransactionEvent answer unreadable: {short(exc)}")
        return None
    readings = register_readings(req.meterValue or [])
    evse = req.evse
    return TransactionStarted(
        row, evse.connectorId if evse and evse.connectorId is not None else 0,
        req.idToken.idToken if req.idToken else None, to_us(req.timestamp),
        readings.begin if readings.begin is not None else readings.first,
        req.transactionInfo.transactionId, info.status if info else None, evse_id=evse.id if evse else None)


def stage_security_event(row: BronzeRow, quarantine: Quarantine) -> SecurityEventReported | None:
    """The security event of a SecurityEventNotification row, or None (quarantined) if unreadable."""
    req = decode(row, quarantine)
    if not isinstance(req, m.SecurityEventNotificationRequest):
        return None
    return SecurityEventReported(row, req.type, req.techInfo, to_us(req.timestamp), is_critical(req.type))


def stage_event(row: BronzeRow) -> TransactionEventSeen | None:
    """The seqNo of a TransactionEvent (Part 2 E: from 0, one up per event of the transaction)."""
    try:
        numbered = _numbered_decoder.decode(row["payload"] or "")
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None  # the day's curation quarantines what does not decode
    return TransactionEventSeen(row["station_id"], numbered.transactionInfo.transactionId, numbered.seqNo)


def _booted(row: BronzeRow, req: m.BootNotificationRequest) -> Booted:
    try:
        status = _boot_result_decoder.decode(row.get("answer") or "").status
    except (msgspec.ValidationError, msgspec.DecodeError):
        status = ""
    station = req.chargingStation
    return Booted(row, station.vendorName, station.model, station.firmwareVersion, status)


def boot(row: BronzeRow) -> Booted | None:
    """The BootNotification of an inbound bronze row, None if unreadable (quarantined by the day's curation)."""
    try:
        req = m.decode_request(BOOT, (row["payload"] or "").encode())
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return _booted(row, req)


def remote_starts(frame: pl.DataFrame, d: int, quarantine: Quarantine) -> list[RemoteStartSent]:
    """The RequestStartTransactions the CSMS sent on day `d` (F01, F02), each with the station's
    first answer. They name an EVSE, not a connector: connector_id stays unknown (None)."""
    found = []
    for row, reply in sent_commands(frame, REMOTE_START, d):
        try:
            req = m.decode_request(REMOTE_START, (row["payload"] or "").encode())
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"RequestStartTransaction request unreadable: {short(exc)}")
            continue
        status = None  # no answer, or a CALLERROR: the station did not say Accepted or Rejected
        if reply is not None and reply["message_type"] == "CALLRESULT":
            try:
                status = _request_start_result_decoder.decode(reply["payload"] or "").status
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(reply, f"RequestStartTransaction answer has no status: {short(exc)}")
        found.append(RemoteStartSent(row, req.idToken.idToken, None, status))
    return found
