"""OCPP 2.0.1 smart charging commands (actors/ocpp201/smart_charging.py): the K01/K08/K09/K10 rules a
request must follow beyond its schema, how each answer folds, the ReportChargingProfiles parts tied
to their GetChargingProfiles, and replay equality. Requirement ids are OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

import copy

import pytest

from tests.commands201 import Station, builtins, check, ts
from tests.ocpp201_schema_cases import library_validator


def schedule(*starts: int, kind_start: str | None = ts(0), limit: float = 16.0, **extra) -> dict:
    out = {"id": 1, "chargingRateUnit": "A",
           "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s in starts or (0,)], **extra}
    if kind_start is not None:
        out["startSchedule"] = kind_start
    return out


def profile(pid: int = 1, purpose: str = "TxDefaultProfile", stack: int = 0, kind: str = "Absolute",
            evse: int = 1, **extra) -> dict:
    body = {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [schedule(kind_start=None if kind == "Relative" else ts(0))], **extra}
    return {"evseId": evse, "chargingProfile": body}


def tx_profile(pid: int = 5, tx: str = "tx-1", evse: int = 1, stack: int = 0) -> dict:
    return profile(pid, "TxProfile", stack, "Relative", evse, transactionId=tx)


ACCEPTED = {"status": "Accepted"}


def assert_library_accepts(action: str, payload: dict) -> None:
    assert library_validator("2.0.1", f"{action}Request").is_valid(payload), payload


# --- rules the schema leaves out ---------------------------------------------------------------------


VALID = [
    ("SetChargingProfile", profile()),
    ("SetChargingProfile", profile(evse=0)),  # TxDefaultProfile on every EVSE (TC_K_10)
    ("SetChargingProfile", profile(2, "ChargingStationMaxProfile", evse=0)),
    ("SetChargingProfile", profile(3, kind="Recurring", recurrencyKind="Daily")),
    ("GetChargingProfiles", {"requestId": 1, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}, "evseId": 0}),
    ("GetChargingProfiles", {"requestId": 2, "chargingProfile": {"chargingProfileId": [1, 2]}}),
    ("ClearChargingProfile", {"chargingProfileId": 1}),
    ("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 1, "stackLevel": 0}}),
    ("GetCompositeSchedule", {"duration": 3600, "evseId": 0, "chargingRateUnit": "W"}),
]


@pytest.mark.parametrize(("action", "payload"), VALID)
def test_valid_requests_pass_the_schema_and_the_rules(action, payload):
    assert_library_accepts(action, payload)
    check(action, payload)


def _with(payload: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


REFUSED = [
    ("K01.FR.31", "SetChargingProfile", _with(profile(), ("chargingProfile", "chargingSchedule", 0, "chargingSchedulePeriod"),
                                              [{"startPeriod": 60, "limit": 16}])),
    ("K01.FR.35", "SetChargingProfile", _with(profile(), ("chargingProfile", "chargingSchedule", 0, "chargingSchedulePeriod"),
                                              [{"startPeriod": 0, "limit": 16}, {"startPeriod": 0, "limit": 8}])),
    ("K01.FR.03", "SetChargingProfile", profile(5, "TxProfile", kind="Relative")),
    ("K01.FR.16", "SetChargingProfile", tx_profile(evse=0)),
    ("K01.FR.38", "SetChargingProfile", profile(2, "ChargingStationMaxProfile", kind="Relative", evse=0)),
    ("K01", "SetChargingProfile", profile(2, "ChargingStationMaxProfile", evse=1)),
    ("K01.FR.40", "SetChargingProfile", _with(profile(), ("chargingProfile", "chargingSchedule", 0, "startSchedule"), None)),
    ("K01.FR.41", "SetChargingProfile", _with(tx_profile(), ("chargingProfile", "chargingSchedule", 0, "startSchedule"), ts(0))),
    ("K01.FR.19", "SetChargingProfile", _with(profile(), ("chargingProfile", "chargingSchedule", 0, "chargingSchedulePeriod"),
                                              [{"startPeriod": 0, "limit": 16, "phaseToUse": 1}])),
    ("K11", "SetChargingProfile", profile(2, "ChargingStationExternalConstraints", evse=0)),
    ("ChargingProfileType", "SetChargingProfile", profile(transactionId="tx-1")),
    ("ChargingProfileType", "SetChargingProfile", profile(stack=-1)),
    ("ChargingProfileType", "SetChargingProfile", profile(kind="Recurring")),
    ("ChargingProfileType", "SetChargingProfile", profile(validFrom=ts(10), validTo=ts(5))),
    ("ChargingSchedulePeriodType", "SetChargingProfile", _with(
        profile(), ("chargingProfile", "chargingSchedule", 0, "chargingSchedulePeriod"), [{"startPeriod": 0, "limit": 6.25}])),
    ("K09.FR.03", "GetChargingProfiles", {"requestId": 1, "chargingProfile": {}}),
    ("K09.FR.03", "GetChargingProfiles", {"requestId": 1, "chargingProfile": {"chargingProfileId": [1], "stackLevel": 0}}),
    ("K10.FR.02", "ClearChargingProfile", {}),
    ("K10.FR.02", "ClearChargingProfile", {"chargingProfileCriteria": {}}),
    ("K11", "ClearChargingProfile", {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationExternalConstraints"}}),
    ("K08", "GetCompositeSchedule", {"duration": 0, "evseId": 1}),
    ("K08", "GetCompositeSchedule", {"duration": 60, "evseId": -1}),
]


@pytest.mark.parametrize(("rule", "action", "payload"), REFUSED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_rules_the_schema_leaves_out_are_refused_naming_the_requirement(rule, action, payload):
    assert_library_accepts(action, payload)  # the schema alone lets it through
    with pytest.raises(ValueError, match=rule.replace(".", r"\.")):
        check(action, payload)


# --- rules against what the station holds -------------------------------------------------------------


def test_a_tx_profile_needs_an_open_transaction_on_its_evse():
    station = Station()
    with pytest.raises(ValueError, match=r"K01\.FR\.09"):
        check("SetChargingProfile", tx_profile(), station.state)
    station.start_transaction("tx-1", evse_id=2)
    with pytest.raises(ValueError, match=r"K01\.FR\.33"):
        check("SetChargingProfile", tx_profile(evse=1), station.state)
    check("SetChargingProfile", tx_profile(evse=2), station.state)
    station.end_transaction("tx-1")
    with pytest.raises(ValueError, match=r"K01\.FR\.09"):
        check("SetChargingProfile", tx_profile(evse=2), station.state)


def test_same_stack_level_purpose_and_evse_with_another_id_is_refused_unless_validity_differs():
    station = Station()
    station.command("SetChargingProfile", profile(1, validTo=ts(60)), ACCEPTED)
    with pytest.raises(ValueError, match=r"K01\.FR\.06"):
        check("SetChargingProfile", profile(2), station.state)
    check("SetChargingProfile", profile(2, validFrom=ts(60)), station.state)  # after the first ends
    check("SetChargingProfile", profile(2, evse=2), station.state)  # another EVSE
    check("SetChargingProfile", profile(1, stack=0), station.state)  # its own id replaces it (K01.FR.05)


def test_a_profile_the_station_no_longer_holds_conflicts_with_nothing():
    station = Station()
    station.start_transaction("tx-1")
    station.command("SetChargingProfile", tx_profile(5, "tx-1"), ACCEPTED)
    station.end_transaction("tx-1")
    station.start_transaction("tx-2")
    check("SetChargingProfile", tx_profile(6, "tx-2"), station.state)  # another transaction anyway
    station.command("SetChargingProfile", profile(1, validTo=ts(0.09)), ACCEPTED)  # set at 5 s, valid until 5.4 s
    station.sends("Heartbeat", {}, {"currentTime": ts(1)})  # at 6 s
    check("SetChargingProfile", profile(2), station.state)


def test_two_tx_profiles_of_one_transaction_need_different_stack_levels():
    station = Station()
    station.start_transaction()
    station.command("SetChargingProfile", tx_profile(5), ACCEPTED)
    with pytest.raises(ValueError, match=r"K01\.FR\.39"):
        check("SetChargingProfile", tx_profile(6), station.state)
    check("SetChargingProfile", tx_profile(6, stack=1), station.state)


# --- folds ---------------------------------------------------------------------------------------------


def test_an_accepted_profile_is_kept_on_its_evse_and_a_rejected_one_is_not():
    station = Station()
    station.command("SetChargingProfile", profile(1, evse=2), ACCEPTED)
    station.command("SetChargingProfile", profile(2, evse=1, stack=1), {"status": "Rejected"})
    [kept] = station.part.charging_profiles.values()
    assert (kept.profile_id, kept.evse_id, kept.purpose, kept.schedules[0].periods[0].limit) == (1, 2, "TxDefaultProfile", 16)


def test_a_known_id_replaces_its_profile_wherever_it_was():
    station = Station()
    station.command("SetChargingProfile", profile(1, evse=1), ACCEPTED)
    station.command("SetChargingProfile", profile(1, evse=2, stack=3), ACCEPTED)  # K01.FR.05
    assert [(p.profile_id, p.evse_id, p.stack_level) for p in station.part.charging_profiles.values()] == [(1, 2, 3)]


def test_a_tx_profile_ends_with_its_transaction():
    station = Station()
    station.start_transaction()
    station.command("SetChargingProfile", tx_profile(5), ACCEPTED)
    station.end_transaction()
    station.command("SetChargingProfile", profile(1), ACCEPTED)
    assert sorted(station.part.charging_profiles) == [1]


def test_clear_by_id_and_by_criteria():
    station = Station()
    for pid, evse, stack in ((1, 1, 0), (2, 1, 1), (3, 2, 0)):
        station.command("SetChargingProfile", profile(pid, evse=evse, stack=stack), ACCEPTED)
    station.command("ClearChargingProfile", {"chargingProfileId": 2}, ACCEPTED)
    assert sorted(station.part.charging_profiles) == [1, 3]
    # Unknown: nothing matched on the station, so nothing matching is kept here either (K10).
    station.command("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 2}}, {"status": "Unknown"})
    assert sorted(station.part.charging_profiles) == [1]


def test_report_charging_profiles_parts_tie_to_their_request():
    station = Station()
    station.command("GetChargingProfiles", {"requestId": 7, "chargingProfile": {"chargingLimitSource": ["CSO", "EMS"]}},
                    ACCEPTED)
    part0 = {"requestId": 7, "chargingLimitSource": "CSO", "evseId": 1, "tbc": True,
             "chargingProfile": [profile(11)["chargingProfile"]]}
    part1 = {"requestId": 7, "chargingLimitSource": "EMS", "evseId": 0,
             "chargingProfile": [profile(12, "ChargingStationExternalConstraints")["chargingProfile"]]}
    station.sends("ReportChargingProfiles", part0)
    [report] = station.part.charging_profile_reports
    assert (report.request_id, report.status, report.parts, report.complete) == (7, "Accepted", 1, False)
    station.sends("ReportChargingProfiles", part1)
    assert (report.parts, report.complete) == (2, True)
    assert [(p.profile_id, p.evse_id, p.charging_limit_source) for p in report.profiles] == [(11, 1, "CSO"), (12, 0, "EMS")]
    # A profile some CSMS installed (CSO) is what the station holds; an EMS limit is not ours.
    assert sorted(station.part.charging_profiles) == [11]


def test_no_profiles_completes_the_report_without_parts():
    station = Station()
    station.command("GetChargingProfiles", {"requestId": 8, "chargingProfile": {"stackLevel": 0}}, {"status": "NoProfiles"})
    [report] = station.part.charging_profile_reports
    assert (report.status, report.complete, report.parts) == ("NoProfiles", True, 0)


def test_composite_schedule_is_kept_per_evse():
    station = Station()
    answer = {"status": "Accepted", "schedule": {"evseId": 1, "duration": 600, "scheduleStart": ts(0),
                                                 "chargingRateUnit": "A",
                                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}}
    station.command("GetCompositeSchedule", {"duration": 600, "evseId": 1}, answer)
    station.command("GetCompositeSchedule", {"duration": 600, "evseId": 2}, {"status": "Rejected"})
    schedules = station.part.composite_schedules
    assert (schedules[1].status, schedules[1].duration_s, [p.limit for p in schedules[1].periods]) == ("Accepted", 600, [10])
    assert (schedules[2].status, schedules[2].periods) == ("Rejected", [])


def test_replaying_the_log_gives_the_same_state():
    station = Station()
    station.start_transaction()
    station.command("SetChargingProfile", profile(1), ACCEPTED)
    station.command("SetChargingProfile", profile(2, "ChargingStationMaxProfile", evse=0), ACCEPTED)
    station.command("SetChargingProfile", tx_profile(5), ACCEPTED)
    station.command("GetChargingProfiles", {"requestId": 3, "chargingProfile": {"chargingProfileId": [1]}}, ACCEPTED)
    station.sends("ReportChargingProfiles", {"requestId": 3, "chargingLimitSource": "CSO", "evseId": 1,
                                             "chargingProfile": [profile(1)["chargingProfile"]]})
    station.command("ClearChargingProfile", {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
                    ACCEPTED)
    station.command("GetCompositeSchedule", {"duration": 60, "evseId": 1}, {"status": "Rejected"})
    station.end_transaction()
    assert builtins(station.replayed()) == builtins(station.state)
    assert builtins(station.replayed()) == builtins(station.replayed())
