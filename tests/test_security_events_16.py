"""The OCPP 1.6 security whitepaper's security events, signed firmware and log uploads, without Ray
or sockets: what the session answers, how each message folds into the station's state, what the
log keeps of a location's credentials, and that replaying the log rebuilds the same state.

(Every payload's validation is compared with the `ocpp` library's schema validator by the
schema-derived tests of tests/test_station_session.py and tests/test_csms_side.py, which cover
these actions since they are in the 1.6 tables.)
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ocppj
from actors.ocpp16 import messages as m
from actors.ocpp16.csms_side import COMMANDS
from actors.ocpp16.secrets import MASK, masked_url
from actors.security_events import CRITICAL_SECURITY_EVENTS, is_critical
from actors.station_state import (
    PROGRESS_STEPS_KEPT,
    REQUESTS_KEPT,
    SECURITY_EVENTS_KEPT,
    SecurityEvent,
    Station201,
    StationState,
)
from actors.views import station_view
from tests.test_station_session import MINUTE_US, T0, Station, builtins, ts

_ids = itertools.count(1)

FIRMWARE = {
    "location": "ftp://fwuser:s3cret-pass@fw.example.com/v3.bin", "retrieveDateTime": ts(30),
    "installDateTime": ts(45), "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "signature": "c2lnbmF0dXJl",
}
GET_LOG = {"logType": "SecurityLog", "requestId": 8, "retries": 2, "retryInterval": 30, "log": {
    "remoteLocation": "ftp://loguser:l0g-pass@logs.example.com/in/", "oldestTimestamp": ts(0),
    "latestTimestamp": ts(60)}}


def security_event(station: Station, type_: str, minute: float, tech_info: str | None = None) -> dict:
    payload: dict[str, Any] = {"type": type_, "timestamp": ts(minute)}
    if tech_info is not None:
        payload["techInfo"] = tech_info
    return station.answer("SecurityEventNotification", payload)


def operator_command(station: Station, action: str, payload: Any, answer: Any) -> str:
    """A command exactly as the host sends it: checked by the session, the station gets the
    payload whole and the log the loggable one; then the station's CALLRESULT. The frame sent."""
    checked = station.session.check_command(action, json.dumps(payload))
    assert isinstance(checked, tuple), checked
    to_send, to_log = checked
    message_id = f"csms-{next(_ids)}"
    station.clock_us += 1_000_000
    _, event = station.session.send_command(message_id, action, to_log, station.clock_us)
    station.log.append(event)
    outcome = station.send(json.dumps([ocppj.CALLRESULT, message_id, answer]))
    assert outcome.answer is not None and outcome.answer.ok
    return to_send


def assert_replay_equal(station: Station) -> None:
    assert builtins(station.replayed().state) == builtins(station.state)


def view(station: Station) -> dict:
    return msgspec.to_builtins(station_view(station.state, station.clock_us))


def test_the_schema_derived_tests_cover_the_whitepaper_actions():
    # tests/test_station_session.py and tests/test_csms_side.py compare our decoders with the
    # library's validator on payloads derived from every schema of these tables.
    assert {"SecurityEventNotification", "SignedFirmwareStatusNotification", "LogStatusNotification"} \
        <= set(m.STATION_REQUESTS)
    assert {"SignedUpdateFirmware", "GetLog"} <= set(COMMANDS)


# --- SecurityEventNotification (whitepaper use case A04) -------------------------------------------


def test_security_event_is_answered_empty_durable_and_kept_with_its_station_time():
    station = Station()
    outcome = station.call("SecurityEventNotification", {"type": "InvalidMessages", "timestamp": ts(5),
                                                         "techInfo": "bad frame"})
    assert json.loads(outcome.replies[0])[2] == {}
    assert outcome.durable  # an operator must never miss one
    [event] = station.state.security_events
    assert (event.type, event.tech_info, event.timestamp_us, event.critical) == ("InvalidMessages", "bad frame",
                                                                                T0 + 5 * MINUTE_US, False)
    assert event.received_at_us == station.clock_us
    assert station.state.last_critical_security_event is None
    assert_replay_equal(station)


@pytest.mark.parametrize("type_", sorted(CRITICAL_SECURITY_EVENTS))
def test_the_whitepapers_critical_events_are_marked_critical_and_surfaced(type_):
    station = Station()
    security_event(station, type_, 5)
    assert station.state.security_events[-1].critical
    assert station.state.last_critical_security_event.type == type_
    assert view(station)["last_critical_security_event"]["type"] == type_


def test_the_critical_list_is_the_whitepapers_appendix_1():
    # 1.6 security whitepaper edition 3, appendix 1: the events marked critical; 2.0.1 Part 2's
    # appendix marks the same ones (its renamed events, ...Csms..., are not critical).
    assert CRITICAL_SECURITY_EVENTS == {"FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot",
                                        "SecurityLogWasCleared", "MemoryExhaustion", "TamperDetectionActivated"}
    for not_critical in ("FailedToAuthenticateAtCentralSystem", "CentralSystemFailedToAuthenticate",
                         "ReconfigurationOfSecurityParameters", "InvalidMessages", "AttemptedReplayAttacks",
                         "InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate",
                         "InvalidCentralSystemCertificate", "InvalidChargePointCertificate", "InvalidTLSVersion",
                         "InvalidTLSCipherSuite", "FailedToAuthenticateAtCsms", "VendorSpecificThing"):
        assert not is_critical(not_critical)
    assert is_critical("tamperdetectionactivated")  # station-sent text: case does not hide an alarm


def test_the_last_critical_event_is_the_newest_by_the_station_clock_not_the_last_received():
    station = Station()
    security_event(station, "TamperDetectionActivated", 30)
    security_event(station, "ResetOrReboot", 10)  # queued offline, delivered late
    security_event(station, "InvalidMessages", 40)
    last = station.state.last_critical_security_event
    assert (last.type, last.timestamp_us) == ("TamperDetectionActivated", T0 + 30 * MINUTE_US)
    assert_replay_equal(station)


def test_security_events_are_bounded_newest_kept_and_counted_in_all():
    station = Station()
    security_event(station, "StartupOfTheDevice", 1)
    for k in range(SECURITY_EVENTS_KEPT + 5):
        security_event(station, "InvalidMessages", 2 + k / 100, tech_info=f"n{k}")
    events = station.state.security_events
    assert len(events) == SECURITY_EVENTS_KEPT
    assert events[-1].tech_info == f"n{SECURITY_EVENTS_KEPT + 4}" and events[0].tech_info == "n5"
    assert station.state.security_events_received == SECURITY_EVENTS_KEPT + 6
    # The critical one is still surfaced after the list forgot it.
    assert station.state.last_critical_security_event.type == "StartupOfTheDevice"
    shown = view(station)
    assert shown["security_events"][0]["tech_info"] == f"n{SECURITY_EVENTS_KEPT + 4}"  # newest first
    assert shown["security_events_received"] == SECURITY_EVENTS_KEPT + 6
    assert_replay_equal(station)


def test_a_resent_security_event_is_answered_again_and_kept_once():
    station = Station()
    payload = json.dumps([2, "se-1", "SecurityEventNotification", {"type": "ResetOrReboot", "timestamp": ts(3)}])
    station.send(payload)
    station.clock_us += 1_000_000
    again = station.session.handle(payload, station.clock_us, station.id_tags, answer_resent=True)
    assert again.events == [] and json.loads(again.replies[0])[2] == {}
    assert station.state.security_events_received == 1


def test_a_security_event_with_a_wrong_field_is_refused_and_not_kept():
    station = Station()
    assert station.refuse("SecurityEventNotification", {"type": "x" * 51, "timestamp": ts(1)}) \
        == ocppj.PROPERTY_CONSTRAINT_VIOLATION
    assert station.refuse("SecurityEventNotification", {"type": "ResetOrReboot"}) \
        == ocppj.OCCURENCE_CONSTRAINT_VIOLATION
    assert station.state.security_events == [] and station.state.security_events_received == 0


def test_a_snapshot_from_before_the_move_keeps_2_0_1_security_events_in_the_core_list():
    # Snapshots written while 2.0.1 kept its security events in `v201` decode with them moved.
    old = StationState(station_id="S", ocpp_version="2.0.1", v201=Station201())
    old.v201.security_events = [SecurityEvent(type="FirmwareUpdated", timestamp_us=5, critical=False)]
    encoded = msgspec.msgpack.encode(old)
    restored = msgspec.msgpack.decode(encoded, type=StationState)
    assert [e.type for e in restored.security_events] == ["FirmwareUpdated"]
    assert restored.v201.security_events == [] and restored.security_events_received == 1


# --- SignedUpdateFirmware + SignedFirmwareStatusNotification (whitepaper use case L01) -------------


def test_signed_update_firmware_reaches_the_station_whole_and_the_log_masked():
    station = Station()
    sent = operator_command(station, "SignedUpdateFirmware",
                            {"requestId": 7, "retries": 2, "retryInterval": 30, "firmware": FIRMWARE},
                            {"status": "Accepted"})
    assert json.loads(sent)["firmware"]["location"] == FIRMWARE["location"]  # the station needs the login
    call = next(e for e in station.log if e.action == "SignedUpdateFirmware" and e.message_type == "CALL")
    assert "s3cret-pass" not in call.payload
    assert json.loads(call.payload)["firmware"]["location"] == f"ftp://fwuser:{MASK}@fw.example.com/v3.bin"
    [update] = view(station)["signed_firmware_updates"]
    assert update["location"] == f"ftp://fwuser:{MASK}@fw.example.com/v3.bin"
    assert (update["request_id"], update["answer"], update["retries"], update["retry_interval_s"]) == (7, "Accepted", 2, 30)
    assert update["retrieve_at"] is not None and update["install_at"] is not None
    assert len(update["signing_certificate_sha256"]) == 64
    assert "s3cret-pass" not in json.dumps(view(station))
    assert_replay_equal(station)


def test_signed_firmware_statuses_fold_per_request_id_in_the_order_reported():
    station = Station()
    operator_command(station, "SignedUpdateFirmware", {"requestId": 7, "firmware": FIRMWARE}, {"status": "Accepted"})
    for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"):
        assert station.answer("SignedFirmwareStatusNotification", {"status": status, "requestId": 7}) == {}
    [update] = view(station)["signed_firmware_updates"]
    assert update["progress"]["status"] == "Installed"
    assert update["progress"]["statuses"] == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                              "Installed"]
    assert update["progress"]["status_at"] is not None
    assert view(station)["signed_firmware_status"] == "Installed"
    assert_replay_equal(station)


def test_an_invalid_signature_is_shown_on_its_request_and_the_station_sends_the_security_event():
    # L01 / TC_081: the station reports InvalidSignature and follows it with the security event
    # InvalidFirmwareSignature; the CSMS raises none of its own (the spec asks none of it).
    station = Station()
    operator_command(station, "SignedUpdateFirmware", {"requestId": 3, "firmware": FIRMWARE}, {"status": "Accepted"})
    for status in ("Downloading", "Downloaded", "InvalidSignature"):
        station.answer("SignedFirmwareStatusNotification", {"status": status, "requestId": 3})
    assert station.state.security_events == []
    security_event(station, "InvalidFirmwareSignature", 50)
    assert station.state.signed_firmware_updates[3].progress.status == "InvalidSignature"
    assert [(e.type, e.critical) for e in station.state.security_events] == [("InvalidFirmwareSignature", False)]


@pytest.mark.parametrize("answer", ["Rejected", "InvalidCertificate", "RevokedCertificate", "AcceptedCanceled"])
def test_every_answer_to_signed_update_firmware_is_kept(answer):
    station = Station()
    operator_command(station, "SignedUpdateFirmware", {"requestId": 4, "firmware": FIRMWARE}, {"status": answer})
    assert station.state.signed_firmware_updates[4].answer == answer


def test_a_status_without_a_request_id_or_of_an_unknown_one_is_kept_too():
    station = Station()
    station.answer("SignedFirmwareStatusNotification", {"status": "Idle"})  # triggered, nothing ongoing
    assert station.state.signed_firmware_updates == {} and station.state.signed_firmware_status == "Idle"
    station.answer("SignedFirmwareStatusNotification", {"status": "Downloading", "requestId": 99})
    unknown = station.state.signed_firmware_updates[99]
    assert (unknown.location, unknown.answer, unknown.progress.status) == (None, None, "Downloading")
    assert_replay_equal(station)


def test_signed_firmware_requests_and_their_steps_are_bounded_newest_kept():
    station = Station()
    for request_id in range(REQUESTS_KEPT + 3):
        operator_command(station, "SignedUpdateFirmware", {"requestId": request_id, "firmware": FIRMWARE},
                         {"status": "Accepted"})
    # A status of an old request makes it the newest again.
    station.answer("SignedFirmwareStatusNotification", {"status": "Downloading", "requestId": 3})
    assert list(station.state.signed_firmware_updates) == [*range(4, REQUESTS_KEPT + 3), 3]
    for _ in range(PROGRESS_STEPS_KEPT + 2):
        station.answer("SignedFirmwareStatusNotification", {"status": "DownloadPaused", "requestId": 3})
    assert len(station.state.signed_firmware_updates[3].progress.statuses) == PROGRESS_STEPS_KEPT
    assert [u["request_id"] for u in view(station)["signed_firmware_updates"]][0] == 3  # newest first
    assert_replay_equal(station)


# --- GetLog + LogStatusNotification (whitepaper use case N01) ----------------------------------------


def test_get_log_reaches_the_station_whole_and_the_log_masked_and_folds_its_answer():
    station = Station()
    sent = operator_command(station, "GetLog", GET_LOG, {"status": "Accepted", "filename": "security.log"})
    assert json.loads(sent)["log"]["remoteLocation"] == GET_LOG["log"]["remoteLocation"]
    call = next(e for e in station.log if e.action == "GetLog" and e.message_type == "CALL")
    assert "l0g-pass" not in call.payload
    [upload] = view(station)["log_uploads"]
    assert upload["remote_location"] == f"ftp://loguser:{MASK}@logs.example.com/in/"
    assert (upload["request_id"], upload["log_type"], upload["answer"], upload["file_name"]) == (
        8, "SecurityLog", "Accepted", "security.log")
    assert upload["oldest"] is not None and upload["latest"] is not None
    assert "l0g-pass" not in json.dumps(view(station))
    assert_replay_equal(station)


def test_log_statuses_fold_per_request_id():
    station = Station()
    operator_command(station, "GetLog", GET_LOG, {"status": "Accepted", "filename": "security.log"})
    operator_command(station, "GetLog", {**GET_LOG, "logType": "DiagnosticsLog", "requestId": 9},
                     {"status": "Rejected"})
    for status in ("Uploading", "Uploaded"):
        assert station.answer("LogStatusNotification", {"status": status, "requestId": 8}) == {}
    uploads = station.state.log_uploads
    assert uploads[8].progress.statuses == ["Uploading", "Uploaded"]
    assert (uploads[9].answer, uploads[9].progress.status) == ("Rejected", None)
    assert station.state.log_status == "Uploaded"
    station.answer("LogStatusNotification", {"status": "Idle"})
    assert station.state.log_status == "Idle" and uploads[8].progress.status == "Uploaded"
    assert_replay_equal(station)


def test_get_log_without_a_uri_location_is_refused_before_anything_is_sent():
    station = Station()
    refused = station.session.check_command("GetLog", json.dumps({**GET_LOG, "log": {"remoteLocation": "logs"}}))
    assert not isinstance(refused, tuple) and refused.status == "invalid_payload"


# --- credentials in locations ----------------------------------------------------------------------


@pytest.mark.parametrize(("url", "masked"), [
    ("ftp://user:pw@host/f", f"ftp://user:{MASK}@host/f"),
    ("ftps://token@host/f", f"ftps://{MASK}@host/f"),  # no password part: the userinfo may be a token
    ("ftp://user:p@ss@host/f", f"ftp://user:{MASK}@host/f"),  # an unencoded @ leaves nothing behind
    ("https://host/f?mail=a@b", "https://host/f?mail=a@b"),  # an @ after the authority is no userinfo
    ("https://host/path@x", "https://host/path@x"),
    ("https://host/f", "https://host/f"),
])
def test_credentials_in_a_url_are_masked(url, masked):
    assert masked_url(url) == masked


@pytest.mark.parametrize(("action", "payload", "secret"), [
    ("UpdateFirmware", {"location": "ftp://u:fw-pass@h/f.bin", "retrieveDate": ts(1)}, "fw-pass"),
    ("GetDiagnostics", {"location": "ftp://u:diag-pass@h/in/"}, "diag-pass"),
])
def test_the_older_firmware_and_diagnostics_locations_are_masked_too(action, payload, secret):
    station = Station()
    operator_command(station, action, payload, {})
    assert secret not in station.log[-2].payload and secret not in json.dumps(view(station))


# --- replay equality over any order of these messages --------------------------------------------------

_steps = st.one_of(
    st.tuples(st.just("event"), st.sampled_from(["TamperDetectionActivated", "InvalidMessages", "ResetOrReboot"]),
              st.integers(0, 120)),
    st.tuples(st.just("firmware"), st.integers(0, 12), st.sampled_from(["Accepted", "Rejected"])),
    st.tuples(st.just("firmware_status"), st.integers(0, 12), st.sampled_from(["Downloading", "Installed", "Idle"])),
    st.tuples(st.just("log"), st.integers(0, 12), st.sampled_from(["Accepted", "Rejected"])),
    st.tuples(st.just("log_status"), st.integers(0, 12), st.sampled_from(["Uploading", "Uploaded", "Idle"])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_steps, max_size=25), st.integers(0, 25))
def test_replaying_the_log_from_any_snapshot_rebuilds_the_same_state(steps, cut):
    station = Station()
    for kind, a, b in steps:
        if kind == "event":
            security_event(station, a, b)
        elif kind == "firmware":
            operator_command(station, "SignedUpdateFirmware", {"requestId": a, "firmware": FIRMWARE}, {"status": b})
        elif kind == "firmware_status":
            payload = {"status": b} if b == "Idle" else {"status": b, "requestId": a}
            station.answer("SignedFirmwareStatusNotification", payload)
        elif kind == "log":
            operator_command(station, "GetLog", {**GET_LOG, "requestId": a}, {"status": b})
        else:
            payload = {"status": b} if b == "Idle" else {"status": b, "requestId": a}
            station.answer("LogStatusNotification", payload)
    assert_replay_equal(station)
    cut = min(cut, len(station.log))
    snapshot = msgspec.msgpack.decode(msgspec.msgpack.encode(station.replayed(station.log[:cut]).state),
                                      type=StationState)
    assert builtins(station.replayed(station.log[cut:], state=snapshot).state) == builtins(station.state)
