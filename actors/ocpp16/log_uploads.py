"""OCPP 1.6 log uploads (security whitepaper edition 3, use case N01): GetLog and LogStatusNotification.

The CSMS asks for the security log or the diagnostics log with GetLog.req (where to upload it,
which period, a requestId); the station answers whether it will and the file name, then reports
the upload in LogStatusNotifications carrying that requestId. Both fold into
`StationState.log_uploads`, one entry per requestId. The upload location is logged and kept with
its credentials masked (actors/ocpp16/secrets.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from actors.ocpp16 import messages as m
from actors.ocpp16.answers import Answer
from actors.ocpp16.messages import Int32, Payload, Uri
from actors.protocol import Context
from actors.station_state import REQUESTS_KEPT, LogUpload, StationState, newest_entry
from actors.timestamps import to_us

# --- the command (whitepaper sections 5.9, 5.10: GetLog.req / .conf) ------------------------------


class LogParameters(Payload):
    """LogParametersType: where to upload, and the period the log should cover."""

    remoteLocation: Annotated[Uri, msgspec.Meta(max_length=512)]
    oldestTimestamp: datetime | None = None
    latestTimestamp: datetime | None = None


class GetLogRequest(Payload):
    log: LogParameters
    logType: Literal["DiagnosticsLog", "SecurityLog"]
    requestId: Int32
    retries: Int32 | None = None
    retryInterval: Int32 | None = None


class GetLogResponse(msgspec.Struct, omit_defaults=True):
    # Lenient like every answer to our CALLs (csms_side.CommandResponse): no length limits.
    status: Literal["Accepted", "Rejected", "AcceptedCanceled"]
    # The file the station will upload; none when it has no log.
    filename: str | None = None


def _upload(state: StationState, request_id: int) -> LogUpload:
    return newest_entry(state.log_uploads, request_id, lambda: LogUpload(request_id=request_id), REQUESTS_KEPT)


def _opt_us(ts: datetime | None) -> int | None:
    return None if ts is None else to_us(ts)


def apply_get_log_result(state: StationState, request: GetLogRequest, response: GetLogResponse,
                         at_us: int) -> None:
    # Every answer is kept, Rejected too; `request` is the logged one, its location masked.
    upload = _upload(state, request.requestId)
    upload.log_type = request.logType
    upload.remote_location = request.log.remoteLocation
    upload.oldest_us, upload.latest_us = _opt_us(request.log.oldestTimestamp), _opt_us(request.log.latestTimestamp)
    upload.retries, upload.retry_interval_s = request.retries, request.retryInterval
    upload.answer, upload.file_name = response.status, response.filename
    upload.requested_at_us = at_us


# --- the station's progress (whitepaper sections 5.13, 5.14: LogStatusNotification) ---------------


class LogStatusNotificationResponse(Answer):
    pass


def answer_log_status(state: StationState, req: m.LogStatusNotificationRequest,
                      ctx: Context) -> LogStatusNotificationResponse:
    return LogStatusNotificationResponse()


def apply_log_status(state: StationState, req: m.LogStatusNotificationRequest,
                     res: LogStatusNotificationResponse, at_us: int) -> None:
    # "requestId: ... mandatory, unless the message was triggered by an ExtendedTriggerMessage.req
    # and there is no log upload ongoing" (Idle): such a status belongs to no request.
    state.log_status = req.status
    if req.requestId is not None:
        _upload(state, req.requestId).progress.report(req.status, at_us)
