"""CSMS-initiated OCPP 2.0.1 commands, without Ray or sockets: which payloads an operator may send,
what is masked, what each answer changes in the station's state, and that replaying the log
rebuilds it.

Commands are checked by `StationSession.check_command` and logged through `send_command` as the
host does (the log keeps the masked payload); the station's answer goes through
`StationSession.handle`. The station is tests.test_ocpp201_session's, which keeps every event.
Requirement ids are OCPP 2.0.1 Part 2's; agreement of the decoders with the library's schemas
on generated payloads is tests/test_ocpp201_messages.py's.
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
from actors.ocpp201 import csms_side as c
from actors.ocpp201 import messages as m
from actors.ocpp201 import device_model as device_model_feature
from actors.ocpp201 import local_list as local_list_feature
from actors.ocpp201 import remote_control as remote_control_feature
from actors.ocpp201 import reservations as reservations_feature
from actors.ocpp201 import certificates as certificates_feature
from actors.ocpp201 import secrets
from actors.protocols import PROTOCOLS
from actors.views import station_view, transaction_views
from tests.ocpp201_schema_cases import library_validator
from tests.test_ocpp201_session import MINUTE_US, T0, Station201, builtins, register, ts, tx_event

P201 = PROTOCOLS["2.0.1"]
PASSWORD = "new-Password_0123.x"
SECURITY_CTRLR = {"name": "SecurityCtrlr"}


def set_password(value: str = PASSWORD, **extra) -> dict:
    return {"setVariableData": [{"component": SECURITY_CTRLR, "variable": {"name": "BasicAuthPassword"},
                                 "attributeValue": value, **extra}]}


PROFILE = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
           "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}
TOKEN = {"idToken": "TAG1", "type": "ISO14443"}

# One valid payload per CSMS-initiated 2.0.1 action.
VALID: dict[str, dict] = {
    "CancelReservation": {"reservationId": 3},
    "CertificateSigned": {"certificateChain": "-----BEGIN CERTIFICATE-----"},
    "ChangeAvailability": {"operationalStatus": "Inoperative", "evse": {"id": 1}},
    "ClearCache": {},
    "ClearChargingProfile": {"chargingProfileId": 5},
    "ClearDisplayMessage": {"id": 1},
    "ClearVariableMonitoring": {"id": [1, 2]},
    "CostUpdated": {"totalCost": 1.5, "transactionId": "tx-1"},
    "CustomerInformation": {"requestId": 1, "report": True, "clear": False, "idToken": TOKEN},
    "DataTransfer": {"vendorId": "com.acme", "messageId": "ping", "data": {"x": 1}},
    "DeleteCertificate": {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a",
                                                  "issuerKeyHash": "b", "serialNumber": "c"}},
    "GetBaseReport": {"requestId": 21, "reportBase": "FullInventory"},
    "GetChargingProfiles": {"requestId": 2, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}},
    "GetCompositeSchedule": {"duration": 3600, "evseId": 1},
    "GetDisplayMessages": {"requestId": 3},
    "GetInstalledCertificateIds": {},
    "GetLocalListVersion": {},
    "GetLog": {"log": {"remoteLocation": "https://logs.example.com/up"}, "logType": "DiagnosticsLog", "requestId": 4},
    "GetMonitoringReport": {"requestId": 5},
    "GetReport": {"requestId": 22, "componentCriteria": ["Problem"],
                  "componentVariable": [{"component": {"name": "EVSE", "evse": {"id": 1}}}]},
    "GetTransactionStatus": {"transactionId": "tx-1"},
    "GetVariables": {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"}}]},
    "InstallCertificate": {"certificateType": "CSMSRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----"},
    "PublishFirmware": {"location": "https://fw.example.com/v2.bin", "checksum": "0" * 32, "requestId": 6},
    "RequestStartTransaction": {"idToken": TOKEN, "remoteStartId": 77, "evseId": 1, "chargingProfile": PROFILE},
    "RequestStopTransaction": {"transactionId": "tx-1"},
    "ReserveNow": {"id": 3, "expiryDateTime": ts(60), "idToken": TOKEN, "evseId": 1},
    "Reset": {"type": "OnIdle", "evseId": 1},
    "SendLocalList": {"versionNumber": 4, "updateType": "Full",
                      "localAuthorizationList": [{"idToken": TOKEN, "idTokenInfo": {"status": "Accepted"}}]},
    "SetChargingProfile": {"evseId": 1, "chargingProfile": {**PROFILE, "chargingProfilePurpose": "TxDefaultProfile"}},
    "SetDisplayMessage": {"message": {"id": 1, "priority": "NormalCycle",
                                      "message": {"format": "UTF8", "content": "hello"}}},
    "SetMonitoringBase": {"monitoringBase": "All"},
    "SetMonitoringLevel": {"severity": 5},
    "SetNetworkProfile": {"configurationSlot": 1, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example.com/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}},
    "SetVariableMonitoring": {"setMonitoringData": [{"value": 1, "type": "Delta", "severity": 5,
                                                     "component": {"name": "EVSE"}, "variable": {"name": "Power"}}]},
    "SetVariables": {"setVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"}, "attributeValue": "600"}]},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
    "UnpublishFirmware": {"checksum": "0" * 32},
    "UpdateFirmware": {"requestId": 7, "firmware": {"location": "https://fw.example.com/v2.bin",
                                                    "retrieveDateTime": ts(10)}},
}
assert VALID.keys() == c.COMMANDS.keys() == m.CSMS_REQUESTS.keys()


def check(action: str, payload: Any):
    """What the session makes of an operator's command: (payload sent, payload logged) or the refusal."""
    return Station201().session.check_command(action, json.dumps(payload))


def refusal(action: str, payload: Any) -> str:
    outcome = check(action, payload)
    assert not isinstance(outcome, tuple), f"{action} {payload} was not refused"
    assert outcome.status == "invalid_payload"
    return outcome.error_description or ""


# --- which payloads an operator may send -----------------------------------------------------------


@pytest.mark.parametrize("action", sorted(VALID))
def test_every_valid_payload_is_valid_for_the_library_schema_too(action):
    assert library_validator("2.0.1", f"{action}Request").is_valid(VALID[action])


@pytest.mark.parametrize("action", sorted(set(VALID) - set(secrets.SECRET_BEARING)))
def test_a_valid_command_is_sent_as_given_and_logged_as_given(action):
    sent, logged = check(action, VALID[action])
    assert json.loads(sent) == json.loads(msgspec.json.encode(c.decode_command(action, json.dumps(VALID[action]))))
    assert logged == sent


@pytest.mark.parametrize("action", sorted(secrets.SECRET_BEARING))
def test_a_command_that_may_carry_a_secret_is_sent_only_once_something_masks_it(action):
    carrying = {
        "SetVariables": set_password(),
        "SetNetworkProfile": VALID["SetNetworkProfile"],
        "UpdateFirmware": {**VALID["UpdateFirmware"], "firmware": {
            **VALID["UpdateFirmware"]["firmware"], "location": "ftp://user:s3cret@fw.example.com/v2.bin"}},
        "PublishFirmware": {**VALID["PublishFirmware"], "location": "ftp://user:s3cret@fw.example.com/v2.bin"},
        "GetLog": {**VALID["GetLog"], "log": {"remoteLocation": "ftp://user:s3cret@logs.example.com/"}},
    }[action]
    outcome = check(action, carrying)
    if action in c.MASKS:
        sent, logged = outcome
        assert sent == json.dumps(json.loads(sent), separators=(",", ":"))
        assert not ({"s3cret", PASSWORD} & set(_strings(json.loads(logged)))), logged
    else:
        assert outcome.status == "invalid_payload" and "not offered yet" in outcome.error_description


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)] + [s for v in value.values() for s in _substrings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _substrings(value: Any) -> list[str]:
    # A secret inside a longer string (a URL's user:password@) counts too.
    return [w for w in (value.replace("@", ":").replace("/", ":").split(":") if isinstance(value, str) else ())]


def test_firmware_and_log_locations_without_credentials_need_no_mask():
    assert isinstance(check("UpdateFirmware", VALID["UpdateFirmware"]), tuple)
    assert isinstance(check("GetLog", VALID["GetLog"]), tuple)


@pytest.mark.parametrize("password", ["short-15-chars!", "a" * 15, "b" * 41, "sixteen chars ok", "sixteen-chars-ok!",
                                      "passwörd-with-umlaut"])
def test_a_basic_auth_password_a_station_could_not_use_is_refused_a00_fr_205(password):
    assert "BasicAuthPassword" in refusal("SetVariables", set_password(password))


@pytest.mark.parametrize("password", ["a" * 16, "Z" * 40, "0123456789*-_=:+|@.abc"])
def test_a_basic_auth_password_of_16_to_40_password_string_characters_is_sent_a00_fr_205(password):
    sent, logged = check("SetVariables", set_password(password))
    assert json.loads(sent)["setVariableData"][0]["attributeValue"] == password
    assert json.loads(logged)["setVariableData"][0]["attributeValue"] == secrets.MASK


def test_the_password_is_found_whatever_the_case_of_its_names():
    payload = {"setVariableData": [{"component": {"name": "securityctrlr"}, "variable": {"name": "BASICAUTHPASSWORD"},
                                    "attributeValue": "x"}]}
    assert "BasicAuthPassword" in refusal("SetVariables", payload)


def test_two_different_passwords_in_one_set_variables_are_refused():
    payload = set_password()
    payload["setVariableData"].append({**payload["setVariableData"][0], "attributeValue": PASSWORD + "2"})
    assert "once" in refusal("SetVariables", payload)


def test_other_variables_beside_the_password_are_logged_in_clear():
    payload = set_password()
    payload["setVariableData"].append(VALID["SetVariables"]["setVariableData"][0])
    _, logged = check("SetVariables", payload)
    assert [d["attributeValue"] for d in json.loads(logged)["setVariableData"]] == [secrets.MASK, "600"]


@pytest.mark.parametrize("value", ["0", "4", "two", ""])
def test_a_security_profile_outside_1_to_3_is_refused(value):
    payload = {"setVariableData": [{"component": SECURITY_CTRLR, "variable": {"name": "SecurityProfile"},
                                    "attributeValue": value}]}
    assert "SecurityProfile" in refusal("SetVariables", payload)


def test_a_remote_start_profile_must_be_a_tx_profile_without_transaction_f01():
    assert "TxProfile" in refusal("RequestStartTransaction", {
        **VALID["RequestStartTransaction"], "chargingProfile": {**PROFILE, "chargingProfilePurpose": "TxDefaultProfile"}})
    assert "transactionId" in refusal("RequestStartTransaction", {
        **VALID["RequestStartTransaction"], "chargingProfile": {**PROFILE, "transactionId": "tx-9"}})


def test_change_availability_of_a_connector_of_evse_0_is_refused_g04():
    assert "G04" in refusal("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 0, "connectorId": 1}})


def test_a_full_local_list_needs_every_entry_s_info_and_a_version_above_0_d01():
    assert "idTokenInfo" in refusal("SendLocalList", {"versionNumber": 1, "updateType": "Full",
                                                       "localAuthorizationList": [{"idToken": TOKEN}]})
    assert "above 0" in refusal("SendLocalList", {"versionNumber": 0, "updateType": "Full"})
    assert isinstance(check("SendLocalList", {"versionNumber": 2, "updateType": "Differential",
                                              "localAuthorizationList": [{"idToken": TOKEN}]}), tuple)


def test_an_action_of_the_other_version_is_refused_naming_the_one_to_use():
    outcome = check("GetConfiguration", {})
    assert outcome.status == "other_version" and "use GetVariables" in outcome.error_description
    outcome = check("StartTransaction", {})  # a 1.6 station-initiated action: no command of either
    assert outcome.status == "unknown_action"


@pytest.mark.parametrize("action", ["RequestStartTransaction", "RequestStopTransaction"])
def test_start_and_stop_are_refused_while_the_boot_is_pending_b02(action):
    station = Station201("Pending")
    refused = station.session.refuse_command(action)
    assert refused is not None and refused.status == "not_accepted" and "2.0.1" in refused.error_description
    assert station.session.refuse_command("GetVariables") is None  # the CSMS may configure a Pending station
    assert station.session.refuse_command("TriggerMessage") is None


# --- commands through a session --------------------------------------------------------------------

_ids = itertools.count(1)


def send(station: Station201, action: str, payload: Any) -> str:
    """A command as the host sends it: checked, the masked payload logged; its message id."""
    checked = station.session.check_command(action, json.dumps(payload))
    assert isinstance(checked, tuple), checked
    _sent, logged = checked
    message_id = f"csms-{next(_ids)}"
    station.clock_us += 1_000_000
    _frame, event = station.session.send_command(message_id, action, logged, station.clock_us)
    station.log.append(event)
    return message_id


def command(station: Station201, action: str, payload: Any, answer: Any):
    message_id = send(station, action, payload)
    outcome = station.send(json.dumps([ocppj.CALLRESULT, message_id, answer]))
    assert outcome.answer is not None and outcome.answer.ok and outcome.replies == []
    return outcome


def part(station: Station201):
    return station.state.v201


def view201(station: Station201):
    return station_view(station.state, station.clock_us).v201


def test_an_answer_off_the_schema_folds_nothing_and_does_not_raise():
    station = Station201()
    before = builtins(station.state)
    command(station, "Reset", {"type": "Immediate"}, {"status": "Maybe"})
    after = builtins(station.state)
    assert after["pending_command"] is None
    assert {k: v for k, v in after.items() if k not in ("pending_command", "last_seen_us")} == \
        {k: v for k, v in before.items() if k not in ("pending_command", "last_seen_us")}


@pytest.mark.parametrize("action", sorted(set(VALID) - set(c.COMMAND_RESULTS)))
def test_commands_that_change_nothing_live_on_in_the_log_only(action):
    assert not c.apply_command_result(Station201().state, action, json.dumps(VALID[action]), '{"status":"Accepted"}', T0)


# Device model: GetBaseReport / GetReport (B07, B08), GetVariables (B06), SetVariables (B05)


def test_a_base_report_is_tied_to_its_request_and_shows_progress_part_by_part_b07():
    station = Station201()
    command(station, "GetBaseReport", {"requestId": 21, "reportBase": "FullInventory"}, {"status": "Accepted"})
    [report] = view201(station).reports
    assert (report.request_id, report.report_base, report.request_status, report.parts, report.complete) == \
        (21, "FullInventory", "Accepted", 0, False)
    for seq_no in (0, 1):
        station.answer("NotifyReport", {"requestId": 21, "generatedAt": ts(2), "seqNo": seq_no, "tbc": seq_no == 0,
                                        "reportData": [{"component": {"name": "OCPPCommCtrlr"},
                                                        "variable": {"name": f"V{seq_no}"},
                                                        "variableAttribute": [{"value": str(seq_no)}]}]})
    [report] = view201(station).reports
    assert (report.parts, report.complete, report.report_base) == (2, True, "FullInventory")
    assert report.generated_at is not None and report.requested_at is not None
    assert builtins(station.replayed().state) == builtins(station.state)


def test_a_report_with_nothing_to_report_says_so_b08():
    station = Station201()
    command(station, "GetReport", VALID["GetReport"], {"status": "EmptyResultSet"})
    [report] = view201(station).reports
    assert (report.request_status, report.criteria, report.component_variables) == \
        ("EmptyResultSet", ["Problem"], ["EVSE@1/*"])


def variables(station: Station201) -> dict[str, list[tuple]]:
    return {key: [(a.type, a.value, a.reboot_required) for a in v.attributes]
            for key, v in part(station).device_model.items()}


def get_result(name: str, status: str, value: str | None = None, component: str = "OCPPCommCtrlr", **extra) -> dict:
    result = {"attributeStatus": status, "component": {"name": component}, "variable": {"name": name}, **extra}
    if value is not None:
        result["attributeValue"] = value
    return result


def test_get_variables_results_update_the_device_model_b06():
    station = Station201()
    station.answer("NotifyReport", {"requestId": 1, "generatedAt": ts(1), "seqNo": 0, "reportData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name},
         "variableAttribute": [{"type": "Actual", "value": "1", "mutability": "ReadWrite"},
                               {"type": "Target", "value": "2"}]}
        for name in ("HeartbeatInterval", "Gone", "NoTarget")]})
    command(station, "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": n}} for n in ("HeartbeatInterval", "Gone")]},
        {"getVariableResult": [get_result("HeartbeatInterval", "Accepted", "900"),
                               get_result("Gone", "UnknownVariable"),
                               get_result("NoTarget", "NotSupportedAttributeType", attributeType="Target"),
                               get_result("New", "Accepted", "x", component="ClockCtrlr")]})
    assert variables(station) == {
        "OCPPCommCtrlr/HeartbeatInterval": [("Actual", "900", False), ("Target", "2", False)],
        "OCPPCommCtrlr/NoTarget": [("Actual", "1", False)],
        "ClockCtrlr/New": [("Actual", "x", False)],
    }
    # what the report said of it stays: mutability
    assert part(station).device_model["OCPPCommCtrlr/HeartbeatInterval"].attributes[0].mutability == "ReadWrite"
    assert builtins(station.replayed().state) == builtins(station.state)


def set_result(name: str, status: str, component: str = "OCPPCommCtrlr") -> dict:
    return {"attributeStatus": status, "component": {"name": component}, "variable": {"name": name}}


def test_set_variables_results_update_the_device_model_with_reboot_required_b05():
    station = Station201()
    names = ("HeartbeatInterval", "OfflineThreshold", "ReadOnlyThing")
    command(station, "SetVariables", {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": n}, "attributeValue": str(i)}
        for i, n in enumerate(names)]},
        {"setVariableResult": [set_result(names[0], "Accepted"), set_result(names[1], "RebootRequired"),
                               set_result(names[2], "Rejected")]})
    assert variables(station) == {"OCPPCommCtrlr/HeartbeatInterval": [("Actual", "0", False)],
                                  "OCPPCommCtrlr/OfflineThreshold": [("Actual", "1", True)]}
    shown = {(v.variable, a.value, a.reboot_required) for v in view201(station).device_model for a in v.attributes}
    assert shown == {("HeartbeatInterval", "0", False), ("OfflineThreshold", "1", True)}
    assert builtins(station.replayed().state) == builtins(station.state)


def test_a_password_set_is_kept_masked_in_the_device_model_and_the_log():
    station = Station201()
    command(station, "SetVariables", set_password(),
            {"setVariableResult": [set_result("BasicAuthPassword", "Accepted", "SecurityCtrlr")]})
    assert variables(station) == {"SecurityCtrlr/BasicAuthPassword": [("Actual", secrets.MASK, False)]}
    assert not any(PASSWORD in e.payload for e in station.log)


def test_a_password_a_station_reports_is_masked_before_the_log():
    station = Station201()
    outcome = command(station, "GetVariables", {"getVariableData": [
        {"component": SECURITY_CTRLR, "variable": {"name": "BasicAuthPassword"}}]},
        {"getVariableResult": [get_result("BasicAuthPassword", "Accepted", PASSWORD, component="SecurityCtrlr")]})
    assert PASSWORD not in outcome.answer.payload and not any(PASSWORD in e.payload for e in station.log)
    assert variables(station) == {"SecurityCtrlr/BasicAuthPassword": [("Actual", secrets.MASK, False)]}


def test_a_late_answer_carrying_a_password_is_masked_too():
    station = Station201()
    outcome = station.send(json.dumps([ocppj.CALLRESULT, "no-longer-waited-for", {"getVariableResult": [
        get_result("BasicAuthPassword", "Accepted", PASSWORD, component="SecurityCtrlr")]}]))
    assert not any(PASSWORD in e.payload for e in outcome.events)


# Password rotation (A01) and the security profile


def accepted(status: str = "Accepted", variable: str = "BasicAuthPassword") -> str:
    return json.dumps({"setVariableResult": [set_result(variable, status, "SecurityCtrlr")]})


@pytest.mark.parametrize("status", ["Accepted", "RebootRequired"])
def test_an_accepted_password_is_the_new_credential_a01(status):
    assert P201.new_password("SetVariables", json.dumps(set_password()), accepted(status)) == PASSWORD.encode()


@pytest.mark.parametrize("status", ["Rejected", "UnknownVariable", "NotSupportedAttributeType"])
def test_a_password_not_accepted_changes_no_credential(status):
    assert P201.new_password("SetVariables", json.dumps(set_password()), accepted(status)) is None


def test_a_password_result_of_another_attribute_type_is_no_acceptance():
    answer = json.dumps({"setVariableResult": [{**set_result("BasicAuthPassword", "Accepted", "SecurityCtrlr"),
                                                "attributeType": "Target"}]})
    assert P201.new_password("SetVariables", json.dumps(set_password()), answer) is None


def test_other_commands_set_no_password():
    assert P201.new_password("SetVariables", json.dumps(VALID["SetVariables"]), accepted()) is None
    assert P201.new_password("GetVariables", json.dumps(set_password()), accepted()) is None


@pytest.mark.parametrize(("status", "profile"), [("Accepted", 2), ("RebootRequired", 2), ("Rejected", None)])
def test_an_accepted_security_profile_is_the_profile_the_station_moved_to(status, profile):
    request = {"setVariableData": [{"component": SECURITY_CTRLR, "variable": {"name": "SecurityProfile"},
                                    "attributeValue": "2"}]}
    assert P201.new_security_profile("SetVariables", json.dumps(request), accepted(status, "SecurityProfile")) == profile


def test_the_password_command_is_set_variables_of_basic_auth_password():
    action, payload = P201.password_command(PASSWORD)
    assert (action, payload) == ("SetVariables", set_password())
    assert P201.command_status(action, accepted("RebootRequired")) == "RebootRequired"
    assert PROTOCOLS["1.6"].password_command(PASSWORD) == (
        "ChangeConfiguration", {"key": "AuthorizationKey", "value": PASSWORD.encode().hex()})


# Remote control (F01, F02, E14, B11, B12, G03, G04, F06)


def test_a_remote_start_is_kept_and_matched_to_the_transaction_that_carries_it_f02():
    station = Station201()
    command(station, "RequestStartTransaction", VALID["RequestStartTransaction"], {"status": "Accepted"})
    assert part(station).remote_starts[77].transaction_id is None
    station.answer("TransactionEvent", tx_event("Started", 0, "tx-r", trigger="RemoteStart",
                                                info={"remoteStartId": 77}, id_token=TOKEN))
    assert part(station).remote_starts[77].transaction_id == "tx-r"
    [tx] = [t for t in transaction_views(station.state) if t.transaction_id == "tx-r"]
    assert tx.remote_start_id == 77
    [shown] = view201(station).remote_starts
    assert (shown.remote_start_id, shown.id_token, shown.evse_id, shown.transaction_id) == (77, "TAG1", 1, "tx-r")
    assert builtins(station.replayed().state) == builtins(station.state)


def test_a_remote_start_on_a_running_transaction_names_it_in_the_answer_f01():
    station = Station201()
    station.answer("TransactionEvent", tx_event("Started", 0, "tx-plug", trigger="CablePluggedIn"))
    command(station, "RequestStartTransaction", VALID["RequestStartTransaction"],
            {"status": "Accepted", "transactionId": "tx-plug"})
    assert part(station).remote_starts[77].transaction_id == "tx-plug"
    [tx] = [t for t in transaction_views(station.state) if t.transaction_id == "tx-plug"]
    assert tx.remote_start_id == 77


def test_a_rejected_remote_start_is_not_kept():
    station = Station201()
    command(station, "RequestStartTransaction", VALID["RequestStartTransaction"], {"status": "Rejected"})
    assert part(station).remote_starts == {}


def test_transaction_status_is_kept_e14():
    station = Station201()
    command(station, "GetTransactionStatus", {"transactionId": "tx-1"}, {"messagesInQueue": True, "ongoingIndicator": False})
    status = view201(station).transaction_status
    assert (status.transaction_id, status.ongoing, status.messages_in_queue) == ("tx-1", False, True)
    command(station, "GetTransactionStatus", {}, {"messagesInQueue": False})
    status = view201(station).transaction_status
    assert (status.transaction_id, status.ongoing, status.messages_in_queue) == (None, None, False)


@pytest.mark.parametrize(("request_", "answer"), [({"type": "Immediate"}, "Accepted"),
                                                  ({"type": "OnIdle", "evseId": 2}, "Scheduled"),
                                                  ({"type": "Immediate"}, "Rejected")])
def test_the_last_reset_is_kept_with_its_answer_b11_b12(request_, answer):
    station = Station201()
    command(station, "Reset", request_, {"status": answer})
    reset = view201(station).last_reset
    assert (reset.type, reset.evse_id, reset.status) == (request_["type"], request_.get("evseId"), answer)


def availability(station: Station201) -> list[tuple]:
    return [(a.evse_id, a.connector_id, a.operational_status, a.status) for a in view201(station).availability]


def test_requested_availability_per_station_evse_and_connector_g03_g04():
    station = Station201()
    change = lambda status, evse=None, answer="Accepted": command(  # noqa: E731
        station, "ChangeAvailability", {"operationalStatus": status, **({"evse": evse} if evse else {})},
        {"status": answer})
    change("Inoperative", {"id": 1, "connectorId": 1})
    change("Inoperative", {"id": 2, "connectorId": 1}, "Scheduled")
    change("Operative", {"id": 3}, "Rejected")
    assert availability(station) == [(1, 1, "Inoperative", "Accepted"), (2, 1, "Inoperative", "Scheduled")]
    change("Operative", {"id": 1})  # the EVSE supersedes its connectors
    assert availability(station) == [(1, None, "Operative", "Accepted"), (2, 1, "Inoperative", "Scheduled")]
    change("Inoperative", {"id": 0})  # EVSE 0 is the station: it supersedes everything
    assert availability(station) == [(None, None, "Inoperative", "Accepted")]
    assert builtins(station.replayed().state) == builtins(station.state)


def test_a_triggered_message_gets_through_before_an_accepted_boot_f06_b02():
    station = Station201("Pending")
    assert "SecurityError" in station.refuse("StatusNotification", {
        "timestamp": ts(1), "connectorStatus": "Available", "evseId": 1, "connectorId": 1})
    command(station, "TriggerMessage", {"requestedMessage": "StatusNotification"}, {"status": "Accepted"})
    command(station, "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}, {"status": "Accepted"})
    command(station, "TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Rejected"})
    assert station.state.triggered_messages == ["StatusNotification", "SignCertificate"]
    station.answer("StatusNotification", {"timestamp": ts(1), "connectorStatus": "Available", "evseId": 1,
                                          "connectorId": 1})
    assert station.state.triggered_messages == ["SignCertificate"]  # one trigger, one request
    assert "SecurityError" in station.refuse("Heartbeat", {})


# Local list (D01, D02)


def local_list(station: Station201) -> dict[str, tuple]:
    return {k: (e.status, e.token_type, e.parent_id_tag) for k, e in part(station).local_list.items()}


def entry(token: str, status: str | None = "Accepted", kind: str = "ISO14443", **info) -> dict:
    data: dict[str, Any] = {"idToken": {"idToken": token, "type": kind}}
    if status is not None:
        data["idTokenInfo"] = {"status": status, **info}
    return data


def test_the_local_list_is_kept_full_then_differential_d01():
    station = Station201()
    command(station, "SendLocalList", {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [
        entry("a1"), entry("B2", "Blocked"), entry("c3", groupIdToken={"idToken": "G", "type": "Central"})]},
        {"status": "Accepted"})
    command(station, "SendLocalList", {"versionNumber": 2, "updateType": "Differential", "localAuthorizationList": [
        entry("A1", None), entry("d4", "Accepted", "eMAID")]}, {"status": "Accepted"})
    command(station, "SendLocalList", {"versionNumber": 3, "updateType": "Full"}, {"status": "VersionMismatch"})
    assert local_list(station) == {"B2/ISO14443": ("Blocked", "ISO14443", None),
                                   "C3/ISO14443": ("Accepted", "ISO14443", "G"),
                                   "D4/eMAID": ("Accepted", "eMAID", None)}
    command(station, "GetLocalListVersion", {}, {"versionNumber": 2})
    shown = view201(station).local_list
    assert (shown.version, shown.entries, shown.station_reported_version) == (2, 3, 2)
    command(station, "SendLocalList", {"versionNumber": 5, "updateType": "Full"}, {"status": "Accepted"})
    assert local_list(station) == {} and part(station).local_list_version == 5
    assert builtins(station.replayed().state) == builtins(station.state)


# Reservations (H01-H04)


def reservations(station: Station201) -> list[tuple]:
    return [(r.reservation_id, r.evse_id, r.id_token) for r in view201(station).reservations]


def reserve(station: Station201, rid: int, evse: int | None, status: str = "Accepted", minutes: float = 60) -> None:
    payload = {"id": rid, "expiryDateTime": ts(minutes), "idToken": TOKEN, **({"evseId": evse} if evse else {})}
    command(station, "ReserveNow", payload, {"status": status})


def test_reservations_are_kept_until_cancelled_expired_updated_or_used_h01_h04():
    station = Station201()
    reserve(station, 1, 1)
    reserve(station, 2, 2)
    reserve(station, 3, None)
    reserve(station, 4, 4, "Occupied")
    reserve(station, 5, 1)  # Accepted on EVSE 1: reservation 1 is no longer there
    assert reservations(station) == [(2, 2, "TAG1"), (3, None, "TAG1"), (5, 1, "TAG1")]
    command(station, "CancelReservation", {"reservationId": 2}, {"status": "Accepted"})
    station.answer("ReservationStatusUpdate", {"reservationId": 3, "reservationUpdateStatus": "Removed"})
    assert reservations(station) == [(5, 1, "TAG1")]
    station.answer("TransactionEvent", {**tx_event("Started", 0, "tx-res"), "reservationId": 5})
    assert reservations(station) == []
    reserve(station, 6, 3, minutes=0.5)
    station.clock_us = T0 + 2 * MINUTE_US  # the view at a later time: the reservation expired
    assert reservations(station) == []
    assert builtins(station.replayed().state) == builtins(station.state)


def test_a_rejected_cancel_means_the_station_holds_none_h02():
    station = Station201()
    reserve(station, 1, 1)
    command(station, "CancelReservation", {"reservationId": 1}, {"status": "Rejected"})
    assert reservations(station) == []


# --- replay equality ----------------------------------------------------------------------------------

ANSWERS: dict[str, dict] = {
    "GetBaseReport": {"status": "Accepted"},
    "GetReport": {"status": "Accepted"},
    "GetVariables": {"getVariableResult": [get_result("HeartbeatInterval", "Accepted", "300")]},
    "SetVariables": {"setVariableResult": [set_result("HeartbeatInterval", "RebootRequired")]},
    "RequestStartTransaction": {"status": "Accepted"},
    "GetTransactionStatus": {"messagesInQueue": True, "ongoingIndicator": True},
    "Reset": {"status": "Scheduled"},
    "ChangeAvailability": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "GetLocalListVersion": {"versionNumber": 4},
    "ReserveNow": {"status": "Accepted"},
    "CancelReservation": {"status": "Accepted"},
    # actors/ocpp201/certificates.py
    "CertificateSigned": {"status": "Accepted"},
    "InstallCertificate": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "Accepted", "certificateHashDataChain": [{
        "certificateType": "CSMSRootCertificate", "certificateHashData": {
            "hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b", "serialNumber": "1"}}]},
    "DeleteCertificate": {"status": "Accepted"},
}
# Every fold of the core features (the other features' replay tests are in their own modules:
# tests/test_ocpp201_smart_charging.py, ..._firmware_logs.py, ..._display_messages.py, ...).
CORE_FEATURES = (device_model_feature, remote_control_feature, local_list_feature, reservations_feature,
                 certificates_feature)
assert set(ANSWERS) == {a for f in CORE_FEATURES for a in f.COMMAND_RESULTS
                        if a in VALID and a not in secrets.SECRET_BEARING} | {"SetVariables"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(ANSWERS)), max_size=12),
       st.lists(st.sampled_from(["tx", "status", "report"]), max_size=4))
def test_any_sequence_of_commands_and_station_messages_replays_to_the_same_state(actions, station_messages):
    station = Station201()
    for i, action in enumerate(actions):
        command(station, action, VALID[action], ANSWERS[action])
        if i < len(station_messages):
            kind = station_messages[i]
            if kind == "tx":
                station.answer("TransactionEvent", tx_event("Started", 0, f"tx-{i}", info={"remoteStartId": 77},
                                                            samples=[register(100.0 * i)]))
            elif kind == "status":
                station.answer("ReservationStatusUpdate", {"reservationId": 3, "reservationUpdateStatus": "Expired"})
            else:
                station.answer("NotifyReport", {"requestId": 21, "generatedAt": ts(1), "seqNo": i, "tbc": True})
    assert builtins(station.replayed().state) == builtins(station.state)
