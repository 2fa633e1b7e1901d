"""OCPP-J framing (OCPP-J 1.6 section 4): what parse_frame accepts, and what it answers otherwise."""

from __future__ import annotations

import json

import msgspec
import pytest

from actors import ocppj
from actors.ocpp16 import messages as m


def parse_ok(text: str) -> ocppj.Frame:
    frame = ocppj.parse_frame(text)
    assert not isinstance(frame, ocppj.FrameError), frame
    return frame


def parse_error(text: str | bytes) -> ocppj.FrameError:
    frame = ocppj.parse_frame(text)
    assert isinstance(frame, ocppj.FrameError), frame
    return frame


# --- valid frames ---------------------------------------------------------------------------


def test_call_is_split_into_id_action_and_raw_payload():
    frame = parse_ok('[2, "19223201", "BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "M1"}]')
    assert isinstance(frame, ocppj.Call)
    assert frame.message_id == "19223201"
    assert frame.action == "BootNotification"
    assert json.loads(bytes(frame.payload)) == {"chargePointVendor": "VendorX", "chargePointModel": "M1"}


def test_call_with_empty_payload_object_is_valid():
    frame = parse_ok('[2,"hb-1","Heartbeat",{}]')
    assert isinstance(frame, ocppj.Call)
    assert bytes(frame.payload) == b"{}"


def test_call_is_parsed_from_bytes_as_well_as_text():
    frame = parse_ok(b'[2,"a","Heartbeat",{}]')
    assert isinstance(frame, ocppj.Call) and frame.action == "Heartbeat"


def test_call_result_carries_the_raw_payload():
    frame = parse_ok('[3, "19223201", {"currentTime": "2013-02-01T20:53:32.486Z"}]')
    assert isinstance(frame, ocppj.CallResult)
    assert frame.message_id == "19223201"
    assert json.loads(bytes(frame.payload)) == {"currentTime": "2013-02-01T20:53:32.486Z"}


def test_call_error_carries_code_description_and_details():
    frame = parse_ok('[4, "162376037", "NotSupported", "SetDisplayMessageRequest not implemented", {"x": 1}]')
    assert isinstance(frame, ocppj.CallError)
    assert (frame.message_id, frame.code, frame.description) == (
        "162376037", "NotSupported", "SetDisplayMessageRequest not implemented",
    )
    assert json.loads(bytes(frame.details)) == {"x": 1}


def test_message_id_of_exactly_36_characters_is_accepted():
    message_id = "x" * 36
    frame = parse_ok(json.dumps([2, message_id, "Heartbeat", {}]))
    assert frame.message_id == message_id


def test_message_id_limit_counts_characters_not_bytes():
    message_id = "é" * 36  # 72 bytes in UTF-8, 36 characters
    frame = parse_ok(json.dumps([2, message_id, "Heartbeat", {}], ensure_ascii=False))
    assert frame.message_id == message_id


def test_whitespace_between_elements_is_allowed():
    frame = parse_ok(' [ 2 ,\n "a" ,\t"Heartbeat" , { } ] ')
    assert isinstance(frame, ocppj.Call)


# --- malformed frames -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['[2,"a","Heartbeat",{}', "not json", "", '[2,"a","Heartbeat",{"x":}]', "[2,'a']"])
def test_malformed_json_is_a_formation_violation_with_id_minus_one(text):
    error = parse_error(text)
    assert error.code == ocppj.FORMATION_VIOLATION
    assert error.message_id == "-1"


@pytest.mark.parametrize("text", ['{"a": 1}', "42", '"Heartbeat"', "null", "true"])
def test_json_that_is_not_an_array_is_a_protocol_error_with_id_minus_one(text):
    error = parse_error(text)
    assert error.code == ocppj.PROTOCOL_ERROR
    assert error.message_id == "-1"


@pytest.mark.parametrize("text", ["[]", "[2]"])
def test_frame_too_short_to_hold_a_message_id_is_a_protocol_error_with_id_minus_one(text):
    error = parse_error(text)
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "-1")


@pytest.mark.parametrize(
    "text",
    [
        '[2,"abc"]',
        '[2,"abc","Heartbeat"]',
        '[2,"abc","Heartbeat",{},{}]',
        '[3,"abc",{},{}]',
        '[4,"abc","GenericError","d"]',
        '[4,"abc","GenericError","d",{},1]',
    ],
)
def test_wrong_number_of_elements_is_a_protocol_error_answered_with_the_frame_id(text):
    error = parse_error(text)
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "abc")


@pytest.mark.parametrize("message_type", ['"2"', "2.0", "2.5", "true", "null", "[2]", "{}"])
def test_message_type_that_is_not_an_integer_is_a_protocol_error(message_type):
    error = parse_error(f'[{message_type},"abc","Heartbeat",{{}}]')
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "abc")


@pytest.mark.parametrize("message_type", [0, 1, 5, 6, -2, 99])
def test_unknown_message_type_is_a_protocol_error(message_type):
    error = parse_error(f'[{message_type},"abc","Heartbeat",{{}}]')
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "abc")


@pytest.mark.parametrize("message_id", ["123", "null", "1.5", "{}", "[]", '""', json.dumps("x" * 37)])
def test_message_id_that_is_not_a_string_of_1_to_36_characters_is_a_protocol_error_with_id_minus_one(message_id):
    error = parse_error(f'[2,{message_id},"Heartbeat",{{}}]')
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "-1")


def test_unreadable_message_id_wins_over_a_bad_element_count():
    error = parse_error('[2,12345,"Heartbeat"]')
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "-1")


@pytest.mark.parametrize("action", ["1", "null", "{}", '["Heartbeat"]'])
def test_action_that_is_not_a_string_is_a_protocol_error(action):
    error = parse_error(f'[2,"abc",{action},{{}}]')
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "abc")


@pytest.mark.parametrize("payload", ["[]", '"x"', "1", "null", "true", '[{"a":1}]'])
def test_call_payload_that_is_not_an_object_is_a_formation_violation(payload):
    error = parse_error(f'[2,"abc","Heartbeat",{payload}]')
    assert (error.code, error.message_id) == (ocppj.FORMATION_VIOLATION, "abc")


@pytest.mark.parametrize("code_and_description", ['1,"d"', '"GenericError",null', "null,null"])
def test_call_error_with_non_string_code_or_description_is_a_protocol_error(code_and_description):
    error = parse_error(f'[4,"abc",{code_and_description},{{}}]')
    assert (error.code, error.message_id) == (ocppj.PROTOCOL_ERROR, "abc")


def test_frame_error_reply_is_a_call_error_frame():
    error = parse_error('[2,"abc","Heartbeat",[]]')
    assert json.loads(error.reply) == [4, "abc", "FormationViolation", error.description, {}]


# --- message ids round-trip exactly ---------------------------------------------------------

AWKWARD_IDS = ['a,b', 'say "hi"', "back\\slash", "ünïcødé-ß", "😀 emoji", "tab\there", "]},[", "\u2028line"]


@pytest.mark.parametrize("message_id", AWKWARD_IDS)
def test_awkward_message_id_round_trips_through_call_result(message_id):
    frame = parse_ok(json.dumps([2, message_id, "Heartbeat", {}]))
    assert frame.message_id == message_id
    reply = ocppj.call_result_json(frame.message_id, '{"currentTime":"2024-01-01T00:00:00Z"}')
    assert json.loads(reply) == [3, message_id, {"currentTime": "2024-01-01T00:00:00Z"}]
    assert json.loads(ocppj.call_result(frame.message_id, {})) == [3, message_id, {}]


@pytest.mark.parametrize("message_id", AWKWARD_IDS)
def test_awkward_message_id_round_trips_through_call_error(message_id):
    error = parse_error(json.dumps([2, message_id, "Heartbeat", 7]))
    assert error.message_id == message_id
    assert json.loads(error.reply)[1] == message_id


def test_escaped_unicode_message_id_is_decoded_before_the_length_check():
    # 36 characters written as 216 bytes of \\u escapes.
    message_id = "\u00e9" * 36
    frame = parse_ok("[2," + json.dumps(message_id, ensure_ascii=True) + ',"Heartbeat",{}]')
    assert frame.message_id == message_id


def test_call_builder_produces_a_parseable_call():
    text = ocppj.call("m-1", "Reset", {"type": "Soft"})
    frame = parse_ok(text)
    assert isinstance(frame, ocppj.Call)
    assert (frame.message_id, frame.action, json.loads(bytes(frame.payload))) == ("m-1", "Reset", {"type": "Soft"})


def test_call_error_builder_defaults_details_to_an_empty_object():
    assert json.loads(ocppj.call_error("x", "GenericError", "d")) == [4, "x", "GenericError", "d", {}]


# --- payload validation errors map to OCPP-J 1.6 section 4.2.3 codes -------------------------


def validation_error(action: str, payload: dict | list) -> msgspec.ValidationError:
    with pytest.raises(msgspec.ValidationError) as info:
        m.decode_request(action, msgspec.json.encode(payload))
    return info.value


def test_missing_required_field_is_an_occurence_constraint_violation():
    code = ocppj.constraint_error_code(validation_error("Authorize", {}))
    assert code == ocppj.OCCURENCE_CONSTRAINT_VIOLATION


def test_empty_list_where_one_or_more_is_required_is_an_occurence_constraint_violation():
    code = ocppj.constraint_error_code(validation_error("MeterValues", {"connectorId": 1, "meterValue": []}))
    assert code == ocppj.OCCURENCE_CONSTRAINT_VIOLATION


def test_wrong_field_type_is_a_type_constraint_violation():
    code = ocppj.constraint_error_code(validation_error("Authorize", {"idTag": 12}))
    assert code == ocppj.TYPE_CONSTRAINT_VIOLATION


def test_nested_wrong_type_is_a_type_constraint_violation():
    error = validation_error("MeterValues", {"connectorId": 1, "meterValue": ["x"]})
    assert ocppj.constraint_error_code(error) == ocppj.TYPE_CONSTRAINT_VIOLATION


def test_bad_datetime_is_a_type_constraint_violation():
    error = validation_error(
        "StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "yesterday"}
    )
    assert ocppj.constraint_error_code(error) == ocppj.TYPE_CONSTRAINT_VIOLATION


def test_too_long_string_is_a_property_constraint_violation():
    code = ocppj.constraint_error_code(validation_error("Authorize", {"idTag": "x" * 21}))
    assert code == ocppj.PROPERTY_CONSTRAINT_VIOLATION


def test_value_outside_an_enum_is_a_property_constraint_violation():
    error = validation_error("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"})
    assert ocppj.constraint_error_code(error) == ocppj.PROPERTY_CONSTRAINT_VIOLATION


def test_unknown_field_is_a_formation_violation():
    code = ocppj.constraint_error_code(validation_error("Heartbeat", {"extra": 1}))
    assert code == ocppj.FORMATION_VIOLATION


def test_payload_that_is_not_an_object_is_a_formation_violation():
    code = ocppj.constraint_error_code(validation_error("Heartbeat", []))
    assert code == ocppj.FORMATION_VIOLATION


@pytest.mark.parametrize("text", ["{not json", '{"a": 1', "[2, 'single-quoted']", '{"x": [1, 2}'])
def test_broken_json_is_a_formation_violation_even_when_it_starts_like_an_object(text):
    error = ocppj.parse_frame(text)
    assert isinstance(error, ocppj.FrameError)
    assert (error.message_id, error.code) == ("-1", ocppj.FORMATION_VIOLATION)
