"""Transactions whose StopTransaction never came (issue 16, item 3), without Ray or sockets.

Before: a second StartTransaction of the same tag on the same connector was ConcurrentTx for
good, and "active" transactions piled up on one connector. Now a new start on the connector,
a reboot (BootNotification) or the connector reported Available / Preparing settles the old
one: kept, marked, its meter stop estimated; a late StopTransaction still wins; an operator
can close one. Every case also checks that the log replays to the same state.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from actors import events as ev
from actors.station_state import Settlement
from tests.test_station_session import MINUTE_US, T0, Station, builtins, meter_values, start, status, stop, ts


def settlements(station: Station) -> list[Settlement]:
    return [msgspec.json.decode(e.payload, type=Settlement) for e in station.log
            if e.action == ev.TRANSACTION_SETTLED]


def assert_replays(station: Station) -> None:
    assert builtins(station.replayed().state) == builtins(station.state)


def open_transactions(station: Station) -> list[int]:
    return sorted(t.transaction_id for t in station.state.transactions.values() if t.active)


# --- a new StartTransaction on the connector ---------------------------------------------------


def test_a_tag_whose_stop_never_came_may_start_again_on_the_same_connector():
    station = Station()
    first = start(station, tag="TAG1", meter=1000, minute=2)["transactionId"]
    meter_values(station, first, [{"value": "3400.7"}], minute=20)
    # The station reset without sending StopTransaction; the driver plugs in again.
    again = start(station, tag="TAG1", meter=5000, minute=90)
    assert again["idTagInfo"]["status"] == "Accepted"
    assert open_transactions(station) == [again["transactionId"]]
    old = station.state.transactions[first]
    assert not old.active and not old.stopped_by_station
    assert old.settlement == Settlement(transaction_id=first, reason="Superseded", by="csms",
                                        meter_stop_wh=3400, ended_at_us=T0 + 90 * MINUTE_US)
    assert (old.meter_stop_wh, old.energy_wh, old.stopped_at_us) == (3400, 2400, T0 + 90 * MINUTE_US)
    assert_replays(station)


def test_starts_on_one_connector_leave_one_transaction_open_and_keep_every_one():
    station = Station()
    ids = [start(station, tag=tag, minute=minute)["transactionId"]
           for tag, minute in [("TAG1", 2), ("TAG2", 30), ("TAG1", 60)]]
    assert open_transactions(station) == [ids[2]]
    assert set(station.state.transactions) == set(ids)
    assert [s.transaction_id for s in settlements(station)] == ids[:2]
    assert_replays(station)


def test_a_settled_transaction_without_meter_values_ends_at_its_meter_start():
    station = Station()
    first = start(station, meter=1234, minute=2)["transactionId"]
    start(station, meter=1300, minute=40)
    old = station.state.transactions[first]
    assert (old.meter_stop_wh, old.energy_wh) == (1234, 0)


def test_a_retried_start_settles_nothing():
    station = Station()
    first = start(station, minute=2)["transactionId"]
    assert start(station, minute=2)["transactionId"] == first
    assert open_transactions(station) == [first] and settlements(station) == []


def test_an_older_start_delivered_late_does_not_settle_a_newer_one():
    station = Station()
    newer = start(station, tag="TAG1", minute=50)["transactionId"]
    start(station, tag="TAG2", minute=10)  # queued offline, delivered after the newer one
    assert station.state.transactions[newer].active


def test_the_settlement_is_logged_right_after_the_answer_to_the_start():
    station = Station()
    first = start(station, minute=2)["transactionId"]
    outcome = station.call("StartTransaction", {"connectorId": 1, "idTag": "TAG2", "meterStart": 9,
                                                "timestamp": ts(30)}, message_id="s-2")
    inbound, outbound, settled = outcome.events
    assert (inbound.message_type, inbound.action) == ("CALL", "StartTransaction")
    assert (outbound.message_type, outbound.action) == ("CALLRESULT", "StartTransaction")
    assert (settled.direction, settled.message_type, settled.action, settled.message_id) == (
        "system", "SESSION", ev.TRANSACTION_SETTLED, "s-2")
    assert json.loads(settled.payload)["transaction_id"] == first
    assert outcome.durable


# --- ConcurrentTx: only for a tag that really charges elsewhere -----------------------------------


def test_a_tag_charging_on_another_connector_is_still_concurrent_tx():
    station = Station()
    start(station, connector=1, tag="TAG1", minute=2)
    assert start(station, connector=2, tag="TAG1", minute=3)["idTagInfo"]["status"] == "ConcurrentTx"
    assert settlements(station) == []


def test_a_tag_whose_other_connector_was_reported_available_is_free():
    station = Station()
    first = start(station, connector=1, tag="TAG1", minute=2)["transactionId"]
    status(station, 1, "Available", minute=30)
    assert start(station, connector=2, tag="TAG1", minute=40)["idTagInfo"]["status"] == "Accepted"
    assert station.state.transactions[first].settlement.reason == "ConnectorAvailable"


# --- BootNotification ------------------------------------------------------------------------


def test_a_reboot_settles_every_open_transaction():
    station = Station()
    # Started before our receive clock (T0 + a few seconds), so the boot's time counts.
    one = start(station, connector=1, tag="TAG1", minute=-20)["transactionId"]
    two = start(station, connector=2, tag="TAG2", minute=-19)["transactionId"]
    meter_values(station, two, [{"value": "2.5", "unit": "kWh"}], connector=2, minute=-5)
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    assert open_transactions(station) == []
    rebooted = {s.transaction_id: s for s in settlements(station)}
    assert set(rebooted) == {one, two}
    assert {s.reason for s in rebooted.values()} == {"StationRebooted"}
    # A BootNotification has no timestamp: it ended by the time we heard of the reboot.
    assert rebooted[two].ended_at_us == station.clock_us and rebooted[two].meter_stop_wh == 2500
    assert start(station, connector=1, tag="TAG2", minute=120)["idTagInfo"]["status"] == "Accepted"
    assert_replays(station)


def test_a_settlement_never_ends_before_its_transaction_began():
    station = Station()
    tx = start(station, minute=30)["transactionId"]  # the station's clock runs ahead of ours
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    assert station.state.transactions[tx].stopped_at_us == T0 + 30 * MINUTE_US


def test_a_boot_notification_asked_for_by_trigger_message_is_no_reboot():
    station = Station()
    tx = start(station, minute=2)["transactionId"]
    station.session.send_command("t-1", "TriggerMessage", '{"requestedMessage":"BootNotification"}', station.clock_us)
    station.send('[3,"t-1",{"status":"Accepted"}]')
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    assert station.state.transactions[tx].active
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    assert not station.state.transactions[tx].active  # the next one, not triggered, is a reboot


# --- StatusNotification -----------------------------------------------------------------------


@pytest.mark.parametrize("free", ["Available", "Preparing"])
def test_the_connector_reported_free_after_the_start_settles_its_transaction(free):
    station = Station()
    tx = start(station, connector=2, minute=2)["transactionId"]
    other = start(station, connector=1, tag="TAG2", minute=3)["transactionId"]
    status(station, 2, free, minute=45)
    settled = station.state.transactions[tx].settlement
    assert (settled.reason, settled.ended_at_us) == (f"Connector{free}", T0 + 45 * MINUTE_US)
    assert station.state.transactions[other].active
    assert_replays(station)


@pytest.mark.parametrize("connector, value, minute", [
    (1, "Available", 1),  # older than the start: queued offline, delivered late
    (1, "Charging", 30),
    (1, "Finishing", 30),
    (1, "Faulted", 30),
    (0, "Available", 30),  # connector 0 is the whole station, not the transaction's connector
    (2, "Available", 30),
])
def test_other_statuses_leave_the_transaction_open(connector, value, minute):
    station = Station()
    tx = start(station, connector=1, minute=2)["transactionId"]
    status(station, connector, value, minute=minute)
    assert station.state.transactions[tx].active


def test_an_available_status_without_timestamp_is_dated_by_its_receive_time():
    station = Station()
    tx = start(station, minute=-10)["transactionId"]  # our receive clock is at T0 + a few seconds
    status(station, 1, "Available", minute=None)
    assert station.state.transactions[tx].settlement.ended_at_us == station.clock_us


# --- a late StopTransaction wins ---------------------------------------------------------------


def test_a_late_stop_of_a_settled_transaction_is_recorded_and_its_meter_stop_wins():
    station = Station()
    tx = start(station, meter=1000, minute=2)["transactionId"]
    meter_values(station, tx, [{"value": "1800"}], minute=20)
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    assert station.state.transactions[tx].meter_stop_wh == 1800
    # Queued before the reboot, sent after it.
    assert stop(station, tx, meter=2600, minute=25, reason="Reboot") == {}
    closed = station.state.transactions[tx]
    assert closed.stopped_by_station and closed.stop_reason == "Reboot"
    assert (closed.meter_stop_wh, closed.energy_wh, closed.stopped_at_us) == (2600, 1600, T0 + 25 * MINUTE_US)
    assert closed.settlement.reason == "StationRebooted"  # kept as the history
    stop(station, tx, meter=9999, minute=30)  # a repeated stop changes nothing
    assert station.state.transactions[tx].meter_stop_wh == 2600
    assert_replays(station)


def test_a_settled_transaction_ignores_later_meter_values():
    station = Station()
    tx = start(station, minute=2)["transactionId"]
    status(station, 1, "Available", minute=30)
    meter_values(station, tx, [{"value": "99999"}], minute=31)
    assert station.state.transactions[tx].meter_stop_wh == 1000


# --- what the station holds changes on its word only ------------------------------------------


def test_a_settlement_leaves_the_stations_tx_profile_to_the_late_stop():
    station = Station()
    first = start(station, minute=2)["transactionId"]
    profile = {"chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Absolute", "transactionId": first,
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}
    station.session.send_command("p-1", "SetChargingProfile", json.dumps({"connectorId": 1, "csChargingProfiles": profile}),
                                 station.clock_us)
    station.send('[3,"p-1",{"status":"Accepted"}]')
    start(station, minute=40)
    assert station.state.charging_profiles[7].transaction_id == first
    stop(station, first, minute=41)
    assert 7 not in station.state.charging_profiles  # 1.6 section 3.13.1: it ended with its transaction
    assert_replays(station)


# --- the operator's close -------------------------------------------------------------------


def test_an_operator_closes_a_stale_transaction_with_a_reason():
    station = Station()
    tx = start(station, meter=1000, minute=2)["transactionId"]
    meter_values(station, tx, [{"value": "1750"}], minute=20)
    event = station.session.close_transaction(tx, "station replaced, stop lost", T0 + 500 * MINUTE_US)
    station.log.append(event)
    assert (event.direction, event.message_type, event.action) == ("system", "SESSION", ev.TRANSACTION_SETTLED)
    closed = station.state.transactions[tx]
    assert closed.settlement == Settlement(transaction_id=tx, reason="station replaced, stop lost", by="operator",
                                           meter_stop_wh=1750, ended_at_us=T0 + 500 * MINUTE_US)
    assert not closed.active and closed.energy_wh == 750
    assert start(station, connector=2, minute=600)["idTagInfo"]["status"] == "Accepted"
    assert_replays(station)


def test_an_operator_cannot_close_an_unknown_or_closed_transaction():
    station = Station()
    stopped = start(station, minute=2)["transactionId"]
    stop(station, stopped, minute=10)
    settled = start(station, minute=20)["transactionId"]
    status(station, 1, "Available", minute=30)
    before = builtins(station.state)
    assert station.session.close_transaction(999, "typo", T0) == "unknown"
    assert station.session.close_transaction(stopped, "again", T0) == "closed"
    assert station.session.close_transaction(settled, "again", T0) == "closed"
    assert builtins(station.state) == before


def test_settled_transactions_count_toward_the_bound_on_completed_ones():
    from actors.protocol import Policy

    station = Station(policy=Policy(completed_transactions_kept=2))
    ids = [start(station, minute=10 * i)["transactionId"] for i in range(5)]
    # Forgotten when a start or stop folds; the one the last start settled counts from the next.
    assert set(station.state.transactions) == {ids[1], ids[2], ids[3], ids[4]}
    assert open_transactions(station) == [ids[4]]
    start(station, connector=2, minute=60)
    assert set(station.state.transactions) >= {ids[2], ids[3], ids[4]} and ids[1] not in station.state.transactions
    assert_replays(station)


def test_a_snapshot_with_settled_transactions_plus_the_rest_of_the_log_rebuilds_the_state():
    from actors.station_state import StationState

    station = Station()
    tx = start(station, minute=2)["transactionId"]
    start(station, minute=30)
    cut = len(station.log)
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    stop(station, tx, meter=1500, minute=40)
    snapshot = msgspec.msgpack.decode(msgspec.msgpack.encode(station.replayed(station.log[:cut]).state), type=StationState)
    assert snapshot.transactions[tx].settlement.reason == "Superseded"
    assert builtins(station.replayed(station.log[cut:], state=snapshot).state) == builtins(station.state)
