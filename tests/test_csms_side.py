"""CSMS-initiated OCPP 1.6 commands, without Ray or sockets: which payloads an operator may send,
what each answer changes in the station's state, and that replaying the log rebuilds it.

Commands go through `StationSession.send_command` and the station's answer through
`StationSession.handle`, exactly as the host drives them; the station of
tests.test_station_session keeps every event so any test can replay the log.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ocppj
from actors.ocpp16.csms_side import (
    COMMAND_RESULTS,
    COMMANDS,
    MASK,
    TRIGGERED_MESSAGES_KEPT,
    apply_command_result,
    decode_command,
    decode_command_result,
)
from actors.station_session import Outcome
from actors.station_state import StationState
from actors.views import station_view
from tests.ocpp_schema_cases import Mutation, SchemaCases, compare_with_library, library_validator
from tests.test_station_session import (
    DAY,
    MINUTE_US,
    Station,
    builtins,
    start,
    status,
    stop,
    ts,
)

DAY_US = int(DAY.timestamp() * 1_000_000)

# One valid payload per CSMS-initiated action (OCPP 1.6 section 5).
PROFILE = {
    "chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]},
}
TX_PROFILE = {**PROFILE, "chargingProfileId": 8, "chargingProfilePurpose": "TxProfile"}
HASH_DATA = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64, "serialNumber": "1f"}
VALID = {
    "CancelReservation": {"reservationId": 1},
    "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "600"},
    "ClearCache": {},
    "ClearChargingProfile": {"id": 7},
    "DataTransfer": {"vendorId": "com.acme", "messageId": "ping", "data": "x"},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "GetDiagnostics": {"location": "ftp://logs.example.com/in/", "startTime": ts(0), "stopTime": ts(60)},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"idTag": "TAG1", "connectorId": 1, "chargingProfile": TX_PROFILE},
    "RemoteStopTransaction": {"transactionId": 1},
    "ReserveNow": {"connectorId": 1, "expiryDate": ts(120), "idTag": "TAG1", "reservationId": 1, "parentIdTag": "P"},
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 1, "updateType": "Full",
                      "localAuthorizationList": [{"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}]},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": PROFILE},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 0},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {"location": "https://fw.example.com/v2.bin", "retrieveDate": ts(30), "retries": 3, "retryInterval": 60},
    # The security whitepaper (edition 3).
    "SignedUpdateFirmware": {"requestId": 7, "retries": 2, "retryInterval": 30, "firmware": {
        "location": "ftp://fw.example.com/v3.bin", "retrieveDateTime": ts(30), "installDateTime": ts(45),
        "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "signature": "c2ln"}},
    "GetLog": {"logType": "SecurityLog", "requestId": 8, "log": {
        "remoteLocation": "ftp://logs.example.com/in/", "oldestTimestamp": ts(0), "latestTimestamp": ts(60)}},
    # The security whitepaper's (actors/ocpp16/certificates.py).
    "CertificateSigned": {"certificateChain": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    "DeleteCertificate": {"certificateHashData": HASH_DATA},
    "ExtendedTriggerMessage": {"requestedMessage": "SignChargePointCertificate"},
    "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
    "InstallCertificate": {"certificateType": "ManufacturerRootCertificate",
                           "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
}
assert VALID.keys() == COMMANDS.keys()


def encoded(payload: Any) -> bytes:
    return msgspec.json.encode(payload)


def accepts(action: str, payload: Any) -> bool:
    try:
        decode_command(action, encoded(payload))
    except msgspec.ValidationError:
        return False
    return True


# --- request validation: what the operator API refuses with 422 ----------------------------


@pytest.mark.parametrize("action", sorted(VALID))
def test_valid_command_payload_is_accepted(action):
    assert accepts(action, VALID[action])


@pytest.mark.parametrize("action", sorted(VALID))
def test_decoded_command_encodes_back_to_the_same_payload(action):
    request = decode_command(action, encoded(VALID[action]))
    assert json.loads(msgspec.json.encode(request)) == VALID[action]


@pytest.mark.parametrize("action", sorted(VALID))
def test_unknown_field_is_refused(action):
    assert not accepts(action, {**VALID[action], "colour": "red"})


@pytest.mark.parametrize("action", sorted(VALID))
def test_payload_that_is_not_an_object_is_refused(action):
    assert not accepts(action, [VALID[action]])


def without(payload: dict, key: str) -> dict:
    return {k: v for k, v in payload.items() if k != key}


MISSING_REQUIRED_FIELD = [
    ("CancelReservation", "reservationId"),
    ("ChangeAvailability", "connectorId"),
    ("ChangeAvailability", "type"),
    ("ChangeConfiguration", "key"),
    ("ChangeConfiguration", "value"),
    ("DataTransfer", "vendorId"),
    ("GetCompositeSchedule", "connectorId"),
    ("GetCompositeSchedule", "duration"),
    ("GetDiagnostics", "location"),
    ("RemoteStartTransaction", "idTag"),
    ("RemoteStopTransaction", "transactionId"),
    ("ReserveNow", "connectorId"),
    ("ReserveNow", "expiryDate"),
    ("ReserveNow", "idTag"),
    ("ReserveNow", "reservationId"),
    ("Reset", "type"),
    ("SendLocalList", "listVersion"),
    ("SendLocalList", "updateType"),
    ("SetChargingProfile", "connectorId"),
    ("SetChargingProfile", "csChargingProfiles"),
    ("TriggerMessage", "requestedMessage"),
    ("UnlockConnector", "connectorId"),
    ("UpdateFirmware", "location"),
    ("UpdateFirmware", "retrieveDate"),
    ("CertificateSigned", "certificateChain"),
    ("DeleteCertificate", "certificateHashData"),
    ("ExtendedTriggerMessage", "requestedMessage"),
    ("GetInstalledCertificateIds", "certificateType"),
    ("InstallCertificate", "certificateType"),
    ("InstallCertificate", "certificate"),
]


@pytest.mark.parametrize(("action", "field"), MISSING_REQUIRED_FIELD)
def test_missing_required_field_is_refused(action, field):
    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{field}`"):
        decode_command(action, encoded(without(VALID[action], field)))


WRONG_TYPE = [
    ("CancelReservation", {"reservationId": "1"}),
    ("ChangeAvailability", {"connectorId": 1.5, "type": "Operative"}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 600}),
    ("ClearCache", []),
    ("ClearChargingProfile", {"id": "7"}),
    ("DataTransfer", {"vendorId": 42}),
    ("GetCompositeSchedule", {"connectorId": 1, "duration": "1h"}),
    ("GetConfiguration", {"key": "HeartbeatInterval"}),
    ("GetDiagnostics", {"location": ["ftp://x/"]}),
    ("GetLocalListVersion", "now"),
    ("RemoteStartTransaction", {"idTag": 12345}),
    ("RemoteStopTransaction", {"transactionId": None}),
    ("ReserveNow", {**VALID["ReserveNow"], "reservationId": True}),
    ("Reset", {"type": 1}),
    ("SendLocalList", {"listVersion": "2", "updateType": "Full"}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": [PROFILE]}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": "1"}),
    ("UnlockConnector", {"connectorId": [1]}),
    ("UpdateFirmware", {**VALID["UpdateFirmware"], "retries": 1.5}),
    ("SignedUpdateFirmware", {**VALID["SignedUpdateFirmware"], "requestId": "7"}),
    ("GetLog", {**VALID["GetLog"], "logType": ["SecurityLog"]}),
    ("CertificateSigned", {"certificateChain": ["x"]}),
    ("DeleteCertificate", {"certificateHashData": {**HASH_DATA, "serialNumber": 31}}),
    ("ExtendedTriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": "1"}),
    ("GetInstalledCertificateIds", {"certificateType": 1}),
    ("InstallCertificate", {**VALID["InstallCertificate"], "certificate": None}),
]
assert {a for a, _ in WRONG_TYPE} == COMMANDS.keys()


@pytest.mark.parametrize(("action", "payload"), WRONG_TYPE)
def test_field_of_the_wrong_type_is_refused(action, payload):
    with pytest.raises(msgspec.ValidationError, match="Expected `"):
        decode_command(action, encoded(payload))


BAD_ENUM = [
    ("ChangeAvailability", {"connectorId": 0, "type": "Closed"}),
    ("ClearChargingProfile", {"chargingProfilePurpose": "TxMaxProfile"}),
    ("GetCompositeSchedule", {"connectorId": 0, "duration": 60, "chargingRateUnit": "kW"}),
    ("RemoteStartTransaction", {"idTag": "T", "chargingProfile": {**TX_PROFILE, "chargingProfileKind": "Once"}}),
    ("Reset", {"type": "hard"}),
    ("SendLocalList", {"listVersion": 1, "updateType": "Partial"}),
    ("SendLocalList", {"listVersion": 1, "updateType": "Differential",
                       "localAuthorizationList": [{"idTag": "T", "idTagInfo": {"status": "Allowed"}}]}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**PROFILE, "recurrencyKind": "Monthly"}}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        **PROFILE, "chargingSchedule": {**PROFILE["chargingSchedule"], "chargingRateUnit": "kW"}}}),
    ("TriggerMessage", {"requestedMessage": "StartTransaction"}),
]


@pytest.mark.parametrize(("action", "payload"), BAD_ENUM)
def test_value_outside_its_enumeration_is_refused(action, payload):
    with pytest.raises(msgspec.ValidationError, match="Expected `str` matching one of|Invalid enum value"):
        decode_command(action, encoded(payload))


@pytest.mark.parametrize(
    ("action", "field", "limit"),
    [("ChangeConfiguration", "key", 50), ("ChangeConfiguration", "value", 500), ("RemoteStartTransaction", "idTag", 20),
     ("ReserveNow", "idTag", 20), ("ReserveNow", "parentIdTag", 20), ("DataTransfer", "vendorId", 255),
     ("DataTransfer", "messageId", 50)],
)
def test_ci_string_past_its_length_is_refused(action, field, limit):
    assert accepts(action, {**VALID[action], field: "a" * limit})
    assert not accepts(action, {**VALID[action], field: "a" * (limit + 1)})


# Rules the 1.6 text states and the JSON schemas leave out.


def test_remote_start_profile_must_be_a_tx_profile():
    # 1.6 sections 5.11 and 5.16: "the ChargingProfilePurpose MUST be set to TxProfile".
    assert accepts("RemoteStartTransaction", {"idTag": "T", "chargingProfile": TX_PROFILE})
    with pytest.raises(msgspec.ValidationError, match="TxProfile"):
        decode_command("RemoteStartTransaction", encoded({"idTag": "T", "chargingProfile": PROFILE}))


def test_remote_start_without_connector_or_profile_is_accepted():
    assert accepts("RemoteStartTransaction", {"idTag": "T"})


@pytest.mark.parametrize("action", ["RemoteStartTransaction", "UnlockConnector"])
def test_connector_zero_is_refused_where_a_real_connector_is_named(action):
    # "connectorId > 0" (1.6 sections 6.33 and 6.53).
    assert not accepts(action, {**VALID[action], "connectorId": 0})


@pytest.mark.parametrize("action", ["ChangeAvailability", "GetCompositeSchedule", "ReserveNow", "SetChargingProfile",
                                    "TriggerMessage", "ClearChargingProfile"])
def test_connector_zero_is_the_whole_station_where_the_spec_allows_it(action):
    payload = {**VALID[action], "connectorId": 0}
    if action == "SetChargingProfile":
        payload["csChargingProfiles"] = {**PROFILE, "chargingProfilePurpose": "ChargePointMaxProfile"}
    assert accepts(action, payload)


@pytest.mark.parametrize("action", ["ChangeAvailability", "ReserveNow", "UnlockConnector", "TriggerMessage"])
def test_negative_connector_is_refused(action):
    assert not accepts(action, {**VALID[action], "connectorId": -1})


def test_charge_point_max_profile_only_at_connector_zero():
    # 1.6 section 3.13.1: "ChargePointMaxProfile can only be set at Charge Point ConnectorId 0".
    max_profile = {**PROFILE, "chargingProfilePurpose": "ChargePointMaxProfile"}
    assert accepts("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": max_profile})
    with pytest.raises(msgspec.ValidationError, match="connectorId 0"):
        decode_command("SetChargingProfile", encoded({"connectorId": 2, "csChargingProfiles": max_profile}))


def test_transaction_id_only_in_a_tx_profile():
    assert accepts("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**TX_PROFILE, "transactionId": 3}})
    with pytest.raises(msgspec.ValidationError, match="only valid in a TxProfile"):
        decode_command("SetChargingProfile", encoded({"connectorId": 1, "csChargingProfiles": {**PROFILE, "transactionId": 3}}))


def test_negative_stack_level_is_refused():
    assert not accepts("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**PROFILE, "stackLevel": -1}})
    assert not accepts("ClearChargingProfile", {"stackLevel": -1})


def test_schedule_needs_at_least_one_period():
    empty = {**PROFILE, "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": []}}
    assert not accepts("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": empty})


def with_limit(limit: Any, min_rate: Any = None) -> dict:
    schedule: dict[str, Any] = {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
    if min_rate is not None:
        schedule["minChargingRate"] = min_rate
    return {"connectorId": 1, "csChargingProfiles": {**PROFILE, "chargingSchedule": schedule}}


@pytest.mark.parametrize("limit", [16, 16.0, 6.3, 0.3, 0.1, 11000, 7.7, 0])
def test_limit_with_at_most_one_decimal_is_accepted(limit):
    # Including 6.3 and 0.3, which the library's jsonschema refuses by floating point error.
    assert accepts("SetChargingProfile", with_limit(limit))


@pytest.mark.parametrize("limit", [6.35, 0.05, 16.01])
def test_limit_with_more_decimals_is_refused(limit):
    with pytest.raises(msgspec.ValidationError, match="at most one decimal"):
        decode_command("SetChargingProfile", encoded(with_limit(limit)))


def test_limit_too_large_for_a_float_is_refused():
    # msgspec refuses 1e400 rather than read it as inf (which would go out as null).
    text = encoded(with_limit(16)).replace(b'"limit":16', b'"limit":1e400')
    with pytest.raises(msgspec.ValidationError, match="out of range"):
        decode_command("SetChargingProfile", text)


def test_min_charging_rate_with_more_decimals_is_refused():
    assert accepts("SetChargingProfile", with_limit(16, min_rate=6.5))
    assert not accepts("SetChargingProfile", with_limit(16, min_rate=6.55))


def test_full_local_list_entries_need_their_id_tag_info():
    # Section 7, AuthorizationData: idTagInfo is "Required when UpdateType is Full".
    entry = [{"idTag": "T"}]
    assert accepts("SendLocalList", {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": entry})
    with pytest.raises(msgspec.ValidationError, match="Full update"):
        decode_command("SendLocalList", encoded({"listVersion": 2, "updateType": "Full", "localAuthorizationList": entry}))


def test_full_local_list_may_be_empty_or_absent():
    assert accepts("SendLocalList", {"listVersion": 2, "updateType": "Full", "localAuthorizationList": []})
    assert accepts("SendLocalList", {"listVersion": 2, "updateType": "Full"})


@pytest.mark.parametrize("location", ["ftp://u@host/dir/", "https://fw.example.com/a.bin", "sftp://h:22/x", "file:/tmp/x"])
def test_location_with_a_scheme_is_accepted(location):
    assert accepts("UpdateFirmware", {**VALID["UpdateFirmware"], "location": location})
    assert accepts("GetDiagnostics", {"location": location})


@pytest.mark.parametrize("location", ["", "fw.example.com/a.bin", "/tmp/x", "ftp://a b/", "1ftp://host/"])
def test_location_without_a_scheme_is_refused(location):
    assert not accepts("UpdateFirmware", {**VALID["UpdateFirmware"], "location": location})
    assert not accepts("GetDiagnostics", {"location": location})


@pytest.mark.parametrize("text", ["tomorrow", "2024-03-01", "2024-02-30T10:00:00Z"])
def test_timestamps_must_be_rfc3339(text):
    assert not accepts("ReserveNow", {**VALID["ReserveNow"], "expiryDate": text})
    assert not accepts("UpdateFirmware", {**VALID["UpdateFirmware"], "retrieveDate": text})


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_integers_are_32_bit(value):
    assert not accepts("RemoteStopTransaction", {"transactionId": value})
    assert accepts("RemoteStopTransaction", {"transactionId": 2**31 - 1})


def test_unknown_action_has_no_command():
    assert "BootNotification" not in COMMANDS and "Heartbeat" not in COMMANDS
    with pytest.raises(KeyError):
        decode_command("FlyToTheMoon", b"{}")


# --- agreement with the ocpp library's 1.6 request schemas -------------------------------------
#
# As in tests/test_station_session.py: payloads derived mechanically, by tests/ocpp_schema_cases.py,
# from the library's schemas (ocpp/v16/schemas/<Action>.json), a full and a minimal one, then one
# change at a time at every node. Our decoder must accept exactly what the schema accepts, except
# for these differences:

KNOWN_DIFFERENCES = {
    "null for an optional field": (
        "we accept, the schema rejects: msgspec reads null as absent (as for station requests)"
    ),
    "integer outside int32": "we reject: OCPP 1.6 integers are 32-bit signed",
    "negative connectorId": "we reject: connector ids are >= 0 in OCPP 1.6",
    "connectorId 0 where a connector is named": (
        "we reject: RemoteStartTransaction and UnlockConnector say connectorId > 0 (6.33, 6.53)"
    ),
    "timestamp not RFC 3339": "we reject: the library does not check 'format: date-time'",
    "location not a URI": (
        "we reject: the library does not check 'format: uri' either (the security whitepaper's string[512] "
        "locations have no format at all); a station fetches nothing from 'abc'"
    ),
    "negative stackLevel": "we reject: 'Lowest level is 0' (section 7, ChargingProfile)",
    "empty chargingSchedulePeriod": "we reject: 1..* in section 7, ChargingSchedule; the schema has no minItems",
    "one decimal the library's float division refuses": (
        "we accept 0.3 or 6.3: 'at most one digit fraction'; jsonschema's multipleOf 0.1 computes 0.3 / 0.1 "
        "= 2.9999999999999996 and refuses it"
    ),
    "RemoteStartTransaction profile not a TxProfile": "we reject: sections 5.11 and 5.16 say it MUST be TxProfile",
    "ChargePointMaxProfile away from connector 0": "we reject: section 3.13.1",
    "transactionId outside a TxProfile": "we reject: 'Only valid if ChargingProfilePurpose is set to TxProfile'",
    "Full update entry without idTagInfo": "we reject: 'Required when UpdateType is Full' (section 7, AuthorizationData)",
}

# Where the first enum value or a plain string would make a payload invalid for the 1.6 text,
# the base payload uses one that the text allows.
SAMPLE_OVERRIDES = {"chargingProfilePurpose": "TxProfile", "updateType": "Full", "location": "ftp://example.com/x",
                    "remoteLocation": "ftp://example.com/logs/"}
CASES = SchemaCases(sample_overrides=SAMPLE_OVERRIDES)


def why_we_differ(action: str, mutation: Mutation, payload: Any, we: bool) -> str | None:
    value, node = mutation.value, mutation.node
    name = mutation.path[-1] if mutation.path else ""
    is_int = type(value) is int
    if we:
        if value is None and not mutation.required and mutation.what != "dropped":
            return "null for an optional field"
        if node.get("type") == "number" and isinstance(value, float) and round(value, 1) == value:
            return "one decimal the library's float division refuses"
        return None
    if node.get("type") == "integer" and is_int and not -(2**31) <= value < 2**31:
        return "integer outside int32"
    if name == "connectorId" and is_int and value < 0:
        return "negative connectorId"
    if name == "connectorId" and value == 0 and action in ("RemoteStartTransaction", "UnlockConnector"):
        return "connectorId 0 where a connector is named"
    if node.get("format") == "date-time":
        return "timestamp not RFC 3339"
    if node.get("format") == "uri" or name in ("location", "remoteLocation"):
        return "location not a URI"
    if name == "stackLevel" and is_int and value < 0:
        return "negative stackLevel"
    if name == "chargingSchedulePeriod" and value == []:
        return "empty chargingSchedulePeriod"
    if name == "chargingProfilePurpose" and value != "TxProfile":
        if action == "RemoteStartTransaction":
            return "RemoteStartTransaction profile not a TxProfile"
        if "transactionId" in payload["csChargingProfiles"]:
            return "transactionId outside a TxProfile"
        if value == "ChargePointMaxProfile" and payload["connectorId"] != 0:
            return "ChargePointMaxProfile away from connector 0"
    if name == "idTagInfo" and mutation.what == "dropped":
        return "Full update entry without idTagInfo"
    return None


@pytest.mark.parametrize("action", sorted(COMMANDS))
def test_command_decoder_accepts_exactly_what_the_ocpp_library_schema_accepts(action):
    unexplained, _explained, count = compare_with_library(CASES, action, accepts, why_we_differ)
    assert count > 25
    assert unexplained == []


def test_every_known_difference_from_the_library_request_schemas_still_exists():
    seen: set[str] = set()
    for action in COMMANDS:
        seen |= compare_with_library(CASES, action, accepts, why_we_differ)[1]
    assert seen == set(KNOWN_DIFFERENCES)


@pytest.mark.parametrize("action", sorted(COMMANDS))
def test_every_answer_the_library_schema_accepts_decodes(action):
    # Answers are lenient: whatever the 1.6 response schema allows must decode, bar timestamps
    # we cannot read. (We also take more: unknown fields, longer strings.)
    validator = library_validator(ocppj.CALLRESULT, action)
    refused = []
    for mutation, payload in CASES.mutated_payloads(ocppj.CALLRESULT, action):
        if not validator.is_valid(payload) or mutation.node.get("format") == "date-time":
            continue
        try:
            decode_command_result(action, encoded(payload))
        except msgspec.ValidationError as exc:
            refused.append(f"{'/'.join(map(str, mutation.path))} {mutation.what}: {exc}")
    assert refused == []


def test_answers_with_unknown_fields_and_long_values_decode():
    answer = {"configurationKey": [{"key": "K" * 80, "readonly": False, "value": "v" * 2000, "vendorNote": 1}],
              "unknownKey": ["x" * 90], "extra": {}}
    decoded = decode_command_result("GetConfiguration", encoded(answer))
    assert decoded.configurationKey[0].value == "v" * 2000


def test_answer_with_a_status_outside_the_spec_does_not_decode():
    with pytest.raises(msgspec.ValidationError):
        decode_command_result("Reset", b'{"status":"Maybe"}')


# --- commands through a session ---------------------------------------------------------------

_command_ids = itertools.count(1)


def send_command(station: Station, action: str, payload: Any) -> str:
    """Send a command as the host does (validated, re-encoded, logged); its message id."""
    message_id = f"csms-{next(_command_ids)}"
    request = decode_command(action, encoded(payload))
    station.clock_us += 1_000_000
    frame, event = station.session.send_command(message_id, action, msgspec.json.encode(request).decode(), station.clock_us)
    assert json.loads(frame) == [ocppj.CALL, message_id, action, json.loads(msgspec.json.encode(request))]
    station.log.append(event)
    return message_id


def command(station: Station, action: str, payload: Any, answer: Any) -> Outcome:
    """Send a command and let the station answer it with a CALLRESULT."""
    message_id = send_command(station, action, payload)
    outcome = station.send(json.dumps([ocppj.CALLRESULT, message_id, answer]))
    assert outcome.answer is not None and outcome.answer.ok and outcome.answer.message_id == message_id
    assert outcome.replies == []
    return outcome


def view(station: Station):
    return station_view(station.state, station.clock_us)


def test_send_command_remembers_the_command_until_its_answer():
    station = Station()
    message_id = send_command(station, "Reset", {"type": "Hard"})
    assert station.state.pending_command == (message_id, "Reset", '{"type":"Hard"}')
    station.send(json.dumps([3, message_id, {"status": "Accepted"}]))
    assert station.state.pending_command is None


def test_answer_event_carries_the_action_of_its_command():
    station = Station()
    outcome = command(station, "ClearCache", {}, {"status": "Accepted"})
    (event,) = outcome.events
    assert (event.direction, event.message_type, event.action, event.payload) == ("in", "CALLRESULT", "ClearCache", '{"status": "Accepted"}')


def test_call_error_answer_changes_nothing_but_ends_the_wait():
    station = Station()
    message_id = send_command(station, "ReserveNow", VALID["ReserveNow"])
    outcome = station.send(json.dumps([4, message_id, "NotSupported", "no reservations here", {}]))
    assert outcome.answer is not None and not outcome.answer.ok and outcome.answer.error_code == "NotSupported"
    assert outcome.events[0].action == "ReserveNow"
    assert station.state.reservations == {} and station.state.pending_command is None


def test_answer_with_another_message_id_changes_nothing():
    station = Station()
    message_id = send_command(station, "ReserveNow", VALID["ReserveNow"])
    outcome = station.send(json.dumps([3, "someone-else", {"status": "Accepted"}]))
    assert outcome.events[0].action == ""
    assert station.state.reservations == {}
    assert station.state.pending_command is not None and station.state.pending_command[0] == message_id


def test_late_answer_to_a_replaced_command_changes_nothing():
    # The mailbox gave up on the first command (timeout) and sent the next one.
    station = Station()
    first = send_command(station, "ReserveNow", VALID["ReserveNow"])
    second = send_command(station, "GetLocalListVersion", {})
    station.send(json.dumps([3, first, {"status": "Accepted"}]))
    assert station.state.reservations == {}
    station.send(json.dumps([3, second, {"listVersion": 4}]))
    assert station.state.station_local_list_version == 4


@pytest.mark.parametrize("answer", ['{"status":"Perhaps"}', "[]", '"Accepted"', "{}", '{"status":1}', "null"])
def test_answer_that_does_not_decode_for_its_action_changes_nothing_and_does_not_raise(answer):
    station = Station()
    message_id = send_command(station, "ReserveNow", VALID["ReserveNow"])
    before = builtins(station.state)
    outcome = station.send(f'[3,"{message_id}",{answer}]')
    assert outcome.answer is not None and outcome.answer.ok and json.loads(outcome.answer.payload) == json.loads(answer)
    after = builtins(station.state)
    assert (after.pop("pending_command"), after.pop("last_seen_us")) == (None, station.clock_us)
    before.pop("pending_command"), before.pop("last_seen_us")
    assert after == before


def test_apply_command_result_reports_whether_it_applied():
    state = StationState(station_id="S")
    request = json.dumps(VALID["ReserveNow"])
    assert apply_command_result(state, "ReserveNow", request, '{"status":"Accepted"}', 0)
    assert not apply_command_result(state, "ReserveNow", request, '{"status":"?"}', 0)
    assert not apply_command_result(state, "ReserveNow", "{not json", '{"status":"Accepted"}', 0)
    assert not apply_command_result(state, "Reset", '{"type":"Hard"}', '{"status":"Accepted"}', 0)


NO_STATE_ACTIONS = sorted(COMMANDS.keys() - COMMAND_RESULTS.keys())
NO_STATE_ANSWERS = {
    "ClearCache": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted", "data": {"vendor": "puts objects here"}},
    "GetCompositeSchedule": {"status": "Accepted", "connectorId": 1, "scheduleStart": ts(0), "chargingSchedule": {
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.36}]}},
    "RemoteStopTransaction": {"status": "Rejected"},
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
}
assert set(NO_STATE_ANSWERS) == set(NO_STATE_ACTIONS)


@pytest.mark.parametrize("action", NO_STATE_ACTIONS)
def test_commands_that_change_nothing_live_on_in_the_log_only(action):
    station = Station()
    before = builtins(station.state)
    outcome = command(station, action, VALID[action], NO_STATE_ANSWERS[action])
    decode_command_result(action, outcome.answer.payload)
    after = builtins(station.state)
    for changing in ("last_seen_us", "pending_command"):
        before.pop(changing), after.pop(changing)
    assert after == before
    assert [e.message_type for e in station.log[-2:]] == ["CALL", "CALLRESULT"]


# --- ChangeAvailability (1.6 section 5.2) --------------------------------------------------------


@pytest.mark.parametrize("status", ["Accepted", "Scheduled"])
def test_change_availability_accepted_or_scheduled_is_recorded(status):
    station = Station()
    command(station, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": status})
    (availability,) = view(station).availability
    assert (availability.connector_id, availability.type, availability.status) == (2, "Inoperative", status)


def test_change_availability_rejected_changes_nothing():
    station = Station()
    command(station, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Rejected"})
    assert station.state.availability == {}


def test_change_availability_of_connector_zero_supersedes_single_connectors():
    station = Station()
    command(station, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"})
    command(station, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"})
    command(station, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, {"status": "Accepted"})
    assert [(a.connector_id, a.type) for a in view(station).availability] == [(0, "Operative")]


# --- GetConfiguration (5.8) and ChangeConfiguration (5.3) -------------------------------------------

FULL_CONFIGURATION = {
    "configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        {"key": "AuthorizationKey", "readonly": False, "value": "0011223344556677"},
        {"key": "LocalAuthListEnabled", "readonly": False},
    ],
}


def configuration(station: Station) -> dict[str, tuple]:
    return {k.key: (k.value, k.readonly, k.reboot_required) for k in view(station).configuration.keys}


def test_get_configuration_of_all_keys_stores_what_the_station_reported():
    station = Station()
    command(station, "GetConfiguration", {}, FULL_CONFIGURATION)
    assert configuration(station) == {
        "HeartbeatInterval": ("300", False, False),
        "NumberOfConnectors": ("2", True, False),
        "AuthorizationKey": (MASK, False, False),  # never in clear, even if a station reports it
        "LocalAuthListEnabled": (None, False, False),
    }
    assert view(station).configuration.read_at is not None


def test_authorization_key_reported_by_a_station_is_masked_in_the_log_and_the_answer():
    station = Station()
    outcome = command(station, "GetConfiguration", {"key": ["AuthorizationKey"]}, {
        "configurationKey": [{"key": "authorizationKey", "readonly": False, "value": "0011223344556677"}]})
    assert "0011223344556677" not in outcome.events[0].payload
    assert "0011223344556677" not in outcome.answer.payload
    assert json.loads(outcome.answer.payload)["configurationKey"][0] == {"key": "authorizationKey", "readonly": False, "value": MASK}
    assert builtins(station.replayed().state) == builtins(station.state)


def test_answers_without_secrets_are_logged_as_the_station_sent_them():
    station = Station()
    raw = '{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}] }'
    message_id = send_command(station, "GetConfiguration", {})
    outcome = station.send(f'[3,"{message_id}",{raw}]')
    assert outcome.events[0].payload == raw == outcome.answer.payload


def test_get_configuration_of_all_keys_replaces_the_keys_read_before():
    station = Station()
    command(station, "GetConfiguration", {}, FULL_CONFIGURATION)
    command(station, "GetConfiguration", {"key": []}, {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]})
    assert configuration(station) == {"HeartbeatInterval": ("60", False, False)}


def test_get_configuration_of_some_keys_updates_them_and_drops_the_unknown_ones():
    station = Station()
    command(station, "GetConfiguration", {}, FULL_CONFIGURATION)
    command(station, "GetConfiguration", {"key": ["heartbeatinterval", "NumberOfConnectors", "Bogus"]}, {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "900"}],
        "unknownKey": ["NumberOfConnectors", "Bogus"],
    })
    keys = configuration(station)
    assert keys["HeartbeatInterval"] == ("900", False, False)
    assert "NumberOfConnectors" not in keys and "LocalAuthListEnabled" in keys
    assert view(station).configuration.unknown_keys == ["NumberOfConnectors", "Bogus"]


def test_get_configuration_answer_without_readonly_is_still_stored():
    station = Station()
    command(station, "GetConfiguration", {}, {"configurationKey": [{"key": "MeterValueSampleInterval", "value": "60"}]})
    assert configuration(station) == {"MeterValueSampleInterval": ("60", None, False)}


def test_change_configuration_accepted_updates_the_stored_value():
    station = Station()
    command(station, "GetConfiguration", {}, FULL_CONFIGURATION)
    command(station, "ChangeConfiguration", {"key": "heartbeatInterval", "value": "600"}, {"status": "Accepted"})
    assert configuration(station)["HeartbeatInterval"] == ("600", False, False)


def test_change_configuration_of_a_key_never_read_adds_it():
    station = Station()
    command(station, "ChangeConfiguration", {"key": "MeterValuesSampledData", "value": "Voltage"}, {"status": "Accepted"})
    assert configuration(station) == {"MeterValuesSampledData": ("Voltage", None, False)}


def test_change_configuration_reboot_required_is_flagged_until_the_next_boot():
    station = Station()
    command(station, "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"}, {"status": "RebootRequired"})
    assert configuration(station)["WebSocketPingInterval"] == ("30", None, True)
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    assert configuration(station)["WebSocketPingInterval"] == ("30", None, False)


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
def test_change_configuration_refused_keeps_the_old_value(status):
    station = Station()
    command(station, "GetConfiguration", {}, FULL_CONFIGURATION)
    command(station, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "-5"}, {"status": status})
    assert configuration(station)["HeartbeatInterval"] == ("300", False, False)


def test_authorization_key_is_never_stored_in_clear():
    # The plumbing logs the CALL with the value masked; even a clear one must not reach the state.
    station = Station()
    command(station, "ChangeConfiguration", {"key": "AuthorizationKey", "value": "new-secret-0123456789"}, {"status": "Accepted"})
    assert configuration(station)["AuthorizationKey"] == (MASK, None, False)
    assert "new-secret" not in json.dumps(builtins(station.state))
    assert "new-secret" not in json.dumps(msgspec.to_builtins(view(station)))


# --- SendLocalList (5.15) and GetLocalListVersion (5.10) ---------------------------------------------


def local_list(station: Station) -> dict[str, tuple]:
    return {e.id_tag: (e.status, e.expiry_us, e.parent_id_tag) for e in station.state.local_list.values()}


def full_list(version: int, entries: list[dict]) -> dict:
    return {"listVersion": version, "updateType": "Full", "localAuthorizationList": entries}


def differential(version: int, entries: list[dict]) -> dict:
    return {"listVersion": version, "updateType": "Differential", "localAuthorizationList": entries}


def test_full_local_list_replaces_the_list_and_sets_its_version():
    station = Station()
    command(station, "SendLocalList", full_list(1, [{"idTag": "OLD1", "idTagInfo": {"status": "Accepted"}}]), {"status": "Accepted"})
    command(station, "SendLocalList", full_list(2, [
        {"idTag": "TAG1", "idTagInfo": {"status": "Accepted", "expiryDate": ts(60), "parentIdTag": "FLEET"}},
        {"idTag": "TAG2", "idTagInfo": {"status": "Blocked"}},
    ]), {"status": "Accepted"})
    assert local_list(station) == {"TAG1": ("Accepted", DAY_US + 60 * MINUTE_US, "FLEET"), "TAG2": ("Blocked", None, None)}
    assert (view(station).local_list.version, view(station).local_list.entries) == (2, 2)


def test_full_local_list_without_entries_empties_it():
    station = Station()
    command(station, "SendLocalList", full_list(1, [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}]), {"status": "Accepted"})
    command(station, "SendLocalList", {"listVersion": 2, "updateType": "Full"}, {"status": "Accepted"})
    assert local_list(station) == {} and station.state.local_list_version == 2


def test_differential_local_list_upserts_entries_with_id_tag_info_and_removes_those_without():
    station = Station()
    command(station, "SendLocalList", full_list(1, [
        {"idTag": "KEEP", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "CHANGE", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "Remove", "idTagInfo": {"status": "Accepted"}},
    ]), {"status": "Accepted"})
    command(station, "SendLocalList", differential(2, [
        {"idTag": "change", "idTagInfo": {"status": "Blocked"}},  # IdToken is case-insensitive
        {"idTag": "REMOVE"},
        {"idTag": "NEW", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "NEVER-THERE"},
    ]), {"status": "Accepted"})
    assert local_list(station) == {"KEEP": ("Accepted", None, None), "change": ("Blocked", None, None), "NEW": ("Accepted", None, None)}
    assert station.state.local_list_version == 2


@pytest.mark.parametrize("status", ["Failed", "NotSupported", "VersionMismatch"])
def test_local_list_not_accepted_changes_neither_list_nor_version(status):
    station = Station()
    command(station, "SendLocalList", full_list(1, [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}]), {"status": "Accepted"})
    command(station, "SendLocalList", full_list(2, []), {"status": status})
    assert local_list(station) == {"A": ("Accepted", None, None)} and station.state.local_list_version == 1


@pytest.mark.parametrize("reported", [0, 5, -1])
def test_get_local_list_version_records_what_the_station_reported(reported):
    station = Station()
    command(station, "SendLocalList", full_list(3, []), {"status": "Accepted"})
    command(station, "GetLocalListVersion", {}, {"listVersion": reported})
    shown = view(station).local_list
    assert (shown.version, shown.station_reported_version) == (3, reported)
    assert shown.station_reported_at is not None


def test_reported_local_list_version_too_large_for_a_snapshot_is_not_stored():
    station = Station()
    command(station, "GetLocalListVersion", {}, {"listVersion": 2**70})
    assert station.state.station_local_list_version is None
    msgspec.msgpack.encode(station.state)


# --- ReserveNow (5.13) and CancelReservation (5.1) ---------------------------------------------------

def reserve(station: Station, reservation_id: int = 1, connector: int = 1, minutes: float = 120, tag: str = "TAG1",
            status: str = "Accepted") -> None:
    payload = {"connectorId": connector, "expiryDate": ts(minutes), "idTag": tag, "reservationId": reservation_id}
    command(station, "ReserveNow", payload, {"status": status})


def shown_reservations(station: Station) -> list[tuple]:
    return [(r.reservation_id, r.connector_id, r.id_tag) for r in view(station).reservations]


def test_accepted_reservation_is_shown_with_its_expiry():
    station = Station()
    command(station, "ReserveNow", VALID["ReserveNow"], {"status": "Accepted"})
    (reservation,) = view(station).reservations
    assert (reservation.reservation_id, reservation.connector_id, reservation.id_tag, reservation.parent_id_tag) == (1, 1, "TAG1", "P")
    assert reservation.expires_at == DAY + timedelta(minutes=120)


@pytest.mark.parametrize("status", ["Faulted", "Occupied", "Rejected", "Unavailable"])
def test_reservation_not_accepted_is_not_kept(status):
    station = Station()
    reserve(station, status=status)
    assert station.state.reservations == {}


def test_reservation_with_the_same_id_replaces_the_old_one():
    station = Station()
    reserve(station, 1, connector=1, tag="TAG1")
    reserve(station, 1, connector=2, tag="TAG2")
    assert shown_reservations(station) == [(1, 2, "TAG2")]


def test_new_reservation_on_a_connector_replaces_the_one_the_station_must_have_dropped():
    station = Station()
    reserve(station, 1, connector=1, minutes=1)
    station.clock_us += 5 * MINUTE_US  # the first one expired on the station
    reserve(station, 2, connector=1)
    assert list(station.state.reservations) == [2]


def test_reservations_on_other_connectors_and_the_whole_station_coexist():
    station = Station()
    reserve(station, 1, connector=1)
    reserve(station, 2, connector=2)
    reserve(station, 3, connector=0)
    assert shown_reservations(station) == [(1, 1, "TAG1"), (2, 2, "TAG1"), (3, 0, "TAG1")]


def test_expired_reservation_is_not_shown():
    station = Station()
    reserve(station, 1, minutes=1)
    reserve(station, 2, connector=2, minutes=120)
    assert [r.reservation_id for r in station_view(station.state, DAY_US + 2 * MINUTE_US).reservations] == [2]
    assert station_view(station.state, DAY_US + 121 * MINUTE_US).reservations == []


def test_expired_reservations_are_forgotten_when_the_next_one_is_accepted():
    station = Station()
    reserve(station, 1, minutes=1)
    station.clock_us = DAY_US + 2 * MINUTE_US
    reserve(station, 2, connector=2)
    assert list(station.state.reservations) == [2]


def test_start_transaction_with_the_reservation_id_consumes_it():
    station = Station()
    reserve(station, 5, connector=1)
    reserve(station, 6, connector=2)
    start(station, connector=1, reservationId=5)
    assert shown_reservations(station) == [(6, 2, "TAG1")]


def test_start_transaction_without_reservation_id_leaves_reservations_alone():
    station = Station()
    reserve(station, 5, connector=1)
    start(station, connector=2)
    assert [r[0] for r in shown_reservations(station)] == [5]


@pytest.mark.parametrize("status_value", ["Faulted", "Unavailable"])
def test_connector_becoming_faulted_or_unavailable_ends_its_reservation(status_value):
    station = Station()
    reserve(station, 1, connector=1)
    reserve(station, 2, connector=2)
    status(station, 1, status_value, minute=None)
    assert [r[0] for r in shown_reservations(station)] == [2]


def test_whole_station_becoming_unavailable_ends_every_reservation():
    station = Station()
    reserve(station, 1, connector=1)
    reserve(station, 2, connector=0)
    status(station, 0, "Unavailable", minute=None)
    assert shown_reservations(station) == []


def test_late_faulted_status_from_before_the_reservation_does_not_end_it():
    station = Station()
    reserve(station, 1, connector=1)
    status(station, 1, "Faulted", minute=-30)  # queued offline, dated before the reservation
    assert [r[0] for r in shown_reservations(station)] == [1]


@pytest.mark.parametrize("status_value", ["Accepted", "Rejected"])
def test_cancel_reservation_removes_it(status_value):
    # Rejected: "Reservation for the identifier has not been found": the station has none either.
    station = Station()
    reserve(station, 1, connector=1)
    reserve(station, 2, connector=2)
    command(station, "CancelReservation", {"reservationId": 1}, {"status": status_value})
    assert [r[0] for r in shown_reservations(station)] == [2]


# --- TriggerMessage (5.17) ------------------------------------------------------------------------


def test_accepted_trigger_message_is_remembered_until_the_station_sends_that_request():
    station = Station()
    command(station, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"})
    command(station, "TriggerMessage", {"requestedMessage": "MeterValues"}, {"status": "Accepted"})
    assert station.state.triggered_messages == ["StatusNotification", "MeterValues"]
    status(station, 1, "Available", minute=1)
    assert station.state.triggered_messages == ["MeterValues"]
    assert builtins(station.replayed().state) == builtins(station.state)


@pytest.mark.parametrize("status_value", ["Rejected", "NotImplemented"])
def test_trigger_message_not_accepted_is_not_remembered(status_value):
    station = Station()
    command(station, "TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": status_value})
    assert station.state.triggered_messages == []


def test_triggers_never_answered_by_the_station_are_bounded():
    station = Station()
    for _ in range(TRIGGERED_MESSAGES_KEPT + 5):
        command(station, "TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"})
    assert station.state.triggered_messages == ["Heartbeat"] * TRIGGERED_MESSAGES_KEPT


# --- SetChargingProfile (5.16) and ClearChargingProfile (5.5) -----------------------------------------


def profile(pid: int, purpose: str = "TxDefaultProfile", stack: int = 0, limit: float = 16.0, **extra) -> dict:
    return {
        "chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
        **extra,
    }


def set_profile(station: Station, connector: int, body: dict, status: str = "Accepted") -> None:
    command(station, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": body}, {"status": status})


def profiles(station: Station) -> set[tuple]:
    return {(p.charging_profile_id, p.connector_id, p.purpose, p.stack_level) for p in view(station).charging_profiles}


def test_accepted_charging_profile_is_stored_with_its_schedule():
    station = Station()
    body = profile(1, stack=2, limit=32.0, recurrencyKind="Daily", validFrom=ts(0), validTo=ts(600))
    body["chargingProfileKind"] = "Recurring"
    body["chargingSchedule"] |= {"duration": 86400, "startSchedule": ts(0), "minChargingRate": 6.0,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}, {"startPeriod": 3600, "limit": 10.5, "numberPhases": 1}]}
    set_profile(station, 1, body)
    (shown,) = view(station).charging_profiles
    assert (shown.charging_profile_id, shown.connector_id, shown.stack_level, shown.purpose, shown.kind, shown.recurrency_kind) == (
        1, 1, 2, "TxDefaultProfile", "Recurring", "Daily")
    assert (shown.valid_from, shown.valid_to, shown.start_schedule) == (DAY, DAY + timedelta(minutes=600), DAY)
    assert (shown.charging_rate_unit, shown.duration_s, shown.min_charging_rate) == ("A", 86400, 6.0)
    assert [(p.start_period_s, p.limit, p.number_phases) for p in shown.periods] == [(0, 32.0, None), (3600, 10.5, 1)]


@pytest.mark.parametrize("status_value", ["Rejected", "NotSupported"])
def test_charging_profile_not_accepted_is_not_stored(status_value):
    station = Station()
    set_profile(station, 1, profile(1), status=status_value)
    assert station.state.charging_profiles == {}


def test_profile_with_the_same_id_replaces_the_old_one_even_on_another_connector():
    station = Station()
    set_profile(station, 1, profile(1, stack=0, limit=16))
    set_profile(station, 2, profile(1, stack=3, limit=10))
    assert profiles(station) == {(1, 2, "TxDefaultProfile", 3)}


def test_profile_with_the_same_purpose_and_stack_level_on_the_connector_replaces_the_old_one():
    station = Station()
    set_profile(station, 1, profile(1, stack=1))
    set_profile(station, 1, profile(2, stack=1))
    assert profiles(station) == {(2, 1, "TxDefaultProfile", 1)}


def test_profiles_differing_in_stack_level_purpose_or_connector_stack_up():
    station = Station()
    set_profile(station, 1, profile(1, stack=0))
    set_profile(station, 1, profile(2, stack=1))
    set_profile(station, 2, profile(3, stack=1))
    set_profile(station, 0, profile(4, purpose="ChargePointMaxProfile", stack=1))
    set_profile(station, 0, profile(5, stack=1))
    assert profiles(station) == {(1, 1, "TxDefaultProfile", 0), (2, 1, "TxDefaultProfile", 1), (3, 2, "TxDefaultProfile", 1),
                                 (4, 0, "ChargePointMaxProfile", 1), (5, 0, "TxDefaultProfile", 1)}


def test_tx_profile_ends_with_its_transaction():
    station = Station()
    tx = start(station, connector=1)["transactionId"]
    set_profile(station, 1, profile(1, purpose="TxProfile", transactionId=tx))
    set_profile(station, 1, profile(2, purpose="TxProfile", stack=1))
    set_profile(station, 1, profile(3))
    set_profile(station, 2, profile(4, purpose="TxProfile"))
    stop(station, tx)
    assert profiles(station) == {(3, 1, "TxDefaultProfile", 0), (4, 2, "TxProfile", 0)}


# --- RemoteStartTransaction with a TxProfile (5.11) ----------------------------------------------


def remote_start(station: Station, body: dict | None, connector: int | None = 1, status_value: str = "Accepted") -> None:
    payload: dict[str, Any] = {"idTag": "TAG1"}
    if connector is not None:
        payload["connectorId"] = connector
    if body is not None:
        payload["chargingProfile"] = body
    command(station, "RemoteStartTransaction", payload, {"status": status_value})


def bound(station: Station) -> set[tuple]:
    return {(p.charging_profile_id, p.connector_id, p.transaction_id) for p in station.state.charging_profiles.values()}


def test_remote_start_tx_profile_is_shown_on_its_connector_bound_to_the_transaction_and_ends_with_it():
    station = Station()
    remote_start(station, profile(9, purpose="TxProfile", limit=10.0), connector=2)
    assert profiles(station) == {(9, 2, "TxProfile", 0)} and bound(station) == {(9, 2, None)}
    other = start(station, connector=1)["transactionId"]
    assert bound(station) == {(9, 2, None)}  # a transaction on another connector is not the one
    tx = start(station, connector=2, tag="TAG2")["transactionId"]
    assert bound(station) == {(9, 2, tx)}
    stop(station, other)
    assert bound(station) == {(9, 2, tx)}
    stop(station, tx)
    assert station.state.charging_profiles == {}
    assert builtins(station.replayed().state) == builtins(station.state)


def test_remote_start_tx_profile_without_a_connector_goes_to_the_connector_the_station_chose():
    station = Station()
    remote_start(station, profile(9, purpose="TxProfile"), connector=None)
    assert bound(station) == {(9, 0, None)}
    tx = start(station, connector=2)["transactionId"]
    assert bound(station) == {(9, 2, tx)}
    stop(station, tx)
    assert station.state.charging_profiles == {}


def test_unbound_tx_profile_on_a_busy_connector_stays_with_the_running_transaction():
    station = Station()
    running = start(station, connector=1)["transactionId"]
    set_profile(station, 1, profile(4, purpose="TxProfile"))  # for the running transaction
    start(station, connector=1, tag="TAG2", minute=5)
    assert bound(station) == {(4, 1, None)}
    stop(station, running)
    assert station.state.charging_profiles == {}


def test_remote_start_rejected_stores_no_profile():
    station = Station()
    remote_start(station, profile(9, purpose="TxProfile"), status_value="Rejected")
    assert station.state.charging_profiles == {}


def test_remote_start_without_a_profile_changes_nothing():
    station = Station()
    before = builtins(station.state)
    remote_start(station, None)
    after = builtins(station.state)
    for changing in ("last_seen_us", "pending_command"):
        before.pop(changing), after.pop(changing)
    assert after == before


def test_remote_start_tx_profile_replaces_one_with_the_same_id_or_stack_level_on_its_connector():
    station = Station()
    set_profile(station, 1, profile(1, purpose="TxDefaultProfile", stack=0))
    set_profile(station, 2, profile(9, purpose="TxDefaultProfile", stack=0))
    remote_start(station, profile(9, purpose="TxProfile", stack=0), connector=1)
    assert profiles(station) == {(1, 1, "TxDefaultProfile", 0), (9, 1, "TxProfile", 0)}


def cleared(request: dict, status_value: str = "Accepted") -> set[int]:
    """The profile ids left after ClearChargingProfile on a station holding a varied set."""
    station = Station()
    set_profile(station, 0, profile(1, purpose="ChargePointMaxProfile", stack=0))
    set_profile(station, 0, profile(2, purpose="TxDefaultProfile", stack=0))
    set_profile(station, 1, profile(3, purpose="TxDefaultProfile", stack=0))
    set_profile(station, 1, profile(4, purpose="TxDefaultProfile", stack=1))
    set_profile(station, 1, profile(5, purpose="TxProfile", stack=0))
    set_profile(station, 2, profile(6, purpose="TxDefaultProfile", stack=1))
    command(station, "ClearChargingProfile", request, {"status": status_value})
    return {p.charging_profile_id for p in view(station).charging_profiles}


def test_clear_charging_profile_by_id_removes_only_that_one():
    assert cleared({"id": 4}) == {1, 2, 3, 5, 6}


def test_clear_charging_profile_by_id_ignores_the_other_criteria():
    # "either a specific charging profile (denoted by id) or a selection ... " (1.6 section 5.5)
    assert cleared({"id": 4, "connectorId": 2, "stackLevel": 0}) == {1, 2, 3, 5, 6}


def test_clear_charging_profile_without_criteria_removes_all():
    assert cleared({}) == set()


def test_clear_charging_profile_of_a_connector():
    assert cleared({"connectorId": 1}) == {1, 2, 6}


def test_clear_charging_profile_of_connector_zero_is_only_the_station_wide_ones():
    assert cleared({"connectorId": 0}) == {3, 4, 5, 6}


def test_clear_charging_profile_by_purpose():
    assert cleared({"chargingProfilePurpose": "TxDefaultProfile"}) == {1, 5}


def test_clear_charging_profile_by_stack_level():
    assert cleared({"stackLevel": 1}) == {1, 2, 3, 5}


def test_clear_charging_profile_matches_every_criterion_given():
    assert cleared({"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1}) == {1, 2, 3, 5, 6}
    assert cleared({"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}) == {1, 4, 5, 6}


def test_clear_charging_profile_answered_unknown_leaves_none_of_the_matching_ones():
    # Unknown: "No Charging Profile(s) were found matching the request": the station has none.
    assert cleared({"connectorId": 2}, "Unknown") == {1, 2, 3, 4, 5}


# --- UpdateFirmware (5.19) and GetDiagnostics (5.9) --------------------------------------------------


def test_update_firmware_is_recorded_next_to_the_firmware_status():
    station = Station()
    command(station, "UpdateFirmware", VALID["UpdateFirmware"], {})
    station.answer("FirmwareStatusNotification", {"status": "Downloading"})
    shown = view(station)
    assert shown.firmware_status == "Downloading"
    update = shown.firmware_update
    assert (update.location, update.retrieve_at, update.retries, update.retry_interval_s) == (
        "https://fw.example.com/v2.bin", DAY + timedelta(minutes=30), 3, 60)
    assert update.requested_at is not None


def test_get_diagnostics_is_recorded_with_the_file_name_the_station_will_upload():
    station = Station()
    command(station, "GetDiagnostics", VALID["GetDiagnostics"], {"fileName": "diag-2024-03-01.zip"})
    station.answer("DiagnosticsStatusNotification", {"status": "Uploading"})
    shown = view(station)
    upload = shown.diagnostics_upload
    assert (upload.location, upload.file_name, upload.start_time, upload.stop_time) == (
        "ftp://logs.example.com/in/", "diag-2024-03-01.zip", DAY, DAY + timedelta(minutes=60))
    assert shown.diagnostics_status == "Uploading"


def test_get_diagnostics_without_file_name_means_nothing_to_upload():
    station = Station()
    command(station, "GetDiagnostics", {"location": "ftp://logs.example.com/"}, {})
    assert view(station).diagnostics_upload.file_name is None


# --- replay: a fresh session folding the log has the live state ------------------------------------


def operator_day(station: Station) -> None:
    """Every command with the answers a real station gives, between the station's own traffic."""
    command(station, "GetConfiguration", {}, FULL_CONFIGURATION)
    command(station, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}, {"status": "Accepted"})
    command(station, "ChangeConfiguration", {"key": "AuthorizationKey", "value": "secret-secret-secret"}, {"status": "Accepted"})
    command(station, "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "5"}, {"status": "RebootRequired"})
    command(station, "SendLocalList", full_list(1, [{"idTag": "TAG1", "idTagInfo": {"status": "Accepted", "expiryDate": ts(900)}},
                                                    {"idTag": "TAG2", "idTagInfo": {"status": "Accepted"}}]), {"status": "Accepted"})
    command(station, "SendLocalList", differential(2, [{"idTag": "TAG2"}, {"idTag": "TAG3", "idTagInfo": {"status": "Blocked"}}]),
            {"status": "Accepted"})
    command(station, "SendLocalList", differential(9, []), {"status": "VersionMismatch"})
    command(station, "GetLocalListVersion", {}, {"listVersion": 2})
    reserve(station, 1, connector=1)
    reserve(station, 2, connector=2)
    reserve(station, 3, connector=0, minutes=1)
    command(station, "CancelReservation", {"reservationId": 2}, {"status": "Accepted"})
    start(station, connector=1, reservationId=1)
    set_profile(station, 0, profile(1, purpose="ChargePointMaxProfile"))
    set_profile(station, 1, profile(2, purpose="TxProfile", transactionId=1))
    set_profile(station, 2, profile(3))
    set_profile(station, 2, profile(4))  # replaces 3: same purpose and stack level
    set_profile(station, 2, profile(5, stack=1), status="Rejected")
    command(station, "ClearChargingProfile", {"chargingProfilePurpose": "ChargePointMaxProfile"}, {"status": "Accepted"})
    send_command(station, "Reset", {"type": "Soft"})
    station.send('[3,"csms-unrelated",{"status":"Accepted"}]')
    station.send(f'[4,"{station.state.pending_command[0]}","InternalError","busy",{{}}]')
    command(station, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Scheduled"})
    command(station, "ReserveNow", VALID["ReserveNow"] | {"reservationId": 7, "connectorId": 2}, {"status": "Bogus"})
    command(station, "UpdateFirmware", VALID["UpdateFirmware"], {})
    command(station, "GetDiagnostics", VALID["GetDiagnostics"], {"fileName": "d.zip"})
    for action in NO_STATE_ACTIONS:
        command(station, action, VALID[action], NO_STATE_ANSWERS[action])
    command(station, "TriggerMessage", VALID["TriggerMessage"], {"status": "Accepted"})
    command(station, "RemoteStartTransaction", VALID["RemoteStartTransaction"] | {"connectorId": 2}, {"status": "Accepted"})
    stop(station, 1)
    start(station, connector=2, tag="TAG2", minute=70)
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    status(station, 2, "Faulted", minute=None)
    station.log.append(station.session.disconnect("conn-1", station.clock_us, 1006))
    station.log.append(station.session.connect("conn-2", station.clock_us + 5, station.clock_us + 5))
    command(station, "GetLocalListVersion", {}, {"listVersion": 3})


def test_replaying_the_log_of_an_operator_day_rebuilds_the_live_state():
    station = Station()
    operator_day(station)
    state = station.state
    assert state.local_list_version == 2 and state.station_local_list_version == 3
    assert set(state.reservations) == {3} and set(state.charging_profiles) == {4, 8}
    assert state.charging_profiles[8].transaction_id == 2
    assert state.configuration["authorizationkey"].value == MASK
    assert builtins(station.replayed().state) == builtins(state)


def test_snapshot_plus_the_rest_of_the_log_rebuilds_the_operator_day():
    station = Station()
    operator_day(station)
    for cut in (0, len(station.log) // 3, len(station.log) // 2, len(station.log) - 3, len(station.log)):
        at_cut = station.replayed(station.log[:cut]).state
        snapshot = msgspec.msgpack.decode(msgspec.msgpack.encode(at_cut), type=StationState)
        assert builtins(station.replayed(station.log[cut:], state=snapshot).state) == builtins(station.state), cut


def test_snapshot_written_before_these_fields_existed_still_decodes():
    old = {"station_id": "CP-OLD", "connectors": {}, "transactions": {}, "next_transaction_id": 4, "pending_call": None}
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(old), type=StationState)
    assert (state.reservations, state.local_list_version, state.charging_profiles, state.pending_command) == ({}, None, {}, None)
    assert station_view(state, 0).local_list.entries == 0


# --- property: any answer to any command never raises, and replays to the live state -----------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([2**70, 1.5, 6.35]) | st.text(max_size=8)
    | st.sampled_from(["Accepted", "Rejected", "Scheduled", "Unknown", "RebootRequired", "Faulted", ts(3), "K"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["status", "listVersion", "fileName", "configurationKey", "unknownKey", "key", "value",
                         "readonly", "data", "x"]), children, max_size=3),
    max_leaves=8,
)
answers = st.one_of(
    st.sampled_from(sorted(COMMANDS)).flatmap(lambda a: st.tuples(st.just(a), st.just(VALID[a]), json_values)),
    st.sampled_from(sorted(COMMANDS)).flatmap(lambda a: st.tuples(
        st.just(a), st.just(VALID[a]), st.sampled_from([{"status": s} for s in ("Accepted", "Rejected", "Unknown", "Scheduled")]))),
)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(answers, st.sampled_from(["result", "error", "other id"])), min_size=1, max_size=12))
def test_any_answer_to_any_command_never_raises_and_replays_to_the_live_state(steps):
    station = Station()
    for (action, payload, answer), how in steps:
        message_id = send_command(station, action, payload)
        if how == "result":
            station.send(json.dumps([3, message_id, answer]))
        elif how == "error":
            station.send(json.dumps([4, message_id, "GenericError", "", answer]))
        else:
            station.send(json.dumps([3, "x" + message_id, answer]))
    msgspec.msgpack.encode(station.state)
    station_view(station.state, station.clock_us)
    assert builtins(station.replayed().state) == builtins(station.state)
