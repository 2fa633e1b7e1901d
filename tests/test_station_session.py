"""The OCPP 1.6 station session, without Ray or sockets: every station-initiated action, the
errors it answers, the events it logs, and that replaying those events rebuilds the same state.

A `Station` below plays one charge station against one `StationSession` and keeps every event
the session returns, so any test can rebuild the session from the log and compare.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import events as ev
from actors import ocppj
from actors.events import Event, decode_event, encode_event
from actors.ocpp16 import messages as m
from actors.ocpp16.station_side import Policy, iso, to_us
from actors.station_session import CLOSE_UNREGISTERED, Outcome, StationSession
from actors.station_state import IdTagRecord, Registration, StationState
from tests.ocpp_schema_cases import Mutation, SchemaCases, compare_with_library, library_validator

STATION_ID = "CP-001"
POLICY = Policy(heartbeat_interval_s=300, pending_retry_interval_s=60, completed_transactions_kept=200)

# The station's clock (payload timestamps) and ours (receive times) both start on this day.
DAY = datetime(2024, 3, 1, tzinfo=timezone.utc)
T0 = to_us(DAY)
MINUTE_US = 60_000_000


def ts(minutes: float = 0) -> str:
    """A station timestamp `minutes` after the start of DAY, as RFC 3339 UTC."""
    return (DAY + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


ID_TAGS = {
    "TAG1": IdTagRecord(),
    "TAG2": IdTagRecord(),
    "BLOCKED": IdTagRecord(status="Blocked"),
    "LISTEXPIRED": IdTagRecord(status="Expired"),
    "OLD": IdTagRecord(expiry_us=T0 - MINUTE_US),
    "FUTURE": IdTagRecord(expiry_us=T0 + 365 * 24 * 60 * MINUTE_US),
    "CHILD": IdTagRecord(parent_id_tag="PARENT"),
}

# One valid payload per station-initiated action (OCPP 1.6 section 4).
VALID = {
    "BootNotification": {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"},
    "Heartbeat": {},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": ts(1)},
    "Authorize": {"idTag": "TAG1"},
    "StartTransaction": {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": ts(2)},
    "MeterValues": {
        "connectorId": 1, "transactionId": 1,
        "meterValue": [{"timestamp": ts(3), "sampledValue": [{"value": "1500"}]}],
    },
    "StopTransaction": {"transactionId": 1, "meterStop": 2000, "timestamp": ts(4)},
    "DataTransfer": {"vendorId": "com.example", "messageId": "hello", "data": "x"},
    "DiagnosticsStatusNotification": {"status": "Uploaded"},
    "FirmwareStatusNotification": {"status": "Installed"},
    # The security whitepaper (edition 3).
    "SecurityEventNotification": {"type": "TamperDetectionActivated", "timestamp": ts(5), "techInfo": "lid open"},
    "SignedFirmwareStatusNotification": {"status": "Downloading", "requestId": 7},
    "LogStatusNotification": {"status": "Uploading", "requestId": 8},
}
assert set(VALID) == set(m.STATION_REQUESTS)
DURABLE_ACTIONS = {"BootNotification", "StatusNotification", "StartTransaction", "StopTransaction", "MeterValues",
                   "SecurityEventNotification"}


class Station:
    """One simulated charge station talking to one session; `log` is everything the CSMS would write."""

    def __init__(
        self, boot_status: str = "Accepted", *, registered: bool = True, boot: bool = True,
        policy: Policy = POLICY,
    ) -> None:
        self.policy = policy
        self.session = StationSession(STATION_ID, policy)
        self.log: list[Event] = []
        self.clock_us = T0
        self.id_tags = dict(ID_TAGS)
        self._message_ids = itertools.count(1)
        if registered:
            self.register(boot_status)
        self.log.append(self.session.connect("conn-1", self.clock_us, self.clock_us))
        if boot:
            self.call("BootNotification", VALID["BootNotification"])

    @property
    def state(self) -> StationState:
        return self.session.state

    def register(self, boot_status: str = "Accepted") -> None:
        registration = Registration(password_hash="pbkdf2_sha256$1$00$00", site="depot", boot_status=boot_status)
        self.log.append(self.session.register(registration, self.clock_us))

    def send(self, text: str) -> Outcome:
        self.clock_us += 1_000_000
        outcome = self.session.handle(text, self.clock_us, self.id_tags)
        self.log.extend(outcome.events)
        return outcome

    def call(self, action: str, payload: Any, message_id: str | None = None) -> Outcome:
        message_id = message_id or f"m{next(self._message_ids)}"
        return self.send(json.dumps([2, message_id, action, payload]))

    def answer(self, action: str, payload: Any) -> dict[str, Any]:
        """The CALLRESULT payload for a CALL the session must accept."""
        outcome = self.call(action, payload)
        (reply,) = outcome.replies
        frame = json.loads(reply)
        assert frame[0] == ocppj.CALLRESULT, frame
        return frame[2]

    def refuse(self, action: str, payload: Any) -> str:
        """The CALLERROR code for a CALL the session must refuse."""
        outcome = self.call(action, payload)
        (reply,) = outcome.replies
        frame = json.loads(reply)
        assert frame[0] == ocppj.CALLERROR, frame
        return frame[2]

    def replayed(self, events: list[Event] | None = None, state: StationState | None = None) -> StationSession:
        """A fresh session folded from the log, as a restarted host builds it (events via their codec)."""
        fresh = StationSession(STATION_ID, self.policy, state)
        for event in self.log if events is None else events:
            fresh.apply(decode_event(encode_event(event)))
        return fresh


def builtins(state: StationState) -> Any:
    return msgspec.to_builtins(state)


def start(station: Station, connector: int = 1, tag: str = "TAG1", meter: int = 1000, minute: float = 2, **extra) -> dict:
    payload = {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": ts(minute), **extra}
    return station.answer("StartTransaction", payload)


def stop(station: Station, tx_id: int, meter: int = 2000, minute: float = 60, **extra) -> dict:
    return station.answer("StopTransaction", {"transactionId": tx_id, "meterStop": meter, "timestamp": ts(minute), **extra})


def meter_values(station: Station, tx_id: int | None, samples: list[dict], connector: int = 1, minute: float = 10) -> dict:
    payload: dict[str, Any] = {"connectorId": connector, "meterValue": [{"timestamp": ts(minute), "sampledValue": samples}]}
    if tx_id is not None:
        payload["transactionId"] = tx_id
    return station.answer("MeterValues", payload)


def status(station: Station, connector: int, value: str, minute: float | None, error: str = "NoError", **extra) -> dict:
    payload = {"connectorId": connector, "errorCode": error, "status": value, **extra}
    if minute is not None:
        payload["timestamp"] = ts(minute)
    return station.answer("StatusNotification", payload)


# --- BootNotification (OCPP 1.6 section 4.2) ---------------------------------------------------


def test_boot_notification_of_an_approved_station_is_accepted_with_the_heartbeat_interval():
    station = Station(boot=False)
    result = station.answer("BootNotification", VALID["BootNotification"])
    assert result == {"status": "Accepted", "currentTime": iso(station.clock_us), "interval": 300}
    assert station.state.boot_status == "Accepted"


def test_boot_notification_of_a_pending_station_is_pending_with_the_retry_interval():
    station = Station("Pending", boot=False)
    result = station.answer("BootNotification", VALID["BootNotification"])
    assert (result["status"], result["interval"]) == ("Pending", 60)
    assert station.state.boot_status == "Pending"


def test_boot_notification_of_a_rejected_station_is_rejected_with_the_retry_interval():
    station = Station("Rejected", boot=False)
    result = station.answer("BootNotification", VALID["BootNotification"])
    assert (result["status"], result["interval"]) == ("Rejected", 60)
    assert station.state.boot_status == "Rejected"


def test_boot_notification_interval_comes_from_the_policy():
    station = Station(boot=False, policy=Policy(heartbeat_interval_s=900, pending_retry_interval_s=15))
    assert station.answer("BootNotification", VALID["BootNotification"])["interval"] == 900


def test_boot_notification_current_time_is_the_receive_time_in_utc():
    station = Station(boot=False)
    result = station.answer("BootNotification", VALID["BootNotification"])
    assert result["currentTime"].endswith("Z")
    assert to_us(datetime.fromisoformat(result["currentTime"].replace("Z", "+00:00"))) == station.clock_us


def test_boot_notification_stores_what_the_station_says_about_itself():
    station = Station(boot=False)
    station.answer("BootNotification", {
        "chargePointVendor": "VendorX", "chargePointModel": "ModelY", "chargeBoxSerialNumber": "BOX-1",
        "firmwareVersion": "1.2.3", "iccid": "8931", "imsi": "2620", "meterType": "MT", "meterSerialNumber": "MS-9",
    })
    boot = station.state.boot
    assert (boot.vendor, boot.model, boot.serial_number, boot.firmware_version) == ("VendorX", "ModelY", "BOX-1", "1.2.3")
    assert (boot.iccid, boot.imsi, boot.meter_type, boot.meter_serial_number) == ("8931", "2620", "MT", "MS-9")
    assert boot.booted_at_us == station.clock_us


def test_charge_point_serial_number_is_preferred_over_charge_box_serial_number():
    station = Station(boot=False)
    station.answer("BootNotification", {**VALID["BootNotification"], "chargePointSerialNumber": "CP-SN", "chargeBoxSerialNumber": "BOX"})
    assert station.state.boot.serial_number == "CP-SN"


def test_pending_station_is_accepted_on_its_next_boot_after_approval():
    station = Station("Pending")
    station.register("Accepted")
    assert station.answer("BootNotification", VALID["BootNotification"])["status"] == "Accepted"
    assert station.answer("Heartbeat", {})


def test_boot_notification_from_an_unregistered_station_is_a_security_error_that_closes_the_socket():
    station = Station(registered=False, boot=False)
    outcome = station.call("BootNotification", VALID["BootNotification"])
    assert json.loads(outcome.replies[0])[2] == ocppj.SECURITY_ERROR
    assert outcome.close_code == CLOSE_UNREGISTERED
    assert station.state.boot_status is None


def test_deregistered_station_is_refused_and_closed():
    station = Station()
    station.log.append(station.session.deregister(station.clock_us))
    outcome = station.call("Heartbeat", {})
    assert json.loads(outcome.replies[0])[2] == ocppj.SECURITY_ERROR
    assert outcome.close_code == CLOSE_UNREGISTERED


# --- SecurityError before acceptance (OCPP 1.6 section 4.2.1) -----------------------------------

NON_BOOT_ACTIONS = sorted(set(VALID) - {"BootNotification"})


@pytest.mark.parametrize("action", NON_BOOT_ACTIONS)
def test_any_call_before_a_boot_notification_is_a_security_error(action):
    station = Station(boot=False)
    before = builtins(station.state)
    outcome = station.call(action, VALID[action])
    assert json.loads(outcome.replies[0])[2] == ocppj.SECURITY_ERROR
    assert outcome.close_code is None
    after = builtins(station.state)
    assert {k: v for k, v in after.items() if k != "last_seen_us"} == {k: v for k, v in before.items() if k != "last_seen_us"}


@pytest.mark.parametrize("boot_status", ["Pending", "Rejected"])
@pytest.mark.parametrize("action", NON_BOOT_ACTIONS)
def test_any_call_from_a_station_not_accepted_is_a_security_error(boot_status, action):
    station = Station(boot_status)
    assert station.refuse(action, VALID[action]) == ocppj.SECURITY_ERROR
    assert station.state.transactions == {}


def test_security_error_is_not_durable_and_changes_no_transaction():
    station = Station("Pending")
    outcome = station.call("StartTransaction", VALID["StartTransaction"])
    assert not outcome.durable
    assert station.state.next_transaction_id == 1


def trigger(station: Station, requested: str, answer: str = "Accepted", message_id: str = "csms-t") -> None:
    """The CSMS sends TriggerMessage (1.6 section 5.17) and the station answers it with `answer`."""
    station.clock_us += 1_000_000
    _frame, event = station.session.send_command(message_id, "TriggerMessage", json.dumps({"requestedMessage": requested}),
                                                 station.clock_us)
    station.log.append(event)
    outcome = station.send(json.dumps([ocppj.CALLRESULT, message_id, {"status": answer}]))
    assert outcome.answer is not None and outcome.answer.ok


def test_pending_station_may_send_once_what_an_accepted_trigger_message_asked_for():
    # 1.6 section 4.2: while Pending the station sends only requests the Central System triggered.
    station = Station("Pending")
    trigger(station, "StatusNotification")
    assert station.answer("StatusNotification", VALID["StatusNotification"]) == {}
    assert station.state.connectors[1].status == "Available"
    # One trigger, one request: the next one, and any other action, is refused again.
    assert station.refuse("StatusNotification", VALID["StatusNotification"]) == ocppj.SECURITY_ERROR
    assert station.refuse("Heartbeat", {}) == ocppj.SECURITY_ERROR
    assert station.state.triggered_messages == []
    assert builtins(station.replayed().state) == builtins(station.state)


@pytest.mark.parametrize("answer", ["Rejected", "NotImplemented"])
def test_pending_station_trigger_message_not_accepted_lets_nothing_through(answer):
    station = Station("Pending")
    trigger(station, "Heartbeat", answer)
    assert station.state.triggered_messages == []
    assert station.refuse("Heartbeat", {}) == ocppj.SECURITY_ERROR


def test_pending_station_may_send_as_many_as_it_was_triggered_for_in_any_order():
    station = Station("Pending")
    trigger(station, "Heartbeat", message_id="csms-1")
    trigger(station, "StatusNotification", message_id="csms-2")
    trigger(station, "Heartbeat", message_id="csms-3")
    assert station.refuse("MeterValues", VALID["MeterValues"]) == ocppj.SECURITY_ERROR
    assert "currentTime" in station.answer("Heartbeat", {})
    assert station.answer("StatusNotification", VALID["StatusNotification"]) == {}
    assert "currentTime" in station.answer("Heartbeat", {})
    assert station.refuse("Heartbeat", {}) == ocppj.SECURITY_ERROR
    assert builtins(station.replayed().state) == builtins(station.state)


def test_triggered_request_of_an_accepted_station_consumes_its_trigger():
    station = Station()
    trigger(station, "Heartbeat")
    assert station.state.triggered_messages == ["Heartbeat"]
    station.answer("Heartbeat", {})
    assert station.state.triggered_messages == []


# --- Heartbeat (4.6) ---------------------------------------------------------------------------


def test_heartbeat_answers_the_current_time_and_records_it():
    station = Station()
    result = station.answer("Heartbeat", {})
    assert result == {"currentTime": iso(station.clock_us)}
    assert station.state.last_heartbeat_us == station.clock_us


# --- StatusNotification (4.9) ------------------------------------------------------------------


def test_status_notification_stores_the_connector_status():
    station = Station()
    assert status(station, 1, "Faulted", 5, error="GroundFailure", info="rcd", vendorId="acme", vendorErrorCode="E42") == {}
    connector = station.state.connectors[1]
    assert (connector.status, connector.error_code, connector.info) == ("Faulted", "GroundFailure", "rcd")
    assert (connector.vendor_id, connector.vendor_error_code) == ("acme", "E42")
    assert connector.status_at_us == T0 + 5 * MINUTE_US
    assert connector.received_at_us == station.clock_us


def test_status_notification_for_connector_0_is_the_whole_station():
    station = Station()
    status(station, 0, "Unavailable", 1)
    status(station, 1, "Available", 1)
    assert station.state.connectors[0].status == "Unavailable"
    assert station.state.connectors[1].status == "Available"


def test_older_status_arriving_later_is_logged_but_does_not_overwrite():
    station = Station()
    status(station, 1, "Charging", 10)
    outcome = station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": ts(5)})
    assert json.loads(outcome.replies[0])[0] == ocppj.CALLRESULT
    assert outcome.events[0].station_ts_us == T0 + 5 * MINUTE_US
    assert station.state.connectors[1].status == "Charging"
    assert station.state.connectors[1].status_at_us == T0 + 10 * MINUTE_US


def test_newer_status_replaces_the_older_one():
    station = Station()
    status(station, 1, "Preparing", 5)
    status(station, 1, "Charging", 10)
    assert station.state.connectors[1].status == "Charging"


def test_offline_queue_replayed_in_order_ends_on_the_newest_status():
    station = Station()
    for minute, value in [(1, "Preparing"), (2, "Charging"), (3, "SuspendedEV"), (4, "Finishing")]:
        status(station, 2, value, minute)
    assert station.state.connectors[2].status == "Finishing"


def test_status_without_timestamp_is_dated_by_its_receive_time():
    station = Station()
    status(station, 1, "Available", None)
    assert station.state.connectors[1].status_at_us == station.clock_us


def test_status_timestamp_with_an_offset_is_compared_in_utc():
    station = Station()
    status(station, 1, "Charging", 10)
    # 00:09 UTC written in +02:00 is older than 00:10 UTC though it reads later.
    station.answer("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2024-03-01T02:09:00+02:00"})
    assert station.state.connectors[1].status == "Charging"


# --- Authorize (4.1) ---------------------------------------------------------------------------


def test_authorize_known_tag_is_accepted():
    assert Station().answer("Authorize", {"idTag": "TAG1"}) == {"idTagInfo": {"status": "Accepted"}}


def test_authorize_is_case_insensitive():
    assert Station().answer("Authorize", {"idTag": "tag1"})["idTagInfo"]["status"] == "Accepted"


def test_authorize_unknown_tag_is_invalid():
    assert Station().answer("Authorize", {"idTag": "NOSUCHTAG"}) == {"idTagInfo": {"status": "Invalid"}}


def test_authorize_blocked_tag_is_blocked():
    assert Station().answer("Authorize", {"idTag": "BLOCKED"})["idTagInfo"]["status"] == "Blocked"


def test_authorize_tag_past_its_expiry_is_expired():
    info = Station().answer("Authorize", {"idTag": "OLD"})["idTagInfo"]
    assert info == {"status": "Expired", "expiryDate": iso(T0 - MINUTE_US)}


def test_authorize_tag_marked_expired_is_expired():
    assert Station().answer("Authorize", {"idTag": "LISTEXPIRED"})["idTagInfo"]["status"] == "Expired"


def test_authorize_tag_with_future_expiry_is_accepted_with_its_expiry_date():
    info = Station().answer("Authorize", {"idTag": "FUTURE"})["idTagInfo"]
    assert info == {"status": "Accepted", "expiryDate": iso(ID_TAGS["FUTURE"].expiry_us)}


def test_authorize_reports_the_parent_id_tag():
    info = Station().answer("Authorize", {"idTag": "CHILD"})["idTagInfo"]
    assert info == {"status": "Accepted", "parentIdTag": "PARENT"}


def test_authorize_is_not_durable_and_changes_no_transaction():
    station = Station()
    outcome = station.call("Authorize", {"idTag": "TAG1"})
    assert not outcome.durable
    assert station.state.transactions == {}


# --- StartTransaction (4.8) --------------------------------------------------------------------


def test_start_transaction_ids_are_unique_and_increasing():
    station = Station()
    ids = [start(station, connector=c, minute=c)["transactionId"] for c in (1, 2, 3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert all(isinstance(i, int) for i in ids)


def test_start_transaction_records_the_transaction():
    station = Station()
    tx_id = start(station, connector=2, tag="TAG1", meter=12345, minute=7, reservationId=9)["transactionId"]
    tx = station.state.transactions[tx_id]
    assert (tx.connector_id, tx.id_tag, tx.meter_start_wh, tx.reservation_id) == (2, "TAG1", 12345, 9)
    assert tx.started_at_us == T0 + 7 * MINUTE_US
    assert tx.active and tx.id_tag_status == "Accepted"


def test_duplicate_start_transaction_returns_same_id():
    station = Station()
    first = start(station)
    again = start(station)
    assert again["transactionId"] == first["transactionId"]
    assert again["idTagInfo"]["status"] == "Accepted"


def test_duplicate_start_transaction_creates_nothing_new():
    station = Station()
    start(station)
    before = builtins(station.state)
    start(station)
    after = builtins(station.state)
    assert after["transactions"] == before["transactions"]
    assert after["next_transaction_id"] == before["next_transaction_id"]


@pytest.mark.parametrize(
    "change", [{"connector": 2}, {"tag": "TAG2"}, {"meter": 1001}, {"minute": 2.5}],
)
def test_start_transaction_differing_in_any_key_field_is_a_new_transaction(change):
    station = Station()
    first = start(station)["transactionId"]
    second = start(station, **change)["transactionId"]
    assert second != first
    assert len(station.state.transactions) == 2


def test_start_transaction_for_a_rejected_tag_still_gets_a_transaction_id():
    station = Station()
    for tag, expected in [("NOSUCHTAG", "Invalid"), ("BLOCKED", "Blocked"), ("OLD", "Expired")]:
        result = start(station, tag=tag, minute=len(station.state.transactions))
        assert result["idTagInfo"]["status"] == expected
        assert station.state.transactions[result["transactionId"]].id_tag_status == expected


def test_start_transaction_with_a_tag_already_charging_is_concurrent_tx():
    station = Station()
    start(station, connector=1)
    result = start(station, connector=2, minute=3)
    assert result["idTagInfo"]["status"] == "ConcurrentTx"


def test_tag_is_free_again_after_its_transaction_stops():
    station = Station()
    tx_id = start(station, connector=1)["transactionId"]
    stop(station, tx_id)
    assert start(station, connector=2, minute=70)["idTagInfo"]["status"] == "Accepted"


def test_start_transaction_never_reuses_an_id_held_by_an_orphan_stop():
    station = Station()
    stop(station, 2)  # the station stops a transaction 2 we never issued
    # One connector each: a start on a connector settles the one open there (test_stale_transactions).
    ids = [start(station, connector=connector, minute=minute)["transactionId"]
           for connector, minute in ((1, 10), (2, 20), (3, 30))]
    assert 2 not in ids
    assert len(set(ids)) == 3
    assert all(station.state.transactions[i].active for i in ids)
    assert station.state.transactions[2].orphan


def test_start_transaction_answer_carries_expiry_and_parent():
    station = Station()
    info = start(station, tag="CHILD")["idTagInfo"]
    assert info == {"status": "Accepted", "parentIdTag": "PARENT"}


# --- MeterValues (4.7) -------------------------------------------------------------------------


def test_meter_values_count_samples_and_keep_the_last_energy_register_in_wh():
    station = Station()
    tx_id = start(station, meter=1000)["transactionId"]
    energy = {"measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    assert meter_values(station, tx_id, [{"value": "1500", **energy}, {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}]) == {}
    meter_values(station, tx_id, [{"value": "2500", **energy}], minute=11)
    tx = station.state.transactions[tx_id]
    assert tx.meter_value_count == 3
    assert tx.last_meter_wh == 2500
    assert tx.energy_wh == 1500


def test_meter_values_in_kwh_are_converted_to_wh():
    station = Station()
    tx_id = start(station)["transactionId"]
    meter_values(station, tx_id, [{"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}])
    assert station.state.transactions[tx_id].last_meter_wh == 12_500


def test_sample_without_measurand_is_the_energy_import_register():
    station = Station()
    tx_id = start(station)["transactionId"]
    meter_values(station, tx_id, [{"value": "1234"}])
    assert station.state.transactions[tx_id].last_meter_wh == 1234


def test_per_phase_signed_and_other_measurands_do_not_move_the_register():
    station = Station()
    tx_id = start(station)["transactionId"]
    meter_values(station, tx_id, [{"value": "1100"}])
    meter_values(station, tx_id, [
        {"value": "9", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
        {"value": "9", "measurand": "Energy.Active.Import.Register", "format": "SignedData"},
        {"value": "9", "measurand": "Energy.Active.Export.Register"},
        {"value": "not-a-number"},
        {"value": "50", "measurand": "Frequency", "unit": "Hertz"},
    ], minute=11)
    assert station.state.transactions[tx_id].last_meter_wh == 1100


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity"])
def test_non_finite_reading_does_not_move_the_register(value):
    station = Station()
    tx_id = start(station, meter=1000)["transactionId"]
    meter_values(station, tx_id, [{"value": "1100"}])
    meter_values(station, tx_id, [{"value": value, "measurand": "Energy.Active.Import.Register"}], minute=11)
    tx = station.state.transactions[tx_id]
    assert (tx.last_meter_wh, tx.energy_wh, tx.meter_value_count) == (1100, 100, 2)
    assert builtins(station.replayed().state) == builtins(station.state)


def test_meter_values_without_a_transaction_are_answered_and_change_no_transaction():
    station = Station()
    tx_id = start(station)["transactionId"]
    meter_values(station, None, [{"value": "99999"}])
    meter_values(station, 424242, [{"value": "99999"}])
    tx = station.state.transactions[tx_id]
    assert (tx.meter_value_count, tx.last_meter_wh) == (0, None)
    assert list(station.state.transactions) == [tx_id]


def test_meter_values_after_stop_do_not_change_the_closed_transaction():
    station = Station()
    tx_id = start(station)["transactionId"]
    stop(station, tx_id, meter=2000)
    meter_values(station, tx_id, [{"value": "5000"}], minute=70)
    tx = station.state.transactions[tx_id]
    assert (tx.meter_value_count, tx.last_meter_wh, tx.energy_wh) == (0, None, 1000)


# --- StopTransaction (4.10) --------------------------------------------------------------------


def test_stop_transaction_closes_it_with_energy_meter_stop_minus_meter_start():
    station = Station()
    tx_id = start(station, meter=1000)["transactionId"]
    assert stop(station, tx_id, meter=8500, minute=90, reason="EVDisconnected") == {}
    tx = station.state.transactions[tx_id]
    assert not tx.active
    assert (tx.meter_stop_wh, tx.energy_wh, tx.stop_reason) == (8500, 7500, "EVDisconnected")
    assert tx.stopped_at_us == T0 + 90 * MINUTE_US


def test_stop_transaction_without_reason_is_local():
    station = Station()
    tx_id = start(station)["transactionId"]
    stop(station, tx_id)
    assert station.state.transactions[tx_id].stop_reason == "Local"


def test_stop_transaction_with_id_tag_answers_its_id_tag_info():
    station = Station()
    tx_id = start(station)["transactionId"]
    assert stop(station, tx_id, idTag="BLOCKED") == {"idTagInfo": {"status": "Blocked"}}
    assert station.state.transactions[tx_id].stop_id_tag == "BLOCKED"


def test_repeated_stop_transaction_is_answered_the_same_and_changes_nothing():
    station = Station()
    tx_id = start(station)["transactionId"]
    first = stop(station, tx_id, meter=3000, idTag="TAG1")
    before = builtins(station.state)["transactions"]
    again = stop(station, tx_id, meter=3000, idTag="TAG1")
    assert again == first
    assert builtins(station.state)["transactions"] == before


def test_later_stop_with_other_values_does_not_rewrite_a_closed_transaction():
    station = Station()
    tx_id = start(station, meter=1000)["transactionId"]
    stop(station, tx_id, meter=3000)
    stop(station, tx_id, meter=9999, minute=120)
    assert station.state.transactions[tx_id].meter_stop_wh == 3000


@pytest.mark.parametrize("tx_id", [77, -1, 0, 2**31 - 1])
def test_stop_transaction_for_an_unknown_id_is_answered_and_kept_as_orphan(tx_id):
    station = Station()
    outcome = station.call("StopTransaction", {"transactionId": tx_id, "meterStop": 5000, "timestamp": ts(30), "idTag": "TAG1"})
    frame = json.loads(outcome.replies[0])
    assert frame[0] == ocppj.CALLRESULT and frame[2] == {"idTagInfo": {"status": "Accepted"}}
    assert outcome.durable
    orphan = station.state.transactions[tx_id]
    assert orphan.orphan and not orphan.active
    assert (orphan.meter_stop_wh, orphan.stop_id_tag) == (5000, "TAG1")


def test_stop_transaction_counts_its_transaction_data():
    station = Station()
    tx_id = start(station)["transactionId"]
    data = [
        {"timestamp": ts(10), "sampledValue": [{"value": "1200"}, {"value": "7", "measurand": "Current.Import", "unit": "A"}]},
        {"timestamp": ts(20), "sampledValue": [{"value": "1400", "context": "Transaction.End"}]},
    ]
    stop(station, tx_id, transactionData=data)
    assert station.state.transactions[tx_id].meter_value_count == 3


def test_stop_transaction_accepts_transaction_data_with_no_samples():
    # StopTransaction.json sets no minItems on transactionData[].sampledValue.
    station = Station()
    tx_id = start(station)["transactionId"]
    stop(station, tx_id, transactionData=[{"timestamp": ts(10), "sampledValue": []}])
    assert not station.state.transactions[tx_id].active


def test_completed_transactions_beyond_the_policy_bound_are_forgotten_oldest_first():
    station = Station(policy=Policy(completed_transactions_kept=2))
    ids = []
    for i in range(4):
        tx_id = start(station, minute=10 * i)["transactionId"]
        stop(station, tx_id, minute=10 * i + 5)
        ids.append(tx_id)
    active = start(station, minute=100)["transactionId"]
    assert set(station.state.transactions) == {ids[2], ids[3], active}
    assert active > max(ids)


# --- DataTransfer (4.3), DiagnosticsStatusNotification (4.4), FirmwareStatusNotification (4.5) --


def test_data_transfer_is_answered_unknown_vendor_id():
    assert Station().answer("DataTransfer", {"vendorId": "com.acme"}) == {"status": "UnknownVendorId"}


def test_diagnostics_status_notification_is_stored():
    station = Station()
    assert station.answer("DiagnosticsStatusNotification", {"status": "Uploading"}) == {}
    assert station.state.diagnostics_status == "Uploading"


def test_firmware_status_notification_is_stored():
    station = Station()
    assert station.answer("FirmwareStatusNotification", {"status": "Installing"}) == {}
    assert station.state.firmware_status == "Installing"


# --- answers conform to the 1.6 response schemas ---------------------------------------------


def every_kind_of_answer() -> list[tuple[str, dict]]:
    station = Station(boot=False)
    answers = [("BootNotification", station.answer("BootNotification", VALID["BootNotification"]))]
    for action in NON_BOOT_ACTIONS:
        answers.append((action, station.answer(action, VALID[action])))
    for tag in ID_TAGS.keys() | {"NOSUCHTAG"}:
        answers.append(("Authorize", station.answer("Authorize", {"idTag": tag})))
        answers.append(("StartTransaction", start(station, tag=tag, minute=len(station.state.transactions) + 100)))
    answers.append(("StopTransaction", stop(station, 1, idTag="FUTURE")))
    for boot_status in ("Pending", "Rejected"):
        answers.append(("BootNotification", Station(boot_status, boot=False).answer("BootNotification", VALID["BootNotification"])))
    return answers


def test_every_answer_is_valid_against_the_ocpp_library_response_schema():
    for action, payload in every_kind_of_answer():
        errors = [e.message for e in library_validator(ocppj.CALLRESULT, action).iter_errors(payload)]
        assert errors == [], (action, payload)


# --- errors: unknown actions and schema violations (OCPP-J 1.6 section 4.2.3) -----------------


@pytest.mark.parametrize("action", ["FooBar", "Get15118EVCertificate", "heartbeat", "", "Hëartbeat", "X" * 5000])
def test_unknown_action_is_not_implemented(action):
    station = Station()
    assert station.refuse(action, {}) == ocppj.NOT_IMPLEMENTED


@pytest.mark.parametrize("action", ["Reset", "RemoteStartTransaction", "ChangeConfiguration"])
def test_csms_side_action_sent_by_a_station_is_not_supported(action):
    # A known action, but not in this direction: NotSupported (OCPP-J 1.6 section 4.2.3;
    # issue 16, item 8; this test said NotImplemented before).
    station = Station()
    assert station.refuse(action, {}) == ocppj.NOT_SUPPORTED


SCHEMA_ERRORS = [
    ("missing required field", "BootNotification", {"chargePointVendor": "V"}, ocppj.OCCURENCE_CONSTRAINT_VIOLATION),
    ("missing required field", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0}, ocppj.OCCURENCE_CONSTRAINT_VIOLATION),
    ("missing nested field", "MeterValues", {"connectorId": 1, "meterValue": [{"sampledValue": [{"value": "1"}]}]}, ocppj.OCCURENCE_CONSTRAINT_VIOLATION),
    ("empty 1..* list", "MeterValues", {"connectorId": 1, "meterValue": []}, ocppj.OCCURENCE_CONSTRAINT_VIOLATION),
    ("wrong type", "Authorize", {"idTag": 123}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("wrong type", "StartTransaction", {"connectorId": "1", "idTag": "T", "meterStart": 0, "timestamp": ts()}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("float for integer", "StopTransaction", {"transactionId": 1.5, "meterStop": 0, "timestamp": ts()}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("bool for integer", "StopTransaction", {"transactionId": True, "meterStop": 0, "timestamp": ts()}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("null for required", "Authorize", {"idTag": None}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("too-long string", "Authorize", {"idTag": "x" * 21}, ocppj.PROPERTY_CONSTRAINT_VIOLATION),
    ("too-long string", "BootNotification", {"chargePointVendor": "V" * 21, "chargePointModel": "M"}, ocppj.PROPERTY_CONSTRAINT_VIOLATION),
    ("bad enum", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}, ocppj.PROPERTY_CONSTRAINT_VIOLATION),
    ("bad enum", "FirmwareStatusNotification", {"status": "installed"}, ocppj.PROPERTY_CONSTRAINT_VIOLATION),
    ("bad nested enum", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": ts(), "sampledValue": [{"value": "1", "unit": "Hz"}]}]}, ocppj.PROPERTY_CONSTRAINT_VIOLATION),
    ("out of range", "StatusNotification", {"connectorId": -1, "errorCode": "NoError", "status": "Available"}, ocppj.PROPERTY_CONSTRAINT_VIOLATION),
    ("unknown field", "Heartbeat", {"now": 1}, ocppj.FORMATION_VIOLATION),
    ("unknown nested field", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": ts(), "sampledValue": [{"value": "1", "x": 1}]}]}, ocppj.FORMATION_VIOLATION),
    ("bad datetime", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2024-13-01T00:00:00Z"}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("bad datetime", "StopTransaction", {"transactionId": 1, "meterStop": 0, "timestamp": "yesterday"}, ocppj.TYPE_CONSTRAINT_VIOLATION),
    ("date without time", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2024-03-01"}, ocppj.TYPE_CONSTRAINT_VIOLATION),
]


@pytest.mark.parametrize(("what", "action", "payload", "code"), SCHEMA_ERRORS, ids=[f"{a}-{w}" for w, a, _, _ in SCHEMA_ERRORS])
def test_schema_violation_is_answered_with_its_ocpp_error_code(what, action, payload, code):
    station = Station()
    before = builtins(station.state)
    outcome = station.call(action, payload, message_id="bad-1")
    frame = json.loads(outcome.replies[0])
    assert frame[:3] == [ocppj.CALLERROR, "bad-1", code]
    assert frame[4] == {}
    assert not outcome.durable and outcome.close_code is None
    assert builtins(station.state)["transactions"] == before["transactions"]
    assert builtins(station.state)["connectors"] == before["connectors"]


@pytest.mark.parametrize("text", ['[2,"a","Heartbeat",{}', '{"not":"an array"}', '[2,"a","Heartbeat",[]]', '[9,"a"]', "[2,1,2,3]"])
def test_malformed_frame_is_answered_and_logged_as_malformed(text):
    station = Station()
    outcome = station.send(text)
    frame = json.loads(outcome.replies[0])
    assert frame[0] == ocppj.CALLERROR
    inbound, outbound = outcome.events
    assert (inbound.direction, inbound.message_type, inbound.action, inbound.payload) == ("in", "CALL", ev.MALFORMED, text)
    assert (outbound.direction, outbound.message_type, outbound.message_id) == ("out", "CALLERROR", frame[1])
    assert json.loads(outbound.payload)[0] == frame[2]


# --- CALLRESULT / CALLERROR from the station -------------------------------------------------


def test_call_result_from_the_station_is_logged_and_not_answered():
    station = Station()
    outcome = station.send('[3,"csms-7",{"status":"Accepted"}]')
    assert outcome.replies == []
    (event,) = outcome.events
    assert (event.direction, event.message_type, event.message_id, event.payload) == ("in", "CALLRESULT", "csms-7", '{"status":"Accepted"}')
    assert not outcome.durable


def test_call_error_from_the_station_is_logged_and_not_answered():
    station = Station()
    outcome = station.send('[4,"csms-8","NotSupported","no",{"why":1}]')
    assert outcome.replies == []
    (event,) = outcome.events
    assert (event.direction, event.message_type, event.message_id) == ("in", "CALLERROR", "csms-8")
    assert json.loads(event.payload) == ["NotSupported", "no", {"why": 1}]


def test_call_result_from_the_station_does_not_disturb_its_own_call():
    station = Station()
    start(station)
    assert station.state.pending_call is None
    station.send('[3,"csms-9",{}]')
    assert station.state.pending_call is None


# --- durability and events ---------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(VALID))
def test_reply_must_wait_for_fsync_exactly_for_boot_status_and_transaction_messages(action):
    station = Station(boot=action != "BootNotification")
    if action in ("MeterValues", "StopTransaction"):
        start(station)
    outcome = station.call(action, VALID[action])
    assert json.loads(outcome.replies[0])[0] == ocppj.CALLRESULT
    assert outcome.durable is (action in DURABLE_ACTIONS)


STATION_TIMESTAMPS = {
    "StatusNotification": T0 + 1 * MINUTE_US,
    "StartTransaction": T0 + 2 * MINUTE_US,
    "MeterValues": T0 + 3 * MINUTE_US,
    "StopTransaction": T0 + 4 * MINUTE_US,
    "SecurityEventNotification": T0 + 5 * MINUTE_US,
}


@pytest.mark.parametrize("action", sorted(VALID))
def test_every_call_yields_an_inbound_and_an_outbound_event(action):
    station = Station(boot=action != "BootNotification")
    if action in ("MeterValues", "StopTransaction"):
        start(station)
    payload_text = json.dumps(VALID[action])
    outcome = station.send(f'[2,"id-{action}","{action}",{payload_text}]')
    inbound, outbound = outcome.events
    assert (inbound.direction, inbound.message_type, inbound.action, inbound.message_id) == ("in", "CALL", action, f"id-{action}")
    assert json.loads(inbound.payload) == VALID[action]
    assert inbound.station_ts_us == STATION_TIMESTAMPS.get(action)
    assert (outbound.direction, outbound.message_type, outbound.action, outbound.message_id) == ("out", "CALLRESULT", action, f"id-{action}")
    assert json.loads(outbound.payload) == json.loads(outcome.replies[0])[2]
    assert outbound.station_ts_us is None
    for event in outcome.events:
        assert (event.station_id, event.received_at_us, event.ocpp_version) == (STATION_ID, station.clock_us, "1.6")


def test_refused_call_yields_an_inbound_call_and_an_outbound_call_error():
    station = Station("Pending")
    outcome = station.call("StatusNotification", VALID["StatusNotification"], message_id="s-1")
    inbound, outbound = outcome.events
    assert (inbound.direction, inbound.message_type, inbound.action) == ("in", "CALL", "StatusNotification")
    assert inbound.station_ts_us == STATION_TIMESTAMPS["StatusNotification"]
    assert (outbound.direction, outbound.message_type, outbound.action, outbound.message_id) == ("out", "CALLERROR", "StatusNotification", "s-1")
    assert json.loads(outbound.payload)[0] == ocppj.SECURITY_ERROR


def test_meter_values_station_time_is_that_of_its_first_meter_value():
    station = Station()
    tx_id = start(station)["transactionId"]
    outcome = station.call("MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [
        {"timestamp": ts(30), "sampledValue": [{"value": "1"}]},
        {"timestamp": ts(31), "sampledValue": [{"value": "2"}]},
    ]})
    assert outcome.events[0].station_ts_us == T0 + 30 * MINUTE_US


def test_reply_is_the_same_text_as_the_logged_result():
    station = Station()
    outcome = station.call("Heartbeat", {}, message_id='we,ird"id')
    assert outcome.replies[0] == ocppj.call_result_json('we,ird"id', outcome.events[1].payload)
    assert json.loads(outcome.replies[0])[1] == 'we,ird"id'


# --- replay: the fold rebuilds exactly the live state -----------------------------------------


def charging_day(station: Station) -> None:
    """A day of one two-connector station, with the retries and oddities real stations produce."""
    for connector in (0, 1, 2):
        status(station, connector, "Available", 0)
    station.answer("Heartbeat", {})
    station.answer("Authorize", {"idTag": "tag1"})
    tx1 = start(station, connector=1, tag="TAG1", meter=10_000, minute=60)["transactionId"]
    start(station, connector=1, tag="TAG1", meter=10_000, minute=60)  # retried: no answer reached it
    status(station, 1, "Charging", 61)
    for i in range(5):
        meter_values(station, tx1, [
            {"value": str(10_000 + 1_000 * i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "11.0", "measurand": "Power.Active.Import", "unit": "kW"},
        ], minute=62 + i)
    tx2 = start(station, connector=2, tag="BLOCKED", meter=500, minute=70)["transactionId"]
    stop(station, tx2, meter=500, minute=71, reason="DeAuthorized")
    station.log.append(station.session.disconnect("conn-1", station.clock_us, 1006))
    station.log.append(station.session.connect("conn-2", station.clock_us + 5, station.clock_us + 5))
    # Queued while offline: arrives late, older than what we already know.
    station.answer("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "SuspendedEV", "timestamp": ts(60.5)})
    meter_values(station, tx1, [{"value": "16.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}], minute=80)
    stop(station, tx1, meter=17_000, minute=90, idTag="TAG1", transactionData=[{"timestamp": ts(90), "sampledValue": [{"value": "17000"}]}])
    stop(station, tx1, meter=17_000, minute=90, idTag="TAG1")  # retried stop
    stop(station, 999, meter=3, minute=95)  # a transaction from before our time
    stop(station, -1, meter=4, minute=96)
    status(station, 1, "Finishing", 91)
    status(station, 1, "Available", 92)
    station.answer("DataTransfer", {"vendorId": "com.acme", "data": "{}"})
    station.answer("DiagnosticsStatusNotification", {"status": "Uploaded"})
    station.answer("FirmwareStatusNotification", {"status": "Downloading"})
    station.send('[3,"csms-1",{"status":"Accepted"}]')
    station.send('[4,"csms-2","NotSupported","",{}]')
    station.send("garbage")
    station.call("Authorize", {"idTag": "x" * 21})
    station.call("SecurityEventNotification", {"type": "x", "timestamp": ts(100)})
    station.answer("BootNotification", {**VALID["BootNotification"], "firmwareVersion": "2.0"})
    start(station, connector=2, tag="TAG2", meter=20_000, minute=120)
    station.answer("Heartbeat", {})


def test_replaying_the_log_of_a_charging_day_rebuilds_the_live_state():
    station = Station()
    charging_day(station)
    assert len(station.state.transactions) == 5
    assert builtins(station.replayed().state) == builtins(station.state)


def test_snapshot_plus_the_rest_of_the_log_rebuilds_the_live_state():
    station = Station()
    charging_day(station)
    for cut in (0, 5, len(station.log) // 2, len(station.log) - 1, len(station.log)):
        at_cut = station.replayed(station.log[:cut]).state
        snapshot = msgspec.msgpack.decode(msgspec.msgpack.encode(at_cut), type=StationState)
        rebuilt = station.replayed(station.log[cut:], state=snapshot)
        assert builtins(rebuilt.state) == builtins(station.state), cut


def test_replayed_session_answers_the_next_frames_as_the_live_one_does():
    station = Station()
    charging_day(station)
    twin = Station()
    twin.session = station.replayed()
    twin.clock_us = station.clock_us
    next_frames = [
        ("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 1, "timestamp": ts(200)}),
        ("StartTransaction", {"connectorId": 2, "idTag": "TAG2", "meterStart": 20_000, "timestamp": ts(120)}),
        ("StopTransaction", {"transactionId": 999, "meterStop": 5, "timestamp": ts(201)}),
        ("Authorize", {"idTag": "TAG2"}),
    ]
    for n, (action, payload) in enumerate(next_frames):
        assert station.call(action, payload, f"n{n}").replies == twin.call(action, payload, f"n{n}").replies
    assert builtins(twin.state) == builtins(station.state)


# --- property: any sequence of frames, live state == replayed state, handle never raises -------

def weighted(choices: list[tuple[int, st.SearchStrategy]]) -> st.SearchStrategy:
    """Draw from each strategy with the given weight. one_of drops a strategy passed twice, so
    repeats are distinct (identity-mapped) copies; cheaper to draw than sampled_from + flatmap."""
    return st.one_of(*[s if i == 0 else s.map(lambda x: x) for weight, s in choices for i in range(weight)])


def timestamp_text(minute: int, style: str) -> str:
    moment = DAY + timedelta(minutes=minute)
    return {
        "Z": ts(minute),
        "offset": moment.astimezone(timezone(timedelta(hours=2))).isoformat(),
        "naive": moment.replace(tzinfo=None).isoformat(),
        "fraction": (moment + timedelta(microseconds=123456)).isoformat(),
    }[style]


timestamps = weighted([
    (6, st.builds(timestamp_text, st.integers(0, 30), st.sampled_from(["Z", "offset", "naive", "fraction"]))),
    (1, st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "not a time", "2024-02-30T00:00:00Z"])),
])
tags = st.sampled_from(["TAG1", "tag1", "TAG2", "BLOCKED", "OLD", "CHILD", "NOSUCHTAG", "x" * 21])
connectors = st.integers(-1, 3)
tx_ids = st.integers(-1, 8) | st.just(2**31)
samples = st.lists(st.fixed_dictionaries({"value": st.sampled_from(["1000", "2.5", "nan", "x"])}, optional={
    "measurand": st.sampled_from(["Energy.Active.Import.Register", "Power.Active.Import", "Voltage"]),
    "unit": st.sampled_from(["Wh", "kWh", "W", "Hertz", "Hz"]),
    "phase": st.just("L1"),
}), max_size=3)
meter_value_lists = st.lists(st.fixed_dictionaries({"timestamp": timestamps, "sampledValue": samples}), max_size=2)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=25),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=6,
)

# Payloads that are mostly valid, so sequences reach transactions, orphans and duplicates.
VALID_ISH_PAYLOADS = {
    "BootNotification": st.fixed_dictionaries(
        {"chargePointVendor": st.sampled_from(["V", "VendorX"]), "chargePointModel": st.just("M")},
        optional={"firmwareVersion": st.sampled_from(["1", "2"]), "chargeBoxSerialNumber": st.just("B")}),
    "Heartbeat": st.just({}),
    "StatusNotification": st.fixed_dictionaries(
        {"connectorId": connectors, "errorCode": st.sampled_from(["NoError", "GroundFailure", "Oops"]),
         "status": st.sampled_from(["Available", "Charging", "Faulted"])}, optional={"timestamp": timestamps}),
    "Authorize": st.fixed_dictionaries({"idTag": tags}),
    "StartTransaction": st.fixed_dictionaries(
        {"connectorId": connectors, "idTag": tags, "meterStart": st.integers(0, 3), "timestamp": timestamps},
        optional={"reservationId": st.integers(0, 2)}),
    "MeterValues": st.fixed_dictionaries(
        {"connectorId": connectors, "meterValue": meter_value_lists}, optional={"transactionId": tx_ids}),
    "StopTransaction": st.fixed_dictionaries(
        {"transactionId": tx_ids, "meterStop": st.integers(0, 5000), "timestamp": timestamps},
        optional={"idTag": tags, "reason": st.sampled_from(["Local", "Remote", "Nope"]), "transactionData": meter_value_lists}),
    "DataTransfer": st.fixed_dictionaries({"vendorId": st.text(max_size=5)}),
    "DiagnosticsStatusNotification": st.fixed_dictionaries({"status": st.sampled_from(["Idle", "Uploaded", "Bad"])}),
    "FirmwareStatusNotification": st.fixed_dictionaries({"status": st.sampled_from(["Idle", "Installed", "Bad"])}),
}
CALL_WEIGHTS = {
    "BootNotification": 2, "Heartbeat": 1, "StatusNotification": 2, "Authorize": 1, "StartTransaction": 5,
    "MeterValues": 2, "StopTransaction": 4, "DataTransfer": 1, "DiagnosticsStatusNotification": 1,
    "FirmwareStatusNotification": 1,
}
valid_ish_calls = weighted([(w, st.tuples(st.just(a), VALID_ISH_PAYLOADS[a])) for a, w in CALL_WEIGHTS.items()])
random_calls = st.tuples(st.sampled_from([*VALID, "FooBar", "Reset"]), json_values)
message_ids = st.sampled_from(["1", "2", "dup", "a,b", 'q"q', "é"]) | st.text(max_size=40)

frames = weighted([
    (12, st.builds(lambda mid, call: json.dumps([2, mid, call[0], call[1]]), message_ids, valid_ish_calls)),
    (1, st.builds(lambda mid, call: json.dumps([2, mid, call[0], call[1]]), message_ids, random_calls)),
    (1, st.builds(lambda mid, p: json.dumps([3, mid, p]), message_ids, json_values)),
    (1, st.builds(lambda mid, code, p: json.dumps([4, mid, code, "d", p]), message_ids, st.sampled_from(["NotSupported", "GenericError"]), json_values)),
    (1, st.builds(json.dumps, json_values)),
    (1, st.text(max_size=60)),
])
# Mostly frames; now and then the lifecycle events a host interleaves with them.
operations = weighted([
    (80, st.tuples(st.just("frame"), frames)),
    (1, st.tuples(st.just("connect"), st.sampled_from(["c1", "c2", "c3"]))),
    (1, st.tuples(st.just("disconnect"), st.sampled_from(["c1", "c2", "c3"]))),
    (1, st.tuples(st.just("register"), st.sampled_from(["Accepted", "Accepted", "Pending", "Rejected"]))),
    (1, st.tuples(st.just("deregister"), st.none())),
])


def start_key(payload: dict) -> tuple:
    return (payload["connectorId"], payload["idTag"], to_us(m.decode_request("StartTransaction", json.dumps(payload).encode()).timestamp), payload["meterStart"])


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(operations, min_size=10, max_size=40), st.integers(0, 80))
def test_any_sequence_of_frames_replays_to_the_live_state_and_never_raises(booted, ops, cut):
    station = Station(boot=booted)
    issued: dict[tuple, int] = {}
    for kind, arg in ops:
        if kind == "frame":
            outcome = station.send(arg)
            parsed = ocppj.parse_frame(arg)
            if isinstance(parsed, ocppj.CallResult | ocppj.CallError):
                assert outcome.replies == [] and len(outcome.events) == 1
                continue
            (reply,) = outcome.replies
            answered = json.loads(reply)
            # An inbound and an outbound event, then one settlement per transaction the frame
            # showed over (issue 16, item 3), each of a transaction open until then.
            settled = outcome.events[2:]
            assert len(outcome.events) - len(settled) == 2
            assert all(e.action == ev.TRANSACTION_SETTLED for e in settled)
            if settled:
                assert parsed.action in ("StartTransaction", "BootNotification", "StatusNotification")
                assert all(not station.state.transactions[json.loads(e.payload)["transaction_id"]].active for e in settled)
            assert answered[1] == parsed.message_id
            if isinstance(parsed, ocppj.Call) and parsed.action == "StartTransaction" and answered[0] == ocppj.CALLRESULT:
                key = start_key(json.loads(bytes(parsed.payload)))
                tx_id = answered[2]["transactionId"]
                tx = station.state.transactions[tx_id]
                assert (tx.connector_id, tx.id_tag, tx.started_at_us, tx.meter_start_wh) == key
                # Same start -> same id; a different start never gets an id already given.
                assert issued.setdefault(key, tx_id) == tx_id
                assert [k for k, v in issued.items() if v == tx_id] == [key]
        elif kind == "connect":
            station.log.append(station.session.connect(arg, station.clock_us, station.clock_us))
        elif kind == "disconnect":
            event = station.session.disconnect(arg, station.clock_us, 1000)
            if event is not None:
                station.log.append(event)
        elif kind == "register":
            station.register(arg)
        else:
            station.log.append(station.session.deregister(station.clock_us))
    live = builtins(station.state)
    assert builtins(station.replayed().state) == live
    cut = min(cut, len(station.log))
    snapshot = msgspec.msgpack.decode(msgspec.msgpack.encode(station.replayed(station.log[:cut]).state), type=StationState)
    assert builtins(station.replayed(station.log[cut:], state=snapshot).state) == live


# --- agreement with the ocpp library's 1.6 JSON schemas --------------------------------------
#
# Every request payload below is derived mechanically, by tests/ocpp_schema_cases.py, from the
# library's schema (ocpp/v16/schemas/<Action>.json, the one `ocpp.messages._validate_payload`
# uses through get_validator): a full and a minimal valid payload, then one change at a time at
# every node (drop a field, add an unknown one, every JSON type, lengths at and past maxLength,
# every enum value and wrong ones, empty and longer arrays, timestamps). Our decoder must accept
# exactly what the schema accepts, except for the differences listed in KNOWN_DIFFERENCES, each
# on purpose.

KNOWN_DIFFERENCES = {
    "null for an optional field": (
        "we accept, the schema rejects: msgspec reads null as the field's absence (`X | None`); "
        "harmless, and kinder to stations that send null for optional fields"
    ),
    "integer outside int32": (
        "we reject, the schema accepts any integer: OCPP 1.6 defines integer as 32-bit signed"
    ),
    "negative connectorId": (
        "we reject, the schema accepts: OCPP 1.6 says connectorId >= 0 (StartTransaction even > 0)"
    ),
    "timestamp not RFC 3339": (
        "we reject, the library accepts any string: its Draft4Validator has no format checker, so "
        "'format: date-time' is not enforced; a timestamp we cannot read cannot be stored"
    ),
    "Hertz in StopTransaction": (
        "we accept, the library's StopTransaction.json does not list it (its MeterValues.json does); "
        "errata v4.0 makes Hertz the unit of Frequency wherever a SampledValue appears"
    ),
}

# Hertz: see KNOWN_DIFFERENCES; Hz: seen in the field, not 1.6.
CASES = SchemaCases(enum_probes=("Bogus", "Hertz", "Hz"), non_ascii_at_max_length=True)


def we_accept(action: str, payload: Any) -> bool:
    try:
        m.decode_request(action, msgspec.json.encode(payload))
    except msgspec.ValidationError:
        return False
    return True


def why_we_differ(action: str, mutation: Mutation, payload: Any, we: bool) -> str | None:
    value, node = mutation.value, mutation.node
    if we and value is None and not mutation.required and mutation.what != "dropped":
        return "null for an optional field"
    if we and action == "StopTransaction" and value == "Hertz":
        return "Hertz in StopTransaction"
    if not we and node.get("type") == "integer" and type(value) is int and not -(2**31) <= value < 2**31:
        return "integer outside int32"
    if not we and mutation.path[-1:] == ("connectorId",) and type(value) is int and value < 0:
        return "negative connectorId"
    if not we and node.get("format") == "date-time":
        return "timestamp not RFC 3339"
    return None


@pytest.mark.parametrize("action", sorted(m.STATION_REQUESTS))
def test_decoder_accepts_exactly_what_the_ocpp_library_schema_accepts(action):
    unexplained, _explained, count = compare_with_library(CASES, action, we_accept, why_we_differ)
    assert count > 30
    assert unexplained == []


def test_every_known_difference_from_the_library_schemas_still_exists():
    seen: set[str] = set()
    for action in m.STATION_REQUESTS:
        seen |= compare_with_library(CASES, action, we_accept, why_we_differ)[1]
    assert seen == set(KNOWN_DIFFERENCES)


# Where the schema rejects, the error code follows OCPP-J 1.6 section 4.2.3 by the kind of
# rule broken. The ocpp library itself answers differently in three cases (required ->
# ProtocolError, maxLength -> TypeConstraintViolation, enum/minItems -> FormatViolation);
# we follow the section's definitions instead.
CODE_FOR_RULE = {
    "type": ocppj.TYPE_CONSTRAINT_VIOLATION,
    "additionalProperties": ocppj.FORMATION_VIOLATION,
    "required": ocppj.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": ocppj.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxLength": ocppj.PROPERTY_CONSTRAINT_VIOLATION,
    "enum": ocppj.PROPERTY_CONSTRAINT_VIOLATION,
}


@pytest.mark.parametrize("action", sorted(m.STATION_REQUESTS))
def test_error_code_matches_the_kind_of_schema_rule_broken(action):
    validator = library_validator(ocppj.CALL, action)
    checked = 0
    for mutation, payload in CASES.mutated_payloads(ocppj.CALL, action):
        errors = list(validator.iter_errors(payload))
        if len(errors) != 1 or we_accept(action, payload):
            continue
        (error,) = errors
        expected = ocppj.FORMATION_VIOLATION if not error.absolute_path and error.validator == "type" else CODE_FOR_RULE[error.validator]
        with pytest.raises(msgspec.ValidationError) as info:
            m.decode_request(action, msgspec.json.encode(payload))
        assert ocppj.constraint_error_code(info.value) == expected, (mutation.path, mutation.what, str(info.value))
        checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("2024-03-01T10:00:00Z", True),
        ("2024-03-01T10:00:00.123456Z", True),
        ("2024-03-01T10:00:00.123456789Z", True),
        ("2024-03-01T10:00:00+05:30", True),
        ("2024-03-01t10:00:00z", True),
        ("2024-03-01 10:00:00Z", True),  # RFC 3339 section 5.6 allows a space by agreement
        ("2024-03-01T10:00:00", True),  # no offset: taken as UTC (to_us), as many stations send
        ("2024-03-01", False),
        ("10:00:00Z", False),
        ("2024-02-30T10:00:00Z", False),
        ("2024-03-01T24:00:00Z", False),
        ("2024-03-01T10:00Z", False),
        ("1709287200", False),
        ("", False),
    ],
)
def test_station_timestamps_are_rfc3339(text, accepted):
    payload = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": text}
    assert we_accept("StartTransaction", payload) is accepted


def test_naive_station_time_is_taken_as_utc():
    request = m.decode_request("StartTransaction", b'{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"2024-03-01T10:00:00"}')
    assert to_us(request.timestamp) == to_us(datetime(2024, 3, 1, 10, tzinfo=timezone.utc))
