"""Smaller protocol slips of issue 16, item 8: each rule next to the spec section it comes from."""

from __future__ import annotations

import json

from actors import ocppj
from actors.authorizer import decision as d
from actors.station_state import IdTagRecord
from tests.test_authorizer import decide
from tests.test_station_session import VALID, Station, ts

DEEP = "[" * 40 + "]" * 40


def test_a_frame_nested_too_deep_is_answered_under_its_id_when_that_can_be_read():
    station = Station()
    [reply] = station.send(f'[2,"d0","DataTransfer",{{"vendorId":"v","data":{DEEP}}}]').replies
    assert json.loads(reply)[:3] == [ocppj.CALLERROR, "d0", ocppj.FORMATION_VIOLATION]
    [unreadable] = station.send(DEEP).replies
    assert json.loads(unreadable)[1] == ocppj.UNREADABLE_MESSAGE_ID


def stop_after(decision: d.AuthorizationDecision, stop_decision: d.AuthorizationDecision | None = None,
               ) -> tuple[dict, dict]:
    station = Station()
    start = decide(station, "StartTransaction", {**VALID["StartTransaction"], "idTag": "ROAM7"}, decision)
    stop = {"transactionId": start["reply"]["transactionId"], "idTag": "ROAM7", "meterStop": 1500, "timestamp": ts(9)}
    if stop_decision is None:
        return start["reply"]["idTagInfo"], station.answer("StopTransaction", stop)["idTagInfo"]
    return start["reply"]["idTagInfo"], decide(station, "StopTransaction", stop, stop_decision)["reply"]["idTagInfo"]


def test_a_stop_agrees_with_a_free_vending_start():
    # Before: the start was Accepted by free vending, the stop said Invalid (the local table).
    started, stopped = stop_after(d.without_downstream("ROAM7", "unavailable", "free_vending", None, None))
    assert started["status"] == stopped["status"] == "Accepted"


def test_a_stop_agrees_with_a_start_refused_by_policy_even_with_a_cached_answer():
    # Before: under `reject` a cached tag refused at start was Accepted at stop (the cache).
    cached = IdTagRecord(status="Accepted")
    started, stopped = stop_after(d.without_downstream("ROAM7", "unavailable", "reject", None, cached),
                                  d.from_cache("ROAM7", cached))
    assert started["status"] == stopped["status"] == "Invalid"
