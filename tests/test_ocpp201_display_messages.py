"""OCPP 2.0.1 display messages (actors/ocpp201/display_messages.py): SetDisplayMessage, GetDisplayMessages
with its NotifyDisplayMessages parts, ClearDisplayMessage (O01-O06): rules, folds, replay equality.
"""

from __future__ import annotations

import pytest

from tests.commands201 import Station, builtins, check, ts
from tests.ocpp201_schema_cases import library_validator


def message(mid: int = 1, text: str = "Welcome", priority: str = "NormalCycle", **extra) -> dict:
    return {"id": mid, "priority": priority, "message": {"format": "UTF8", "content": text, "language": "en"}, **extra}


def test_valid_requests_pass_the_schema_and_the_rules():
    for action, payload in (("SetDisplayMessage", {"message": message(startDateTime=ts(0), endDateTime=ts(60))}),
                            ("SetDisplayMessage", {"message": message(transactionId="tx-1")}),
                            ("GetDisplayMessages", {"requestId": 1, "priority": "InFront"}),
                            ("ClearDisplayMessage", {"id": 1})):
        assert library_validator("2.0.1", f"{action}Request").is_valid(payload)
        check(action, payload)


def test_a_message_that_ends_before_it_starts_is_refused():
    payload = {"message": message(startDateTime=ts(60), endDateTime=ts(0))}
    assert library_validator("2.0.1", "SetDisplayMessageRequest").is_valid(payload)
    with pytest.raises(ValueError, match=r"O01\.FR\.05"):
        check("SetDisplayMessage", payload)


def test_an_accepted_message_is_kept_and_its_id_replaces_it():
    station = Station()
    station.command("SetDisplayMessage", {"message": message(1, "Welcome")}, {"status": "Accepted"})
    station.command("SetDisplayMessage", {"message": message(2, "x", "AlwaysFront")}, {"status": "NotSupportedPriority"})
    station.command("SetDisplayMessage", {"message": message(1, "Bienvenue", transactionId="tx-1")}, {"status": "Accepted"})
    [kept] = station.part.display_messages.values()
    assert (kept.message_id, kept.content, kept.transaction_id) == (1, "Bienvenue", "tx-1")  # O06


def test_clear_removes_the_message_known_or_not():
    station = Station()
    station.command("SetDisplayMessage", {"message": message(1)}, {"status": "Accepted"})
    station.command("ClearDisplayMessage", {"id": 1}, {"status": "Accepted"})
    station.command("ClearDisplayMessage", {"id": 9}, {"status": "Unknown"})
    assert station.part.display_messages == {}


def test_a_complete_report_of_all_messages_is_what_the_station_holds():
    station = Station()
    station.command("SetDisplayMessage", {"message": message(1)}, {"status": "Accepted"})
    station.command("SetDisplayMessage", {"message": message(2)}, {"status": "Accepted"})
    station.command("GetDisplayMessages", {"requestId": 5}, {"status": "Accepted"})
    station.sends("NotifyDisplayMessages", {"requestId": 5, "tbc": True, "messageInfo": [message(2, "Two")]})
    assert sorted(station.part.display_messages) == [1, 2]  # not complete yet
    station.sends("NotifyDisplayMessages", {"requestId": 5, "messageInfo": [message(3, "Three", state="Charging")]})
    [report] = station.part.display_message_reports
    assert (report.parts, report.complete, report.message_ids) == (2, True, [2, 3])
    assert {mid: m.content for mid, m in station.part.display_messages.items()} == {2: "Two", 3: "Three"}


def test_a_filtered_report_only_adds_and_unknown_for_all_means_none():
    station = Station()
    station.command("SetDisplayMessage", {"message": message(1)}, {"status": "Accepted"})
    station.command("GetDisplayMessages", {"requestId": 6, "id": [4]}, {"status": "Accepted"})
    station.sends("NotifyDisplayMessages", {"requestId": 6, "messageInfo": [message(4)]})
    assert sorted(station.part.display_messages) == [1, 4]
    station.command("GetDisplayMessages", {"requestId": 7}, {"status": "Unknown"})
    assert station.part.display_messages == {}


def test_replaying_the_log_gives_the_same_state():
    station = Station()
    station.command("SetDisplayMessage", {"message": message(1)}, {"status": "Accepted"})
    station.command("GetDisplayMessages", {"requestId": 2}, {"status": "Accepted"})
    station.sends("NotifyDisplayMessages", {"requestId": 2, "messageInfo": [message(1), message(5)]})
    station.command("ClearDisplayMessage", {"id": 5}, {"status": "Accepted"})
    assert builtins(station.replayed()) == builtins(station.state)
