"""OCPP 2.0.1 SetNetworkProfile (actors/ocpp201/network_profile.py, B09), CustomerInformation
(actors/ocpp201/customer_information.py, N09/N10) and CostUpdated (actors/ocpp201/costs.py, I02):
rules, secrets masked, folds, the security profile a network profile moves a station to, replay.
"""

from __future__ import annotations

import json

import pytest

from actors.ocpp201.network_profile import new_security_profile
from tests.commands201 import Station, builtins, check, logged, ts
from tests.ocpp201_schema_cases import library_validator

SECRETS = ("apn-s3cret", "vpn-s3cret", "shared-k3y", "url-s3cret")


def network_profile(slot: int = 2, security: int = 2, url: str = "wss://csms.example.com/ocpp", **data) -> dict:
    connection = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
                  "securityProfile": security, "ocppInterface": "Wireless0", **data}
    return {"configurationSlot": slot, "connectionData": connection}


SECRET_PROFILE = network_profile(
    url="wss://cs:url-s3cret@csms.example.com/ocpp",
    apn={"apn": "internet.example", "apnAuthentication": "CHAP", "apnUserName": "u", "apnPassword": "apn-s3cret",
         "simPin": 1234},
    vpn={"server": "vpn.example", "user": "v", "password": "vpn-s3cret", "key": "shared-k3y", "type": "IKEv2"},
)


def test_valid_requests_pass_the_schema_and_the_rules():
    for action, payload in (
        ("SetNetworkProfile", SECRET_PROFILE),
        ("SetNetworkProfile", network_profile(1, 1, "ws://csms.example.com/ocpp")),
        ("CustomerInformation", {"requestId": 1, "report": True, "clear": False, "customerIdentifier": "C-42"}),
        ("CustomerInformation", {"requestId": 2, "report": False, "clear": True,
                                 "idToken": {"idToken": "TAG1", "type": "ISO14443"}}),
        ("CostUpdated", {"totalCost": 12.34, "transactionId": "tx-1"}),
    ):
        assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
        check(action, payload)


@pytest.mark.parametrize(("rule", "action", "payload"), [
    ("A00", "SetNetworkProfile", network_profile(security=0)),
    ("A00", "SetNetworkProfile", network_profile(security=2, url="ws://csms.example.com/ocpp")),
    ("B09", "SetNetworkProfile", network_profile(url="https://csms.example.com")),
    ("OCPP 2.0", "SetNetworkProfile", network_profile(ocppTransport="SOAP")),
    ("N09.FR.04", "CustomerInformation", {"requestId": 1, "report": True, "clear": False}),
    ("N09.FR.04", "CustomerInformation", {"requestId": 1, "report": True, "clear": False, "customerIdentifier": "C",
                                          "idToken": {"idToken": "T", "type": "Central"}}),
    ("N09.FR.01", "CustomerInformation", {"requestId": 1, "report": False, "clear": False, "customerIdentifier": "C"}),
])
def test_rules_the_schema_leaves_out_are_refused(rule, action, payload):
    assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
    with pytest.raises(ValueError, match=rule.replace(".", r"\.")):
        check(action, payload)


def test_a_network_profile_below_the_stations_security_profile_is_refused():
    station = Station(security_profile=2)
    with pytest.raises(ValueError, match="never downgraded"):
        check("SetNetworkProfile", network_profile(security=1, url="ws://csms.example.com/ocpp"), station.state)
    check("SetNetworkProfile", network_profile(security=3), station.state)


def test_network_profile_secrets_are_masked_and_the_masked_request_still_decodes():
    text = logged("SetNetworkProfile", SECRET_PROFILE)
    assert not any(secret in text for secret in SECRETS)
    assert "1234" not in text  # the SIM PIN, an integer, is dropped
    masked = json.loads(text)
    assert masked["connectionData"]["ocppCsmsUrl"] == "wss://***@csms.example.com/ocpp"
    assert library_validator("2.0.1", "SetNetworkProfileRequest").is_valid(masked)


def test_an_accepted_network_profile_is_kept_without_secrets():
    station = Station()
    station.command("SetNetworkProfile", SECRET_PROFILE, {"status": "Accepted"})
    station.command("SetNetworkProfile", network_profile(3), {"status": "Rejected"})
    [kept] = station.part.network_profiles.values()
    assert (kept.slot, kept.security_profile, kept.csms_url, kept.apn, kept.vpn_server) == (
        2, 2, "wss://***@csms.example.com/ocpp", "internet.example", "vpn.example")
    assert not any(secret in json.dumps(builtins(station.state)) for secret in SECRETS)


def test_an_accepted_higher_profile_is_the_stations_new_security_profile():
    request = json.dumps(network_profile(security=3))
    assert new_security_profile("SetNetworkProfile", request, '{"status": "Accepted"}') == 3
    assert new_security_profile("SetNetworkProfile", request, '{"status": "Failed"}') is None
    assert new_security_profile("SetVariables", request, '{"status": "Accepted"}') is None
    assert new_security_profile("SetNetworkProfile", "not json", '{"status": "Accepted"}') is None


def test_customer_information_parts_assemble_under_their_request():
    station = Station()
    station.command("CustomerInformation", {"requestId": 3, "report": True, "clear": True,
                                            "idToken": {"idToken": "TAG1", "type": "ISO14443"}}, {"status": "Accepted"})
    station.sends("NotifyCustomerInformation", {"data": "cached: yes; ", "seqNo": 1, "generatedAt": ts(1), "requestId": 3})
    station.sends("NotifyCustomerInformation", {"data": "sessions: 4", "seqNo": 0, "generatedAt": ts(1), "requestId": 3,
                                                "tbc": True})
    [record] = station.part.customer_information
    assert (record.customer, record.status, record.complete) == ("idToken:ISO14443:TAG1", "Accepted", True)
    assert [record.data[n] for n in sorted(record.data)] == ["sessions: 4", "cached: yes; "]


def test_customer_information_is_incomplete_until_every_part_came():
    station = Station()
    station.command("CustomerInformation", {"requestId": 4, "report": True, "clear": False, "customerIdentifier": "C-1"},
                    {"status": "Accepted"})
    station.sends("NotifyCustomerInformation", {"data": "b", "seqNo": 1, "generatedAt": ts(1), "requestId": 4})
    [record] = station.part.customer_information
    assert (record.customer, record.complete) == ("customerIdentifier:C-1", False)  # part 0 is missing


def test_cost_updated_is_kept_for_a_transaction_the_state_holds():
    station = Station()
    station.start_transaction("tx-1")
    station.command("CostUpdated", {"totalCost": 1.5, "transactionId": "tx-1"}, {})
    station.command("CostUpdated", {"totalCost": 3.25, "transactionId": "tx-1"}, {})
    station.command("CostUpdated", {"totalCost": 9, "transactionId": "unknown"}, {})
    assert {tx: c.total_cost for tx, c in station.part.costs.items()} == {"tx-1": 3.25}


def test_replaying_the_log_gives_the_same_state():
    station = Station()
    station.start_transaction("tx-1")
    station.command("SetNetworkProfile", SECRET_PROFILE, {"status": "Accepted"})
    station.command("CustomerInformation", {"requestId": 3, "report": True, "clear": False, "customerIdentifier": "C"},
                    {"status": "Accepted"})
    station.sends("NotifyCustomerInformation", {"data": "x", "seqNo": 0, "generatedAt": ts(1), "requestId": 3})
    station.command("CostUpdated", {"totalCost": 2, "transactionId": "tx-1"}, {})
    assert builtins(station.replayed()) == builtins(station.state)
