"""The rules and masks of the 2.0.1 command feature modules (tests/commands201.FEATURES) on every payload
tests/ocpp201_schema_cases.py derives from the ocpp library's schemas: a rule only ever refuses what
the schema lets through, with a ValueError naming its OCPP 2.0.1 source, and never breaks on an odd
shape; a masked request is still valid for its schema, so the fold reads it back from the log. And
the same commands through the real StationSession: its log holds no secret and replays to its state.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from actors.events import decode_event, encode_event
from actors.ocpp201 import messages as m
from actors.protocol import Policy
from actors.station_session import StationSession
from actors.station_state import Registration
from tests.commands201 import FEATURES, T0, check, logged, ts
from tests.ocpp201_schema_cases import judged, library_validator
from tests.test_ocpp201_firmware_logs import update
from tests.test_ocpp201_provisioning_more import SECRET_PROFILE, SECRETS
from tests.test_ocpp201_smart_charging import profile, tx_profile

RULED = sorted({a for f in FEATURES for a in f.CHECKS})
MASKED = sorted({a for f in FEATURES for a in f.MASKS})
FOLDED = sorted({a for f in FEATURES for a in f.COMMAND_RESULTS})


def library_valid(action: str) -> list:
    return [case.payload for case in judged(m, "2.0.1", f"{action}Request") if case.library_accepts and case.we_accept]


def test_every_feature_action_is_a_csms_request_folded_by_one_module():
    assert set(FOLDED) <= set(m.CSMS_REQUESTS)
    assert sum(len(f.COMMAND_RESULTS) for f in FEATURES) == len(FOLDED)
    assert set(RULED) <= set(FOLDED) and set(MASKED) <= set(FOLDED)


@pytest.mark.parametrize("action", RULED)
def test_a_rule_refuses_only_with_a_value_error_naming_its_ocpp_source(action):
    payloads = library_valid(action)
    assert payloads
    for payload in payloads:
        try:
            check(action, payload)
        except ValueError as exc:
            assert "OCPP 2.0" in str(exc), (payload, exc)


@pytest.mark.parametrize("action", MASKED)
def test_a_masked_request_is_still_valid_for_its_schema(action):
    for payload in library_valid(action):
        masked = json.loads(logged(action, payload))
        assert library_validator("2.0.1", f"{action}Request").is_valid(masked), masked
        m.decode_request(action, json.dumps(masked).encode())


# --- through the real session: the log it writes replays to the same state ---------------------------------


def test_commands_fold_through_the_session_and_its_log_replays_to_the_same_state():
    policy = Policy()
    session = StationSession("CP-201", policy)
    log = [session.register(Registration(password_hash="x"), T0), session.connect("c1", T0, T0, ocpp_version="2.0.1")]
    clock = iter(range(T0 + 1_000_000, T0 + 10**12, 1_000_000))

    def station_call(action: str, payload: dict) -> None:
        log.extend(session.handle(json.dumps([2, f"s{len(log)}", action, payload]), next(clock), {}).events)

    def operator_command(action: str, payload: dict, answer: dict) -> None:
        checked = session.check_command(action, json.dumps(payload))
        assert isinstance(checked, tuple), checked
        _, logged_payload = checked
        message_id = f"c{len(log)}"
        log.append(session.send_command(message_id, action, logged_payload, next(clock))[1])
        log.extend(session.handle(json.dumps([3, message_id, answer]), next(clock), {}).events)

    station_call("BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"})
    station_call("TransactionEvent", {"eventType": "Started", "timestamp": ts(1), "triggerReason": "Authorized",
                                      "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"},
                                      "evse": {"id": 1, "connectorId": 1}})
    operator_command("SetChargingProfile", profile(1), {"status": "Accepted"})
    operator_command("SetChargingProfile", tx_profile(5), {"status": "Accepted"})
    operator_command("UpdateFirmware", update(2), {"status": "Accepted"})
    station_call("FirmwareStatusNotification", {"status": "Downloading", "requestId": 2})
    operator_command("SetNetworkProfile", SECRET_PROFILE, {"status": "Accepted"})
    operator_command("GetMonitoringReport", {"requestId": 3}, {"status": "Accepted"})
    station_call("NotifyMonitoringReport", {"requestId": 3, "seqNo": 0, "generatedAt": ts(2)})
    operator_command("CostUpdated", {"totalCost": 1.25, "transactionId": "tx-1"}, {})
    part = session.state.v201
    assert (sorted(part.charging_profiles), part.firmware_update.progress, sorted(part.network_profiles),
            part.monitoring_reports[0].complete, part.costs["tx-1"].total_cost) == ([1, 5], "Downloading", [2], True, 1.25)
    logged = json.dumps([e.payload for e in log])
    assert not any(secret in logged for secret in (*SECRETS, "s3cr3t-pw"))
    replayed = StationSession("CP-201", policy)
    for event in log:
        replayed.apply(decode_event(encode_event(event)))
    assert msgspec.to_builtins(replayed.state) == msgspec.to_builtins(session.state)
