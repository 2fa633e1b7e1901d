"""OCPP 1.6 secure firmware update (security whitepaper edition 3, use case L01): SignedUpdateFirmware and SignedFirmwareStatusNotification.

The CSMS sends SignedUpdateFirmware.req (where to fetch the firmware, when, the signing
certificate and the signature the station checks it with, a requestId); the station answers
whether it takes it, then reports every step in a SignedFirmwareStatusNotification carrying that
requestId. Both fold into `StationState.signed_firmware_updates`, one entry per requestId, so an
operator sees each update's answer and progress. The location is logged and kept with its
credentials masked (actors/ocpp16/secrets.py).

An InvalidSignature (or InvalidCertificate) status is the station's to follow with a
SecurityEventNotification (InvalidFirmwareSignature, InvalidFirmwareSigningCertificate:
whitepaper L01, "Invalid Signature" / "Invalid Certificate" states; OCTT TC_081_CS): the spec
asks no security event of the CSMS, so none is made here; the station's lands in its list.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from actors.ocpp16 import messages as m
from actors.ocpp16.answers import Answer
from actors.ocpp16.messages import Int32, Payload, Uri
from actors.protocol import Context
from actors.station_state import REQUESTS_KEPT, SignedFirmwareUpdate, StationState, newest_entry
from actors.timestamps import to_us

# --- the command (whitepaper sections 5.21, 5.22: SignedUpdateFirmware.req / .conf) ---------------


class Firmware(Payload):
    """FirmwareType: where and when to fetch the firmware, and what proves it genuine."""

    location: Annotated[Uri, msgspec.Meta(max_length=512)]
    retrieveDateTime: datetime
    # PEM of the certificate the firmware was signed with, and the Base64 signature.
    signingCertificate: Annotated[str, msgspec.Meta(max_length=5500)]
    signature: Annotated[str, msgspec.Meta(max_length=800)]
    installDateTime: datetime | None = None


class SignedUpdateFirmwareRequest(Payload):
    requestId: Int32
    firmware: Firmware
    retries: Int32 | None = None
    retryInterval: Int32 | None = None


class SignedUpdateFirmwareResponse(msgspec.Struct, omit_defaults=True):
    # Lenient like every answer to our CALLs (csms_side.CommandResponse): unknown fields ignored.
    status: Literal["Accepted", "Rejected", "AcceptedCanceled", "InvalidCertificate", "RevokedCertificate"]


def _update(state: StationState, request_id: int) -> SignedFirmwareUpdate:
    return newest_entry(state.signed_firmware_updates, request_id, lambda: SignedFirmwareUpdate(request_id=request_id), REQUESTS_KEPT)


def apply_signed_update_firmware_result(state: StationState, request: SignedUpdateFirmwareRequest,
                                        response: SignedUpdateFirmwareResponse, at_us: int) -> None:
    # Every answer is kept (a Rejected or InvalidCertificate is what the operator must see);
    # `request` is the logged one, its location already masked.
    firmware = request.firmware
    update = _update(state, request.requestId)
    update.location = firmware.location
    update.retrieve_at_us = to_us(firmware.retrieveDateTime)
    update.install_at_us = to_us(firmware.installDateTime) if firmware.installDateTime else None
    update.retries, update.retry_interval_s = request.retries, request.retryInterval
    update.signing_certificate_sha256 = hashlib.sha256(firmware.signingCertificate.encode()).hexdigest()
    update.answer = response.status
    update.requested_at_us = at_us


# --- the station's progress (whitepaper sections 5.19, 5.20: SignedFirmwareStatusNotification) ----


class SignedFirmwareStatusNotificationResponse(Answer):
    pass


def answer_signed_firmware_status(state: StationState, req: m.SignedFirmwareStatusNotificationRequest,
                                  ctx: Context) -> SignedFirmwareStatusNotificationResponse:
    return SignedFirmwareStatusNotificationResponse()


def apply_signed_firmware_status(state: StationState, req: m.SignedFirmwareStatusNotificationRequest,
                                 res: SignedFirmwareStatusNotificationResponse, at_us: int) -> None:
    # "requestId: ... mandatory, unless the message was triggered by an ExtendedTriggerMessage.req
    # and there is no firmware update ongoing" (Idle): such a status belongs to no request.
    state.signed_firmware_status = req.status
    if req.requestId is not None:
        _update(state, req.requestId).progress.report(req.status, at_us)
