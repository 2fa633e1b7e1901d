"""OCPP 2.0.1 firmware and log commands (Part 2 L01-L04, N01): their rules, their secrets, and the progress their requestId reports.

UpdateFirmware (L01 secure update, L02), PublishFirmware / UnpublishFirmware to a local
controller (L03, L04) and GetLog (N01). Each request carries a requestId; the station's
FirmwareStatusNotification, PublishFirmwareStatusNotification and LogStatusNotification name
it, so the last request of each kind shows its answer and then its progress. Locations often
carry credentials (`ftp://user:password@host/...`, presigned URLs): the log, the lake and the
API keep them masked (actors/command_urls.py). Requirement ids are OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from actors.command_urls import is_uri, masked_url
from actors.ocpp201 import messages as m
from actors.station_state import FirmwarePublication, FirmwareUpdate201, LogUpload201, StationState
from actors.timestamps import to_us

# PublishFirmwareRequest.checksum: "The MD5 checksum over the entire firmware file as a
# hexadecimal string of length 32".
_MD5_HEX = re.compile(r"[0-9A-Fa-f]{32}")
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def _us(ts: datetime | None) -> int | None:
    return None if ts is None else to_us(ts)


def _location(value: str, field: str, use_case: str) -> None:
    if not is_uri(value):
        raise ValueError(f"{field} must be a URI the station can fetch, with a scheme (OCPP 2.0.1 {use_case})")


# --- rules the schema leaves out ----------------------------------------------------------------


def check_update_firmware(req: m.UpdateFirmwareRequest) -> None:
    firmware = req.firmware
    _location(firmware.location, "firmware.location", "L01, FirmwareType")
    # L01 (secure update): "For security purposes the CSMS SHALL include the Firmware Signing
    # certificate in the UpdateFirmwareRequest" (L01.FR.11), and the signature the station
    # verifies with it; L02 (non-secure) carries neither. One without the other verifies nothing.
    certificate, signature = firmware.signingCertificate, firmware.signature
    if (certificate is None) != (signature is None):
        raise ValueError("a secure firmware update carries both firmware.signingCertificate and firmware.signature "
                         "(OCPP 2.0.1 L01.FR.11); a non-secure one (L02) neither")
    if certificate is not None and _PEM_CERTIFICATE not in certificate:
        raise ValueError("firmware.signingCertificate is a PEM encoded X.509 certificate (OCPP 2.0.1 FirmwareType)")
    if signature is not None:
        try:
            base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("firmware.signature is Base64 encoded (OCPP 2.0.1 FirmwareType)") from None
    if firmware.installDateTime is not None and to_us(firmware.installDateTime) < to_us(firmware.retrieveDateTime):
        raise ValueError("firmware.installDateTime comes after retrieveDateTime: it installs what it retrieved "
                         "(OCPP 2.0.1 L01)")


def check_publish_firmware(req: m.PublishFirmwareRequest) -> None:
    _location(req.location, "location", "L03")
    if not _MD5_HEX.fullmatch(req.checksum):
        raise ValueError("checksum is the MD5 of the firmware file, 32 hexadecimal digits (OCPP 2.0.1 L03)")


def check_unpublish_firmware(req: m.UnpublishFirmwareRequest) -> None:
    if not _MD5_HEX.fullmatch(req.checksum):
        raise ValueError("checksum is the MD5 of the published firmware file, 32 hexadecimal digits (OCPP 2.0.1 L04)")


def check_get_log(req: m.GetLogRequest) -> None:
    log = req.log
    _location(log.remoteLocation, "log.remoteLocation", "N01, LogParametersType")
    if log.oldestTimestamp is not None and log.latestTimestamp is not None \
            and to_us(log.latestTimestamp) < to_us(log.oldestTimestamp):
        raise ValueError("log.latestTimestamp comes after log.oldestTimestamp (OCPP 2.0.1 N01, LogParametersType)")


CHECKS: dict[str, Callable[[Any], None]] = {
    "UpdateFirmware": check_update_firmware,
    "PublishFirmware": check_publish_firmware,
    "UnpublishFirmware": check_unpublish_firmware,
    "GetLog": check_get_log,
}


# --- secrets ----------------------------------------------------------------------------------------


def mask_update_firmware(payload: dict) -> dict:
    firmware = payload.get("firmware")
    if isinstance(firmware, dict) and isinstance(firmware.get("location"), str):
        return {**payload, "firmware": {**firmware, "location": masked_url(firmware["location"])}}
    return payload


def mask_publish_firmware(payload: dict) -> dict:
    if isinstance(payload.get("location"), str):
        return {**payload, "location": masked_url(payload["location"])}
    return payload


def mask_get_log(payload: dict) -> dict:
    log = payload.get("log")
    if isinstance(log, dict) and isinstance(log.get("remoteLocation"), str):
        return {**payload, "log": {**log, "remoteLocation": masked_url(log["remoteLocation"])}}
    return payload


MASKS: dict[str, Callable[[dict], dict]] = {
    "UpdateFirmware": mask_update_firmware,
    "PublishFirmware": mask_publish_firmware,
    "GetLog": mask_get_log,
}


# --- how answers change state (the request is the logged one: its locations masked) -------------------


def apply_update_firmware_result(state: StationState, req: m.UpdateFirmwareRequest, res: m.UpdateFirmwareResponse,
                                 at_us: int) -> None:
    # Every answer is kept: Rejected, InvalidCertificate, RevokedCertificate say why nothing
    # will happen (UpdateFirmwareStatusEnumType); AcceptedCanceled that the previous update was
    # cancelled for this one (L01.FR.24).
    firmware = req.firmware
    state.part201().firmware_update = FirmwareUpdate201(
        request_id=req.requestId, location=masked_url(firmware.location), retrieve_at_us=to_us(firmware.retrieveDateTime),
        install_at_us=_us(firmware.installDateTime),
        signed=firmware.signingCertificate is not None and firmware.signature is not None,
        retries=req.retries, retry_interval_s=req.retryInterval, status=res.status, requested_at_us=at_us,
    )


def apply_publish_firmware_result(state: StationState, req: m.PublishFirmwareRequest, res: m.PublishFirmwareResponse,
                                  at_us: int) -> None:
    state.part201().firmware_publication = FirmwarePublication(
        request_id=req.requestId, location=masked_url(req.location), checksum=req.checksum.lower(),
        status=res.status, requested_at_us=at_us,
    )


def apply_unpublish_firmware_result(state: StationState, req: m.UnpublishFirmwareRequest,
                                    res: m.UnpublishFirmwareResponse, at_us: int) -> None:
    # Unpublished: it stopped; NoFirmware: it had none published (L04); either way nothing is
    # published with that checksum. DownloadOngoing: it goes on.
    publication = state.part201().firmware_publication
    if publication is not None and res.status in ("Unpublished", "NoFirmware") \
            and publication.checksum == req.checksum.lower():
        publication.unpublished = True


def apply_get_log_result(state: StationState, req: m.GetLogRequest, res: m.GetLogResponse, at_us: int) -> None:
    log = req.log
    state.part201().log_upload = LogUpload201(
        request_id=req.requestId, log_type=req.logType, location=masked_url(log.remoteLocation),
        oldest_us=_us(log.oldestTimestamp), latest_us=_us(log.latestTimestamp), retries=req.retries,
        retry_interval_s=req.retryInterval, status=res.status, filename=res.filename, requested_at_us=at_us,
    )


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "UpdateFirmware": apply_update_firmware_result,
    "PublishFirmware": apply_publish_firmware_result,
    "UnpublishFirmware": apply_unpublish_firmware_result,
    "GetLog": apply_get_log_result,
}


# --- the station's progress reports ---------------------------------------------------------------------


def apply_firmware_status(state: StationState, req: m.FirmwareStatusNotificationRequest,
                          res: m.FirmwareStatusNotificationResponse, at_us: int) -> None:
    """L01.FR.01: every new state of the update; the latest, and the progress of the update
    whose requestId it names (an Idle without requestId is about none)."""
    state.firmware_status = req.status
    part = state.part201()
    part.firmware_request_id = req.requestId
    update = part.firmware_update
    if update is not None and req.requestId == update.request_id:
        update.progress = req.status
        update.progress_at_us = at_us


def apply_publish_firmware_status(state: StationState, req: m.PublishFirmwareStatusNotificationRequest,
                                  res: m.PublishFirmwareStatusNotificationResponse, at_us: int) -> None:
    part = state.part201()
    part.publish_firmware_status = req.status
    publication = part.firmware_publication
    if publication is not None and req.requestId == publication.request_id:
        publication.progress = req.status
        publication.progress_at_us = at_us
        if req.status == "Published" and req.location:
            # L03: where the local controller serves it; masked as any location is.
            publication.published_locations = [masked_url(u) for u in req.location]


def apply_log_status(state: StationState, req: m.LogStatusNotificationRequest, res: m.LogStatusNotificationResponse,
                     at_us: int) -> None:
    part = state.part201()
    part.log_status = req.status
    part.log_request_id = req.requestId
    upload = part.log_upload
    if upload is not None and req.requestId == upload.request_id:
        upload.progress = req.status
        upload.progress_at_us = at_us


NOTIFICATIONS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "FirmwareStatusNotification": apply_firmware_status,
    "PublishFirmwareStatusNotification": apply_publish_firmware_status,
    "LogStatusNotification": apply_log_status,
}
