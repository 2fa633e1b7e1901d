"""OCPP 2.0.1 firmware and log commands (actors/ocpp201/firmware_logs.py): UpdateFirmware (L01 secure,
L02), PublishFirmware / UnpublishFirmware (L03, L04) and GetLog (N01): their rules, the progress
their requestId reports, locations masked, replay equality. Requirement ids are OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

import json

import pytest

from actors.command_urls import masked_url
from tests.commands201 import Station, builtins, check, logged, ts
from tests.ocpp201_schema_cases import library_validator

CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
SECRET_URL = "ftp://fwuser:s3cr3t-pw@files.example.com/fw/v2.bin"
MD5 = "0123456789abcdef0123456789ABCDEF"


def update(request_id: int = 1, location: str = SECRET_URL, **firmware) -> dict:
    body = {"location": location, "retrieveDateTime": ts(0), "signingCertificate": CERTIFICATE,
            "signature": "c2lnbmF0dXJl", **firmware}
    return {"requestId": request_id, "firmware": {k: v for k, v in body.items() if v is not None}}


def get_log(request_id: int = 1, location: str = "https://logs.example.com/up?X-Amz-Signature=abc123&x=1", **log) -> dict:
    return {"requestId": request_id, "logType": "DiagnosticsLog", "log": {"remoteLocation": location, **log}}


VALID = [
    ("UpdateFirmware", update()),
    ("UpdateFirmware", update(signingCertificate=None, signature=None)),  # L02: non-secure
    ("PublishFirmware", {"requestId": 1, "location": "http://fw.example/v2.bin", "checksum": MD5}),
    ("UnpublishFirmware", {"checksum": MD5}),
    ("GetLog", get_log(oldestTimestamp=ts(0), latestTimestamp=ts(60))),
]


@pytest.mark.parametrize(("action", "payload"), VALID)
def test_valid_requests_pass_the_schema_and_the_rules(action, payload):
    assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
    check(action, payload)


REFUSED = [
    ("L01.FR.11", "UpdateFirmware", update(signature=None)),
    ("L01.FR.11", "UpdateFirmware", update(signingCertificate=None)),
    ("FirmwareType", "UpdateFirmware", update(signingCertificate="MIIB")),
    ("FirmwareType", "UpdateFirmware", update(signature="not base64!")),
    ("L01", "UpdateFirmware", update(location="files.example.com/fw.bin")),
    ("L01", "UpdateFirmware", update(installDateTime=ts(-5))),
    ("L03", "PublishFirmware", {"requestId": 1, "location": "http://fw.example/v2.bin", "checksum": "xyz"}),
    ("L03", "PublishFirmware", {"requestId": 1, "location": "fw.bin", "checksum": MD5}),
    ("L04", "UnpublishFirmware", {"checksum": MD5[:31]}),
    ("N01", "GetLog", get_log(location="/tmp/log")),
    ("N01", "GetLog", get_log(oldestTimestamp=ts(60), latestTimestamp=ts(0))),
]


@pytest.mark.parametrize(("rule", "action", "payload"), REFUSED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_rules_the_schema_leaves_out_are_refused_naming_the_requirement(rule, action, payload):
    assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
    with pytest.raises(ValueError, match=rule.replace(".", r"\.")):
        check(action, payload)


# --- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "payload", "secrets"), [
    ("UpdateFirmware", update(), ["fwuser", "s3cr3t-pw"]),
    ("PublishFirmware", {"requestId": 1, "location": "https://u:p4ss@lc.example/fw", "checksum": MD5}, ["p4ss"]),
    ("GetLog", get_log(), ["abc123"]),
])
def test_locations_are_masked_in_what_is_logged_and_still_decode(action, payload, secrets):
    text = logged(action, payload)
    assert not any(secret in text for secret in secrets)
    assert library_validator("2.0.1", f"{action}Request").is_valid(json.loads(text))
    check(action, json.loads(text))  # a masked request is still one the fold can read


def test_masked_url_hides_userinfo_and_credential_parameters_only():
    assert masked_url("ftp://user:pw@host/fw.bin") == "ftp://***@host/fw.bin"
    assert masked_url("https://token@host/fw") == "https://***@host/fw"
    assert masked_url("https://h/x?X-Amz-Credential=AK&X-Amz-Signature=s&part=2") == \
        "https://h/x?X-Amz-Credential=***&X-Amz-Signature=***&part=2"
    assert masked_url("https://host/fw.bin?v=2") == "https://host/fw.bin?v=2"
    assert masked_url("not a url") == "not a url"


# --- folds -----------------------------------------------------------------------------------------------


def test_update_firmware_keeps_the_request_and_folds_the_progress_of_its_request_id():
    station = Station()
    station.command("UpdateFirmware", update(4), {"status": "Accepted"})
    fw = station.part.firmware_update
    assert (fw.request_id, fw.status, fw.signed, fw.location) == (4, "Accepted", True, "ftp://***@files.example.com/fw/v2.bin")
    for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"):
        station.sends("FirmwareStatusNotification", {"status": status, "requestId": 4})
    station.sends("FirmwareStatusNotification", {"status": "Idle"})  # no requestId: about no update
    assert (fw.progress, station.state.firmware_status) == ("Installed", "Idle")


def test_another_request_ids_progress_is_not_this_updates():
    station = Station()
    station.command("UpdateFirmware", update(5), {"status": "AcceptedCanceled"})  # L01.FR.24
    station.sends("FirmwareStatusNotification", {"status": "Downloading", "requestId": 4})
    assert (station.part.firmware_update.status, station.part.firmware_update.progress) == ("AcceptedCanceled", None)
    assert station.part.firmware_request_id == 4


def test_a_rejected_certificate_is_kept_as_the_answer():
    station = Station()
    station.command("UpdateFirmware", update(6), {"status": "InvalidCertificate"})
    assert station.part.firmware_update.status == "InvalidCertificate"


def test_publish_then_unpublish_firmware():
    station = Station()
    station.command("PublishFirmware", {"requestId": 9, "location": "https://u:p@fw.example/v2", "checksum": MD5},
                    {"status": "Accepted"})
    station.sends("PublishFirmwareStatusNotification", {"status": "Published", "requestId": 9,
                                                        "location": ["http://lc.local/v2", "ftp://a:b@lc.local/v2"]})
    publication = station.part.firmware_publication
    assert (publication.progress, publication.published_locations) == (
        "Published", ["http://lc.local/v2", "ftp://***@lc.local/v2"])
    station.command("UnpublishFirmware", {"checksum": MD5.upper()}, {"status": "DownloadOngoing"})
    assert not publication.unpublished
    station.command("UnpublishFirmware", {"checksum": MD5}, {"status": "Unpublished"})
    assert publication.unpublished


def test_get_log_keeps_the_filename_and_the_upload_progress():
    station = Station()
    station.command("GetLog", get_log(3), {"status": "Accepted", "filename": "diag-3.zip"})
    station.sends("LogStatusNotification", {"status": "Uploading", "requestId": 3})
    station.sends("LogStatusNotification", {"status": "Uploaded", "requestId": 3})
    upload = station.part.log_upload
    assert (upload.filename, upload.progress, upload.location) == (
        "diag-3.zip", "Uploaded", "https://logs.example.com/up?X-Amz-Signature=***&x=1")
    assert (station.part.log_status, station.part.log_request_id) == ("Uploaded", 3)


def test_replaying_the_log_gives_the_same_state():
    station = Station()
    station.command("UpdateFirmware", update(1), {"status": "Accepted"})
    station.sends("FirmwareStatusNotification", {"status": "Downloading", "requestId": 1})
    station.command("PublishFirmware", {"requestId": 2, "location": "http://fw/v2", "checksum": MD5}, {"status": "Accepted"})
    station.sends("PublishFirmwareStatusNotification", {"status": "Published", "requestId": 2, "location": ["http://lc/v2"]})
    station.command("GetLog", get_log(3), {"status": "Accepted", "filename": "x.zip"})
    station.sends("LogStatusNotification", {"status": "Uploaded", "requestId": 3})
    station.command("UnpublishFirmware", {"checksum": MD5}, {"status": "Unpublished"})
    assert builtins(station.replayed()) == builtins(station.state)
