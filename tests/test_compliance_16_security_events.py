"""OCPP 1.6 security whitepaper compliance of the CSMS: security events, secure firmware update and
security logs, modelled on the OCA OCTT 1.6 test cases for a Central System (TC_077 to TC_081).

Each test drives the real CSMS (local Ray + Serve, real websockets, the real HTTP API) with a
station built on the `ocpp` library's ChargePoint, which validates every CSMS message against the
whitepaper's JSON schemas. TC_077 and TC_078 begin with certificate steps (ExtendedTriggerMessage,
SignCertificate, CertificateSigned, InstallCertificate: the certificate authority's work); their
tests cover what follows, the station's SecurityEventNotification and what an operator sees of it.
Last, a 1.6 and a 2.0.1 station's security events go from this CSMS's bronze to
silver.security_events through the curate job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import polars as pl
import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from analytics import curate
from analytics import tables as t
from tests.conftest import PASSWORD, register_station
from tests.stations import TestStation201, answer_every_command, connected_station
from tests.test_compliance_16 import (
    DEFAULT_ANSWERS,
    ComplianceStation,
    answered,
    boot_accepted,
    events,
    ts,
    utcnow,
    view,
)
from tests.test_lake_landing import flush_all_hosts

pytestmark = pytest.mark.ray

# The whitepaper's CSMS-initiated actions and a cooperative station's default answers.
SECURITY_ANSWERS: dict[str, dict[str, Any]] = {
    "SignedUpdateFirmware": {"status": "Accepted"},
    "GetLog": {"status": "Accepted", "filename": "security-log.txt"},
}
FIRMWARE_LOGIN = "ftp://fwuser:Fw-Passw0rd@firmware.example.com/acme/m1-3.0.0.bin"
LOG_LOGIN = "ftp://loguser:L0g-Passw0rd@logs.example.com/upload/"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"


@answer_every_command
class SecurityStation(ComplianceStation):
    """The compliance station, answering the whitepaper's commands too."""

    default_answers = {**DEFAULT_ANSWERS, **SECURITY_ANSWERS}


@contextlib.asynccontextmanager
async def online(csms, station_id: str) -> AsyncIterator[SecurityStation]:
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id, station_class=SecurityStation) as st:
        st.answers.update(SECURITY_ANSWERS)
        try:
            await boot_accepted(st)
            yield st
        finally:
            st.released.set()


async def notify(st, type_: str, tech_info: str | None = None) -> None:
    result = await st.call(call.SecurityEventNotification(type=type_, timestamp=ts(utcnow()), tech_info=tech_info),
                           suppress=False)
    assert result is not None  # answered, and the library found the .conf valid


def no_secret_anywhere(secret: str, *documents: Any) -> None:
    for document in documents:
        assert secret not in json.dumps(document), document


# --- security events (whitepaper use case A04) ------------------------------------------------------


async def test_tc_077_csms_invalid_charge_point_certificate_security_event(csms, station_id):
    async with online(csms, station_id) as st:
        await notify(st, "InvalidChargePointCertificate", tech_info="CN <mismatch>")
        seen = await view(csms, station_id)
    [event] = seen["security_events"]
    assert (event["type"], event["tech_info"], event["critical"]) == ("InvalidChargePointCertificate", "CN <mismatch>",
                                                                      False)
    assert seen["security_events_received"] == 1 and seen["last_critical_security_event"] is None
    # The station's events page shows the notification and the CSMS's answer.
    kinds = [(e["direction"], e["message_type"]) for e in await events(csms, station_id)
             if e["action"] == "SecurityEventNotification"]
    assert kinds == [("out", "CALLRESULT"), ("in", "CALL")]


async def test_tc_078_csms_invalid_central_system_certificate_security_event(csms, station_id):
    async with online(csms, station_id) as st:
        await notify(st, "InvalidCentralSystemCertificate")
        await notify(st, "TamperDetectionActivated", tech_info="enclosure opened")
        seen = await view(csms, station_id)
    assert [(e["type"], e["critical"]) for e in seen["security_events"]] == [
        ("TamperDetectionActivated", True), ("InvalidCentralSystemCertificate", False)]  # newest first
    assert seen["last_critical_security_event"]["type"] == "TamperDetectionActivated"


# --- security log (whitepaper use case N01) ---------------------------------------------------------


async def test_tc_079_csms_get_security_log(csms, station_id):
    request = {"logType": "SecurityLog", "requestId": 79, "log": {"remoteLocation": LOG_LOGIN}}
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "GetLog", request) == {"status": "Accepted",
                                                                     "filename": "security-log.txt"}
        [got] = st.got("GetLog")
        assert got["log_type"] == "SecurityLog" and got["request_id"] == 79
        assert got["log"]["remote_location"] == LOG_LOGIN  # the station gets the login it needs
        for status_ in ("Uploading", "Uploaded"):
            assert await st.call(call.LogStatusNotification(status=status_, request_id=79), suppress=False) is not None
        seen = await view(csms, station_id)
        page = await events(csms, station_id)
    [upload] = seen["log_uploads"]
    assert (upload["request_id"], upload["log_type"], upload["answer"], upload["file_name"]) == (
        79, "SecurityLog", "Accepted", "security-log.txt")
    assert upload["progress"]["statuses"] == ["Uploading", "Uploaded"] and seen["log_status"] == "Uploaded"
    assert upload["remote_location"] == "ftp://loguser:***@logs.example.com/upload/"
    no_secret_anywhere("L0g-Passw0rd", seen, page)


# --- secure firmware update (whitepaper use case L01) -------------------------------------------------


def signed_update(request_id: int) -> dict[str, Any]:
    return {"requestId": request_id, "retries": 3, "retryInterval": 60, "firmware": {
        "location": FIRMWARE_LOGIN, "retrieveDateTime": ts(utcnow()), "signingCertificate": CERTIFICATE,
        "signature": "TUVVQ0lRRGZh"}}


async def firmware_statuses(st, request_id: int, statuses: tuple[str, ...]) -> None:
    for status_ in statuses:
        result = await st.call(call.SignedFirmwareStatusNotification(status=status_, request_id=request_id),
                               suppress=False)
        assert result is not None


async def test_tc_080_csms_secure_firmware_update(csms, station_id):
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "SignedUpdateFirmware", signed_update(80)) == {"status": "Accepted"}
        [got] = st.got("SignedUpdateFirmware")
        assert got["request_id"] == 80 and got["firmware"]["location"] == FIRMWARE_LOGIN
        assert got["firmware"]["signing_certificate"] == CERTIFICATE
        await firmware_statuses(st, 80, ("Downloading", "Downloaded", "SignatureVerified", "Installing"))
    # Installing ends in a reboot with the new firmware (InstallRebooting may be left out); then
    # Installed, and the critical security event FirmwareUpdated.
    async with connected_station(csms.ws_url, station_id, station_class=SecurityStation) as st:
        await boot_accepted(st, firmware_version="3.0.0")
        await firmware_statuses(st, 80, ("Installed",))
        await notify(st, "FirmwareUpdated", tech_info="3.0.0")
        seen = await view(csms, station_id)
        page = await events(csms, station_id)
    [update] = seen["signed_firmware_updates"]
    assert (update["request_id"], update["answer"], update["retries"]) == (80, "Accepted", 3)
    assert update["progress"]["statuses"] == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                              "Installed"]
    assert update["location"] == "ftp://fwuser:***@firmware.example.com/acme/m1-3.0.0.bin"
    assert seen["signed_firmware_status"] == "Installed" and seen["boot"]["firmware_version"] == "3.0.0"
    assert seen["last_critical_security_event"]["type"] == "FirmwareUpdated"
    no_secret_anywhere("Fw-Passw0rd", seen, page)


async def test_tc_081_csms_secure_firmware_update_invalid_signature(csms, station_id):
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "SignedUpdateFirmware", signed_update(81)) == {"status": "Accepted"}
        await firmware_statuses(st, 81, ("Downloading", "Downloaded", "InvalidSignature"))
        # The station follows InvalidSignature with this security event (L01); the CSMS makes none.
        await notify(st, "InvalidFirmwareSignature")
        seen = await view(csms, station_id)
    [update] = seen["signed_firmware_updates"]
    assert update["progress"]["status"] == "InvalidSignature"
    assert [(e["type"], e["critical"]) for e in seen["security_events"]] == [("InvalidFirmwareSignature", False)]


async def test_signed_update_firmware_the_station_refuses_is_shown_with_its_answer(csms, station_id):
    async with online(csms, station_id) as st:
        st.answers["SignedUpdateFirmware"] = {"status": "InvalidCertificate"}
        assert await answered(csms, station_id, "SignedUpdateFirmware", signed_update(7)) == {
            "status": "InvalidCertificate"}
        seen = await view(csms, station_id)
    assert seen["signed_firmware_updates"][0]["answer"] == "InvalidCertificate"


@pytest.mark.parametrize(("action", "payload"), [
    ("SignedUpdateFirmware", {"requestId": 1, "firmware": {"location": "ftp://x/f", "retrieveDateTime": "now",
                                                           "signingCertificate": "c", "signature": "s"}}),
    ("SignedUpdateFirmware", {"requestId": 1}),
    ("GetLog", {"logType": "EverythingLog", "requestId": 1, "log": {"remoteLocation": "ftp://x/"}}),
    ("GetLog", {"logType": "SecurityLog", "requestId": 1, "log": {"remoteLocation": "not a url"}}),
])
async def test_an_invalid_whitepaper_command_is_refused_before_anything_is_sent(csms, station_id, action, payload):
    async with online(csms, station_id) as st:
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/{action}", json=payload)
        assert response.status_code == 422, response.text
        assert st.got(action) == []


# --- from bronze to silver.security_events --------------------------------------------------------------


async def test_security_events_of_a_1_6_and_a_2_0_1_station_reach_silver_through_the_curate_job(
        csms, station_id, tmp_path):
    v201_id = f"{station_id}-201"
    today = utcnow().date()
    async with online(csms, station_id) as st:
        await notify(st, "StartupOfTheDevice", tech_info="cold boot")
    await register_station(csms, v201_id)
    async with connected_station(csms.ws_url, v201_id, password=PASSWORD, station_class=TestStation201,
                                 subprotocols=("ocpp2.0.1",)) as st201:
        boot = await st201.call(call201.BootNotification(charging_station={"model": "M2", "vendor_name": "Acme"},
                                                         reason="PowerUp"))
        assert boot.status == "Accepted"
        await st201.call(call201.SecurityEventNotification(type="CsmsFailedToAuthenticate", timestamp=ts(utcnow()),
                                                           tech_info="bad server cert"))
    await flush_all_hosts(csms)
    # The session's bronze, copied: the curate job writes silver into a data root of this test's own.
    shutil.copytree(csms.data_root / "bronze", tmp_path / "bronze")
    counts = curate.run(tmp_path, day=today, echo=lambda *_: None)
    assert counts[today.isoformat()]["security_events"] >= 2
    rows = pl.read_parquet(t.day_dir(t.SECURITY_EVENTS, tmp_path, today) / t.PART_FILE).filter(
        pl.col("station_id").is_in([station_id, v201_id]))
    assert rows.select("station_id", "ocpp_version", "type", "tech_info", "critical").rows() == [
        (station_id, "1.6", "StartupOfTheDevice", "cold boot", True),
        (v201_id, "2.0.1", "CsmsFailedToAuthenticate", "bad server cert", False),
    ]
    assert all(r["received_at"] >= r["station_ts"] - dt.timedelta(seconds=5) for r in rows.iter_rows(named=True))
