"""OCPP 1.6 staging: bronze rows of 1.6 stations (`ocpp_version` "1.6") -> the staged records of analytics.silver.records.

The only module of silver that knows 1.6 payloads: a new version adds a module like this
one (and a line in analytics.silver.staging.STAGING_BY_VERSION), not branches in the tables.
"""

from __future__ import annotations

import msgspec
import polars as pl

from actors.ocpp16 import messages as m
from actors.security_events import is_critical
from actors.timestamps import to_us
from analytics.silver.bronze import BronzeRow, sent_commands
from analytics.silver.frames import short
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import (
    Authorized, Booted, RemoteStartSent, SampledValues, SecurityEventReported, Staged, StatusReported,
    TransactionEventSeen, TransactionStarted, TransactionStopped,
)

VERSION = "1.6"
# Actions whose payload silver interprets; other accepted CALLs (DataTransfer, firmware/
# diagnostics status) are in bronze and out of silver's scope, not quarantined.
INTERPRETED = ("StatusNotification", "StartTransaction", "StopTransaction", "MeterValues", "BootNotification",
               "Authorize")
START = "StartTransaction"
STOP = "StopTransaction"
BOOT = "BootNotification"
REMOTE_START = "RemoteStartTransaction"
# Actions whose sampled values carry their own timestamps (possibly of another day than the message).
SAMPLED = ("MeterValues", "StopTransaction")
# The security whitepaper's (edition 3) notification of a security event (use case A04).
SECURITY_EVENT = "SecurityEventNotification"


class _IdTagInfo(msgspec.Struct):
    status: str


class _StartResult(msgspec.Struct):
    transactionId: int
    idTagInfo: _IdTagInfo | None = None


class _AuthorizeResult(msgspec.Struct):
    idTagInfo: _IdTagInfo


class _RemoteStart(msgspec.Struct):
    # Lenient on purpose: the CSMS validated what it sent; silver only needs these two.
    idTag: str
    connectorId: int | None = None


class _RemoteStartResult(msgspec.Struct):
    status: str


class _BootResult(msgspec.Struct):
    status: str = ""


_start_result_decoder = msgspec.json.Decoder(_StartResult)
_authorize_result_decoder = msgspec.json.Decoder(_AuthorizeResult)
_remote_start_decoder = msgspec.json.Decoder(_RemoteStart)
_remote_start_result_decoder = msgspec.json.Decoder(_RemoteStartResult)
_boot_result_decoder = msgspec.json.Decoder(_BootResult)


def decode(row: BronzeRow, quarantine: Quarantine) -> m.Payload | None:
    return quarantine.decoded(row, m.decode_request, "1.6")


def stage_call(row: BronzeRow, staged: Staged, quarantine: Quarantine) -> None:
    """Add one accepted CALL of an interpreted action to `staged` (or quarantine it with the reason)."""
    req = decode(row, quarantine)
    if req is None:
        return
    if isinstance(req, m.StatusNotificationRequest):
        staged.statuses.append(StatusReported(
            row, req.connectorId, to_us(req.timestamp) if req.timestamp is not None else None, req.status,
            req.errorCode, req.info, req.vendorId, req.vendorErrorCode))
    elif isinstance(req, m.MeterValuesRequest):
        _add_samples(staged.samples, row, req.connectorId, req.transactionId, req.meterValue)
    elif isinstance(req, m.StopTransactionRequest):
        # OCPP 1.6 StopTransaction.req: a stop without `reason` was Local.
        staged.stops.append(TransactionStopped(row, req.transactionId, to_us(req.timestamp), req.meterStop,
                                               req.reason or "Local"))
        if req.transactionData:
            _add_samples(staged.samples, row, None, req.transactionId, req.transactionData)
    elif isinstance(req, m.BootNotificationRequest):
        staged.boots.append(_booted(row, req))
    elif isinstance(req, m.AuthorizeRequest):
        if row["answer_type"] != "CALLRESULT":
            return  # its answer is not in bronze: no outcome to record
        try:
            status = _authorize_result_decoder.decode(row["answer"]).idTagInfo.status
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"Authorize answer has no idTagInfo: {short(exc)}")
            return
        staged.authorizes.append(Authorized(row, req.idTag, status))
    # StartTransaction: staged from the lookback by stage_start (decoded here for quarantine only).


def _add_samples(samples: SampledValues, row: BronzeRow, connector: int | None, transaction_id: int | None,
                 values: list) -> None:
    msg = samples.add_message(row, connector, transaction_id)
    col = samples.samples
    for value in values:
        sampled_us = to_us(value.timestamp)
        for sv in value.sampledValue:
            col["msg"].append(msg)
            col["sampled_at"].append(sampled_us)
            col["value"].append(sv.value)
            col["context"].append(sv.context)
            col["format"].append(sv.format)
            col["measurand"].append(sv.measurand)
            col["phase"].append(sv.phase)
            col["location"].append(sv.location)
            col["unit_sent"].append(sv.unit)
            col["multiplier"].append(None)  # 1.6 names its unit (kWh), it has no multiplier
            col["signed"].append(None)  # 1.6 signs in the value itself (format SignedData)


def stage_start(row: BronzeRow, quarantine: Quarantine) -> TransactionStarted | None:
    """A StartTransaction CALL (with its answer) the CSMS answered with a transaction id, or None."""
    req = decode(row, quarantine)
    if req is None:
        return None
    try:
        result = _start_result_decoder.decode(row["answer"])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        quarantine.add(row, f"StartTransaction answer has no transactionId: {short(exc)}")
        return None
    return TransactionStarted(row, req.connectorId, req.idTag, to_us(req.timestamp), req.meterStart,
                              result.transactionId, result.idTagInfo.status if result.idTagInfo else None)


def stage_security_event(row: BronzeRow, quarantine: Quarantine) -> SecurityEventReported | None:
    """The security event of a SecurityEventNotification row, or None (quarantined) if unreadable."""
    req = decode(row, quarantine)
    if not isinstance(req, m.SecurityEventNotificationRequest):
        return None
    return SecurityEventReported(row, req.type, req.techInfo, to_us(req.timestamp), is_critical(req.type))


def stage_event(row: BronzeRow) -> TransactionEventSeen | None:
    return None  # 1.6 does not number a transaction's messages


def _booted(row: BronzeRow, req: m.BootNotificationRequest) -> Booted:
    try:
        status = _boot_result_decoder.decode(row.get("answer") or "").status
    except (msgspec.ValidationError, msgspec.DecodeError):
        status = ""
    return Booted(row, req.chargePointVendor, req.chargePointModel, req.firmwareVersion, status)


def boot(row: BronzeRow) -> Booted | None:
    """The BootNotification of an inbound bronze row, None if unreadable (quarantined by the day's curation)."""
    try:
        req = m.decode_request(BOOT, (row["payload"] or "").encode())
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return _booted(row, req)


def remote_starts(frame: pl.DataFrame, d: int, quarantine: Quarantine) -> list[RemoteStartSent]:
    """The RemoteStartTransactions the CSMS sent on day `d`, each with the station's first answer."""
    found = []
    for row, reply in sent_commands(frame, REMOTE_START, d):
        try:
            req = _remote_start_decoder.decode(row["payload"] or "")
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"RemoteStartTransaction request unreadable: {short(exc)}")
            continue
        status = None  # no answer, or a CALLERROR: the station did not say Accepted or Rejected
        if reply is not None and reply["message_type"] == "CALLRESULT":
            try:
                status = _remote_start_result_decoder.decode(reply["payload"] or "").status
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(reply, f"RemoteStartTransaction answer has no status: {short(exc)}")
        found.append(RemoteStartSent(row, req.idTag, req.connectorId, status))
    return found
