"""OCPP 2.0.1 monitoring commands (actors/ocpp201/monitoring.py): SetVariableMonitoring, ClearVariableMonitoring,
SetMonitoringBase, SetMonitoringLevel, GetMonitoringReport with its NotifyMonitoringReport parts (N02-N06).
"""

from __future__ import annotations

import pytest

from tests.commands201 import Station, builtins, check, ts
from tests.ocpp201_schema_cases import library_validator

TEMPERATURE = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Temperature"}}
POWER = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}


def monitor(target: dict, kind: str = "UpperThreshold", value: float = 60, severity: int = 4, **extra) -> dict:
    return {**target, "type": kind, "value": value, "severity": severity, **extra}


def result(target: dict, status: str = "Accepted", kind: str = "UpperThreshold", mid: int | None = 1,
           severity: int = 4) -> dict:
    out = {**target, "status": status, "type": kind, "severity": severity}
    return out if mid is None else {**out, "id": mid}


def test_valid_requests_pass_the_schema_and_the_rules():
    for action, payload in (
        ("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE), monitor(POWER, "Periodic", 60)]}),
        ("ClearVariableMonitoring", {"id": [1, 2]}),
        ("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}),
        ("SetMonitoringLevel", {"severity": 12}),  # out of range is the station's to reject (N05.FR.02, TC_N_17)
        ("GetMonitoringReport", {"requestId": 1, "monitoringCriteria": ["ThresholdMonitoring"]}),
    ):
        assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
        check(action, payload)


@pytest.mark.parametrize(("rule", "action", "payload"), [
    ("N04", "SetVariableMonitoring", {"setMonitoringData": [monitor(POWER, "Periodic", 0)]}),
    ("N06", "ClearVariableMonitoring", {"id": [3, 3]}),
])
def test_rules_the_schema_leaves_out_are_refused(rule, action, payload):
    assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
    with pytest.raises(ValueError, match=rule):
        check(action, payload)


def test_no_more_items_than_the_station_reported_it_takes():
    station = Station()
    station.sends("NotifyReport", {"requestId": 1, "generatedAt": ts(0), "seqNo": 0, "reportData": [{
        "component": {"name": "MonitoringCtrlr"},
        "variable": {"name": "ItemsPerMessage", "instance": "ClearVariableMonitoring"},
        "variableAttribute": [{"type": "Actual", "value": "2"}]}]})
    check("ClearVariableMonitoring", {"id": [1, 2]}, station.state)
    with pytest.raises(ValueError, match=r"N06\.FR\.04"):
        check("ClearVariableMonitoring", {"id": [1, 2, 3]}, station.state)
    check("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE)] * 3}, station.state)  # not reported


def test_accepted_monitors_are_kept_with_the_value_they_were_set_to():
    station = Station()
    station.command("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE, value=70), monitor(POWER)]},
                    {"setMonitoringResult": [result(TEMPERATURE, mid=11), result(POWER, "UnknownVariable", mid=None)]})
    [kept] = station.part.monitors.values()
    assert (kept.monitor_id, kept.variable_key, kept.type, kept.value, kept.severity) == (
        11, "EVSE@1/Temperature", "UpperThreshold", 70, 4)


def test_results_in_another_order_still_find_their_request():
    station = Station()
    station.command("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE, value=70), monitor(POWER, value=7000)]},
                    {"setMonitoringResult": [result(POWER, mid=2), result(TEMPERATURE, mid=1)]})
    assert {mid: mon.value for mid, mon in station.part.monitors.items()} == {2: 7000, 1: 70}


def test_clear_keeps_what_the_station_refused_to_clear():
    station = Station()
    station.command("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE), monitor(POWER)]},
                    {"setMonitoringResult": [result(TEMPERATURE, mid=1), result(POWER, mid=2)]})
    station.command("ClearVariableMonitoring", {"id": [1, 2, 3]}, {"clearMonitoringResult": [
        {"status": "Accepted", "id": 1}, {"status": "Rejected", "id": 2}, {"status": "NotFound", "id": 3}]})
    assert sorted(station.part.monitors) == [2]


def test_monitoring_base_and_level():
    station = Station()
    station.command("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE)]},
                    {"setMonitoringResult": [result(TEMPERATURE, mid=1)]})
    station.command("SetMonitoringLevel", {"severity": 5}, {"status": "Accepted"})
    station.command("SetMonitoringLevel", {"severity": 42}, {"status": "Rejected"})
    station.command("SetMonitoringBase", {"monitoringBase": "All"}, {"status": "Accepted"})
    assert (station.part.monitoring_level, station.part.monitoring_base, len(station.part.monitors)) == (5, "All", 1)
    station.command("SetMonitoringBase", {"monitoringBase": "HardWiredOnly"}, {"status": "Accepted"})
    assert (station.part.monitoring_base, station.part.monitors) == ("HardWiredOnly", {})


def test_a_multi_part_monitoring_report_assembles_under_its_request():
    station = Station()
    station.command("GetMonitoringReport", {"requestId": 4}, {"status": "Accepted"})
    reported = {**TEMPERATURE, "variableMonitoring": [
        {"id": 7, "transaction": False, "value": 80, "type": "UpperThreshold", "severity": 2}]}
    station.sends("NotifyMonitoringReport", {"requestId": 4, "seqNo": 1, "generatedAt": ts(1), "monitor": [reported]})
    [report] = station.part.monitoring_reports
    assert (report.status, report.complete) == ("Accepted", False)
    station.sends("NotifyMonitoringReport", {"requestId": 4, "seqNo": 0, "generatedAt": ts(1), "tbc": True})
    assert report.complete  # parts 0 and 1, the last without tbc
    assert station.part.monitors[7].value == 80


def test_replaying_the_log_gives_the_same_state():
    station = Station()
    station.command("SetVariableMonitoring", {"setMonitoringData": [monitor(TEMPERATURE)]},
                    {"setMonitoringResult": [result(TEMPERATURE, mid=1)]})
    station.command("GetMonitoringReport", {"requestId": 4}, {"status": "Accepted"})
    station.sends("NotifyMonitoringReport", {"requestId": 4, "seqNo": 0, "generatedAt": ts(1), "monitor": [
        {**POWER, "variableMonitoring": [{"id": 9, "transaction": True, "value": 1, "type": "Delta", "severity": 8}]}]})
    station.command("SetMonitoringLevel", {"severity": 3}, {"status": "Accepted"})
    station.command("ClearVariableMonitoring", {"id": [1]}, {"clearMonitoringResult": [{"status": "Accepted", "id": 1}]})
    assert builtins(station.replayed()) == builtins(station.state)
