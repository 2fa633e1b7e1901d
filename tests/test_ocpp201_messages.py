"""OCPP 2.0.1 and 2.1 payload types (actors/ocpp201/messages.py, actors/ocpp21/messages.py, written
by scripts/gen_ocpp_types.py): each action's direction, agreement with the ocpp library's JSON schemas on generated payloads,
the OCPP-J error code of each broken rule, round trips, and that the committed module is what
the generator writes now.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest
from jsonschema import Draft4Validator
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

from actors import ocppj
from actors.ocpp21 import messages as messages21
from actors.ocpp201 import messages as messages201
from scripts import gen_ocpp_types as gen
from tests.ocpp201_schema_cases import (
    OCPPJ_201_SPELLING,
    Judged,
    disagreements,
    is_rfc3339_date_time,
    judged,
    library_schema,
    schema_dir,
)

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"2.0.1": messages201, "2.1": messages21}
LIBRARY_ACTIONS = {"2.0.1": {a.value for a in Action201}, "2.1": {a.value for a in Action21}}
SCHEMAS = [pytest.param(v, p.stem, id=f"{v}-{p.stem}") for v in MODULES for p in sorted(schema_dir(v).glob("*.json"))]
INT32 = range(-(2**31), 2**31)
versions = pytest.mark.parametrize("version", sorted(MODULES))


def cases(version: str, name: str) -> tuple[Judged, ...]:
    return judged(MODULES[version], version, name)


# --- the module and its directions --------------------------------------------------------------


@versions
def test_committed_module_is_what_the_generator_writes(version, tmp_path):
    written = tmp_path / "messages.py"
    subprocess.run(
        [sys.executable, "scripts/gen_ocpp_types.py", version, "--output", str(written)],
        cwd=ROOT, check=True, timeout=120, capture_output=True,
    )
    assert written.read_text(encoding="utf-8") == gen.VERSIONS[version].output.read_text(encoding="utf-8")


@versions
def test_every_library_action_has_a_direction_a_request_and_a_response(version):
    m = MODULES[version]
    # NotifyPeriodicEventStream, 2.1's one SEND (OCPP-J 2.1): a schema and no answer, and not
    # in the library's Action enum.
    sends = {"NotifyPeriodicEventStream"} if version == "2.1" else set()
    assert set(m.REQUESTS) | set(m.CSMS_REQUESTS) == LIBRARY_ACTIONS[version] | sends
    assert set(m.RESPONSES) == LIBRARY_ACTIONS[version]
    # DataTransfer is the only message both sides send (OCPP 2.0.1 part 2, P01 and P02).
    assert set(m.REQUESTS) & set(m.CSMS_REQUESTS) == {"DataTransfer"}
    requests = {a: cls for a, cls in (m.REQUESTS | m.CSMS_REQUESTS).items() if a not in sends}
    assert all(cls.__name__ == f"{action}Request" for action, cls in requests.items())
    assert all(cls.__name__ == f"{action}Response" for action, cls in m.RESPONSES.items())


@versions
def test_directions_follow_the_use_cases(version):
    m = MODULES[version]
    assert {"BootNotification", "TransactionEvent", "NotifyReport", "SignCertificate"} <= set(m.REQUESTS)
    assert {"RequestStartTransaction", "GetVariables", "CertificateSigned", "TriggerMessage"} <= set(m.CSMS_REQUESTS)
    assert not {"RequestStartTransaction", "GetVariables"} & set(m.REQUESTS)
    assert not {"BootNotification", "TransactionEvent"} & set(m.CSMS_REQUESTS)


@versions
def test_unknown_action_is_a_key_error(version):
    m = MODULES[version]
    with pytest.raises(KeyError):
        m.decode_request("StartTransaction", b"{}")  # a 1.6 action
    with pytest.raises(KeyError):
        m.decode_response("FlyToTheMoon", b"{}")


# --- agreement with the ocpp library's 2.0.1 schemas ---------------------------------------------
#
# Payloads derived mechanically, by tests/ocpp201_schema_cases.py, from each schema file: a full
# and a minimal one, then one change at a time at every node. Our decoder must accept exactly
# what the library's validator accepts, except for these differences, each on purpose:

KNOWN_DIFFERENCES = {
    "null for an optional field": (
        "we accept, the schema rejects: msgspec reads null as the field's absence (`X | None`), as for 1.6"
    ),
    "integer outside int32": (
        "we reject, the schema accepts any integer: OCPP 2.0.1 part 2 defines integer as 32-bit signed"
    ),
    "timestamp not RFC 3339": (
        "we reject, the library accepts any string: its Draft4Validator has no format checker, so "
        "'format: date-time' is not enforced; a time we cannot read cannot be stored"
    ),
    "time outside years 1900-8999": (
        "we reject, as for 1.6 (actors/ocpp16/messages.py): every view converts station times to UTC dates"
    ),
}


def why_we_differ(case: Judged) -> str | None:
    mutation = case.mutation
    value, node = mutation.value, mutation.node
    if case.we_accept:
        if value is None and not mutation.required and mutation.what != "dropped":
            return "null for an optional field"
        return None
    if node.get("type") == "integer" and type(value) is int and value not in INT32:
        return "integer outside int32"
    if node.get("format") == "date-time":
        return "time outside years 1900-8999" if is_rfc3339_date_time(value) else "timestamp not RFC 3339"
    return None


@pytest.mark.parametrize(("version", "name"), SCHEMAS)
def test_inlined_schema_judges_as_the_library_validator_does(version, name):
    # What ocpp.messages.get_validator builds from the same file (its $refs resolved by jsonschema).
    validator = Draft4Validator(library_schema(version, name))
    sample = cases(version, name)[::25]
    assert [validator.is_valid(case.payload) for case in sample] == [case.library_accepts for case in sample]


@pytest.mark.parametrize(("version", "name"), SCHEMAS)
def test_decoder_accepts_exactly_what_the_library_schema_accepts(version, name):
    unexplained, _explained = disagreements(cases(version, name), lambda case: case.library_accepts, why_we_differ)
    assert len(cases(version, name)) > 25
    assert unexplained == []


def test_every_known_difference_from_the_library_schemas_still_exists():
    seen: set[str] = set()
    for version, name in (param.values for param in SCHEMAS):
        seen |= disagreements(cases(version, name), lambda case: case.library_accepts, why_we_differ)[1]
    assert seen == set(KNOWN_DIFFERENCES)


# `format: date-time` read as RFC 3339 section 5.6 (which the library does not check): msgspec's
# parser agrees but for these, each harmless or on purpose.
DATE_TIME_DIFFERENCES = {
    "null for an optional field": KNOWN_DIFFERENCES["null for an optional field"],
    "integer outside int32": KNOWN_DIFFERENCES["integer outside int32"],
    "time outside years 1900-8999": KNOWN_DIFFERENCES["time outside years 1900-8999"],
    "no UTC offset": "we accept and read it as UTC, as for 1.6: stations send it",
    "offset without a colon": "we accept +0100 (msgspec reads ISO 8601's basic offset); RFC 3339 wants +01:00",
    "space for T": "we accept: RFC 3339 section 5.6 allows it by agreement",
    "leap second": "we reject 23:59:60: Python's datetime cannot hold it; no station clock sends it",
}


def why_we_differ_from_rfc3339(case: Judged) -> str | None:
    mutation = case.mutation
    value, node = mutation.value, mutation.node
    if node.get("format") != "date-time" or not isinstance(value, str):
        return why_we_differ(case)
    if case.we_accept:
        if " " in value:
            return "space for T"
        if re.search(r"[+-]\d{4}$", value):
            return "offset without a colon"
        if not re.search(r"([Zz]|[+-]\d\d:\d\d)$", value):
            return "no UTC offset"
        return None
    if ":60" in value:
        return "leap second"
    return "time outside years 1900-8999" if is_rfc3339_date_time(value) else None


@pytest.mark.parametrize(("version", "name"), SCHEMAS)
def test_datetime_parsing_agrees_with_rfc3339(version, name):
    unexplained, _explained = disagreements(cases(version, name), lambda case: case.rfc3339_valid, why_we_differ_from_rfc3339)
    assert unexplained == []


def test_every_known_difference_from_rfc3339_still_exists():
    seen: set[str] = set()
    for version, name in (param.values for param in SCHEMAS):
        seen |= disagreements(cases(version, name), lambda case: case.rfc3339_valid, why_we_differ_from_rfc3339)[1]
    assert seen == set(DATE_TIME_DIFFERENCES)


# --- error codes ----------------------------------------------------------------------------------
#
# Where the schema rejects for one rule, the code follows OCPP-J 2.0.1 section 4.3 by the kind of
# rule broken, in its spelling (OCPPJ_201_SPELLING): a malformed payload is FormatViolation, a
# wrong JSON type TypeConstraintViolation, a missing field or a list too short or too long
# OccurrenceConstraintViolation, a value off its enum, length or range PropertyConstraintViolation.
CODE_FOR_RULE = {
    "type": "TypeConstraintViolation",
    "additionalProperties": "FormatViolation",
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "maxLength": "PropertyConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
}


def ocppj_201_code(error: msgspec.ValidationError) -> str:
    code = ocppj.constraint_error_code(error)
    return OCPPJ_201_SPELLING.get(code, code)


@pytest.mark.parametrize(("version", "name"), SCHEMAS)
def test_error_code_matches_the_kind_of_schema_rule_broken(version, name):
    checked = 0
    for case in cases(version, name):
        if len(case.library_errors) != 1 or case.we_accept:
            continue
        (error,) = case.library_errors
        root_type = not error.absolute_path and error.validator == "type"
        expected = "FormatViolation" if root_type else CODE_FOR_RULE[error.validator]
        assert ocppj_201_code(case.error) == expected, (case.mutation.path, case.mutation.what, str(case.error))
        checked += 1
    assert checked > 10


@versions
def test_nested_errors_name_their_path(version):
    m = MODULES[version]
    payload = {
        "eventType": "Started", "timestamp": "2024-03-01T10:00:00Z", "triggerReason": "CablePluggedIn", "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": "1"},
    }
    with pytest.raises(msgspec.ValidationError, match=r"at `\$\.evse\.id`") as info:
        m.decode_request("TransactionEvent", msgspec.json.encode(payload))
    assert ocppj_201_code(info.value) == "TypeConstraintViolation"


@versions
def test_a_station_time_before_1900_is_refused_where_it_is(version):
    m = MODULES[version]
    payload = {
        "evseId": 1,
        "meterValue": [{"timestamp": "1899-12-31T23:59:59Z", "sampledValue": [{"value": 1.0}]}],
    }
    with pytest.raises(msgspec.ValidationError, match=r"timestamp outside years 1900-8999 - at `\$\.meterValue\[0\]`") as info:
        m.decode_request("MeterValues", msgspec.json.encode(payload))
    assert ocppj_201_code(info.value) == "PropertyConstraintViolation"


# --- round trips ------------------------------------------------------------------------------------


def without_nulls(value):
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize(("version", "name"), SCHEMAS)
def test_valid_payloads_decode_and_encode_back_to_the_same_json(version, name):
    checked = 0
    for case in cases(version, name):
        mutation = case.mutation
        if not (case.we_accept and case.library_accepts):
            continue
        encoded = msgspec.json.encode(case.decoded)
        if mutation.node.get("format") == "date-time":
            # A time comes back in msgspec's spelling of the same instant ("z" -> "Z").
            assert msgspec.json.decode(encoded, type=type(case.decoded)) == case.decoded
        elif mutation.path[-2:] == ("customData", "unknownField"):
            continue  # extras in customData are dropped: test_custom_data_takes_any_vendor_property
        else:
            assert json.loads(encoded) == without_nulls(case.payload), (mutation.path, mutation.what)
        checked += 1
    assert checked >= 2


@versions
def test_custom_data_takes_any_vendor_property_and_drops_it(version):
    m = MODULES[version]
    payload = {"customData": {"vendorId": "com.example", "firmwareChannel": "beta", "nested": {"a": [1]}}}
    decoded = m.decode_request("Heartbeat", msgspec.json.encode(payload))
    assert decoded.customData.vendorId == "com.example"
    assert json.loads(msgspec.json.encode(decoded)) == {"customData": {"vendorId": "com.example"}}


@versions
def test_typical_transaction_event_decodes_to_typed_fields(version):
    m = MODULES[version]
    payload = {
        "eventType": "Updated", "timestamp": "2024-03-01T10:15:00.123Z", "triggerReason": "MeterValuePeriodic",
        "seqNo": 3, "offline": True,
        "transactionInfo": {"transactionId": "c0ffee-42", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{
            "timestamp": "2024-03-01T10:15:00Z",
            "sampledValue": [
                {"value": 12.5, "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic",
                 "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
                {"value": 7200, "measurand": "Power.Active.Import"},
            ],
        }],
    }
    event = m.decode_request("TransactionEvent", msgspec.json.encode(payload))
    assert isinstance(event, m.TransactionEventRequest)
    assert event.timestamp == datetime(2024, 3, 1, 10, 15, 0, 123000, tzinfo=timezone.utc)
    assert event.transactionInfo.chargingState == "Charging"
    assert event.meterValue[0].sampledValue[0].unitOfMeasure.unit == "kWh"
    assert event.meterValue[0].sampledValue[1].value == 7200.0
    assert event.idToken is None and event.reservationId is None


# --- the generator ----------------------------------------------------------------------------------


def thing(max_length: int, description: str) -> dict:
    return {
        "description": description, "type": "object", "additionalProperties": False,
        "properties": {"name": {"type": "string", "maxLength": max_length}}, "required": ["name"],
    }


def message(definition: dict | None) -> dict:
    schema = {"type": "object", "additionalProperties": False, "properties": {}}
    if definition is not None:
        schema["definitions"] = {"ThingType": definition}
        schema["properties"]["thing"] = {"$ref": "#/definitions/ThingType"}
        schema["required"] = ["thing"]
    return schema


def generated_module(schemas: dict, monkeypatch) -> types.ModuleType:
    version = gen.Version("9.9", "v99", "ocpp99", station_initiated=("Alpha", "Gamma"), csms_initiated=("Beta",))
    module = types.ModuleType("generated_for_test")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(gen.render(version, schemas), "<generated>", "exec"), module.__dict__)
    return module


def test_generator_shares_identical_definitions_and_names_differing_ones(monkeypatch):
    schemas = {
        "AlphaRequest": message(thing(5, "A thing.")), "AlphaResponse": message(None),
        "BetaRequest": message(thing(6, "A longer thing.")), "BetaResponse": message(None),
        "GammaRequest": message(thing(5, "The same thing, described otherwise.")), "GammaResponse": message(None),
    }
    module = generated_module(schemas, monkeypatch)
    # Alpha's and Gamma's ThingType differ only in their description: one class, the name kept
    # by the variant most files use; Beta's is another type and says whose it is.
    assert module.AlphaRequest.__annotations__["thing"] == "ThingType"
    assert module.GammaRequest.__annotations__["thing"] == "ThingType"
    assert module.BetaRequest.__annotations__["thing"] == "BetaRequestThingType"
    assert not hasattr(module, "GammaRequestThingType")
    assert module.decode_request("Beta", b'{"thing": {"name": "sixsix"}}').thing.name == "sixsix"
    with pytest.raises(msgspec.ValidationError, match="length <= 5"):
        module.decode_request("Alpha", b'{"thing": {"name": "sixsix"}}')
    assert set(module.REQUESTS) == {"Alpha", "Gamma"} and set(module.CSMS_REQUESTS) == {"Beta"}


def test_generator_refuses_an_action_without_a_direction():
    version = gen.Version("9.9", "v99", "ocpp99", station_initiated=("Alpha",), csms_initiated=())
    schemas = {"AlphaRequest": message(None), "AlphaResponse": message(None), "OmegaRequest": message(None), "OmegaResponse": message(None)}
    with pytest.raises(ValueError, match="without a direction \\['Omega'\\]"):
        gen.render(version, schemas)
