"""OCPP 2.0.1 staging: bronze rows of 2.0.1 stations (`ocpp_version` "2.0.1") -> the staged records of analytics.silver.records.

The only module of silver that knows 2.0.1 payloads (as staging_16 is for 1.6). Interpreted so
far: StatusNotification (per EVSE and connector, so a 2.0.1 Faulted counts in the fault
report), BootNotification (stations, connectivity) and Authorize (authorizations).
TransactionEvent (transactions with their seqNo gaps, meter values) is not staged yet: its
rows stay in bronze, neither interpreted nor quarantined (issue 11, what is left).
"""

from __future__ import annotations

import msgspec
import polars as pl

from actors.ocpp201 import messages as m
from actors.timestamps import to_us
from analytics.silver.bronze import BronzeRow
from analytics.silver.frames import short
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import Authorized, Booted, RemoteStartSent, Staged, StatusReported, TransactionStarted

VERSION = "2.0.1"
INTERPRETED = ("StatusNotification", "BootNotification", "Authorize")
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


_authorize_result_decoder = msgspec.json.Decoder(_AuthorizeResult)
_boot_result_decoder = msgspec.json.Decoder(_BootResult)


def decode(row: BronzeRow, quarantine: Quarantine) -> m.Payload | None:
    try:
        return m.decode_request(row["action"], (row["payload"] or "").encode())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        quarantine.add(row, f"{row['action']} payload does not match the OCPP 2.0.1 schema: {short(exc)}")
        return None


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


def stage_start(row: BronzeRow, quarantine: Quarantine) -> TransactionStarted | None:
    return None  # TransactionEvent is not staged yet (module docstring)


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
    return []  # the CSMS sends no RequestStartTransaction to 2.0.1 stations yet (issue 12)
