"""OCPP 2.0.1 staging: bronze rows of 2.0.1 stations (`ocpp_version` "2.0.1") -> the staged records of analytics.silver.records.

The only module of silver that knows 2.0.1 payloads (as staging_16 is for 1.6). Interpreted:
StatusNotification (per EVSE and connector, so a 2.0.1 Faulted counts in the fault report),
BootNotification (stations, connectivity), Authorize and the CSMS's RequestStartTransaction
with its answer (authorizations) and TransactionEvent:
Started is a transaction's start, Ended its stop, and every event's seqNo is counted so that
the transaction shows the numbers that never arrived (seq gaps). Not yet staged: the sampled
values of 2.0.1 (meter_values; unitOfMeasure with multipliers) and NotifyEvent.
"""

from __future__ import annotations

import msgspec
import polars as pl

from actors.ocpp201 import messages as m
# The live fold's reading of the energy register (units, multipliers), so silver and the API agree.
from actors.ocpp201.station_side import register_readings
from actors.timestamps import to_us
from analytics.silver.bronze import BronzeRow, sent_commands
from analytics.silver.frames import short
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import (
    Authorized, Booted, RemoteStartSent, Staged, StatusReported, TransactionEventSeen, TransactionStarted,
    TransactionStopped,
)

VERSION = "2.0.1"
INTERPRETED = ("StatusNotification", "BootNotification", "Authorize", "TransactionEvent")
# A transaction starts and ends with TransactionEvent (Started / Ended, Part 2 E01-E15).
START = "TransactionEvent"
STOP = "TransactionEvent"
BOOT = "BootNotification"
REMOTE_START = "RequestStartTransaction"
SAMPLED: tuple[str, ...] = ()
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
    elif isinstance(req, m.AuthorizeRequest):
        if row["answer_type"] != "CALLRESULT":
            return  # its answer is not in bronze: no outcome to record
        try:
            status = _authorize_result_decoder.decode(row["answer"]).idTokenInfo.status
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"Authorize answer has no idTokenInfo: {short(exc)}")
            return
        staged.authorizes.append(Authorized(row, req.idToken.idToken, status))
    elif isinstance(req, m.TransactionEventRequest) and req.eventType == "Ended":
        readings = register_readings(req.meterValue or [])
        evse = req.evse
        # stoppedReason may be omitted when it is Local (TransactionType).
        staged.stops.append(TransactionStopped(
            row, req.transactionInfo.transactionId, to_us(req.timestamp),
            readings.end if readings.end is not None else readings.last,
            req.transactionInfo.stoppedReason or "Local", evse_id=evse.id if evse else None))


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
