"""The OCPP 2.0.1 station session, without Ray or sockets: every station-initiated action, the
errors it answers, the events it logs, and that replaying those events rebuilds the same state.

As tests/test_station_session.py does for 1.6: a `Station201` plays one charge station against
one `StationSession` on a connection that negotiated `ocpp2.0.1`, and keeps every event the
session returns, so any test can rebuild the session from the log and compare.
Requirement ids are OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ocppj
from actors.authorizer.decision import AuthorizationDecision
from actors.events import Event, decode_event, encode_event
from actors.ocpp201 import messages as m
from actors.protocol import Policy
from actors.protocols import PROTOCOLS, TRANSACTION_ACTIONS, negotiate
from actors.station_session import Outcome, StationSession
from actors.station_state import IdTagRecord, Registration, StationState
from actors.timestamps import to_us
from actors.views import station_view, transaction_views
from tests.ocpp201_schema_cases import library_validator

STATION_ID = "CP-201"
POLICY = Policy(heartbeat_interval_s=300, pending_retry_interval_s=60, completed_transactions_kept=200)
DAY = datetime(2024, 3, 1, tzinfo=timezone.utc)
T0 = to_us(DAY)
MINUTE_US = 60_000_000


def ts(minutes: float = 0) -> str:
    return (DAY + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


ID_TAGS = {
    "TAG1": IdTagRecord(),
    "TAG2": IdTagRecord(),
    "BLOCKED": IdTagRecord(status="Blocked"),
    "OLD": IdTagRecord(expiry_us=T0 - MINUTE_US),
    "FUTURE": IdTagRecord(expiry_us=T0 + 365 * 24 * 60 * MINUTE_US, parent_id_tag="GROUP1"),
}


def token(value: str = "TAG1", kind: str = "ISO14443") -> dict:
    return {"idToken": value, "type": kind}


def register(wh: float, context: str | None = None, unit: str | None = None, multiplier: int | None = None,
             **extra) -> dict:
    sample: dict[str, Any] = {"value": wh, **extra}
    if context:
        sample["context"] = context
    if unit or multiplier is not None:
        sample["unitOfMeasure"] = {k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v is not None}
    return sample


def tx_event(event_type: str, seq_no: int, tx_id: str = "tx-1", minute: float = 2, *, samples: list | None = None,
             id_token: dict | None = None, trigger: str = "Authorized", **extra) -> dict:
    payload: dict[str, Any] = {
        "eventType": event_type, "timestamp": ts(minute), "triggerReason": trigger, "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx_id, **extra.pop("info", {})},
        "evse": {"id": 1, "connectorId": 1}, **extra,
    }
    if samples:
        payload["meterValue"] = [{"timestamp": ts(minute), "sampledValue": samples}]
    if id_token:
        payload["idToken"] = id_token
    return payload


# One valid payload per station-initiated 2.0.1 action.
VALID: dict[str, dict] = {
    "BootNotification": {"chargingStation": {"model": "M1", "vendorName": "VendorX"}, "reason": "PowerUp"},
    "Heartbeat": {},
    "StatusNotification": {"timestamp": ts(1), "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
    "NotifyEvent": {"generatedAt": ts(1), "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": ts(1), "trigger": "Alerting", "actualValue": "Faulted",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
        "eventNotificationType": "HardWiredNotification", "variable": {"name": "Problem"}, "techCode": "E12"}]},
    "NotifyReport": {"requestId": 7, "generatedAt": ts(1), "seqNo": 0, "reportData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
        "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
        "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False, "unit": "s"}}]},
    "Authorize": {"idToken": token()},
    "TransactionEvent": tx_event("Started", 0, samples=[register(1000, "Transaction.Begin")], id_token=token()),
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": ts(3), "sampledValue": [register(1500)]}]},
    "SecurityEventNotification": {"type": "FirmwareUpdated", "timestamp": ts(1), "techInfo": "v2"},
    "FirmwareStatusNotification": {"status": "Installed", "requestId": 3},
    "PublishFirmwareStatusNotification": {"status": "Published", "location": ["http://lc/fw"], "requestId": 4},
    "LogStatusNotification": {"status": "Uploaded", "requestId": 5},
    "ReservationStatusUpdate": {"reservationId": 9, "reservationUpdateStatus": "Expired"},
    "NotifyChargingLimit": {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1},
    "ClearedChargingLimit": {"chargingLimitSource": "EMS", "evseId": 1},
    "ReportChargingProfiles": {"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [{
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": ts(0),
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}]},
    "NotifyEVChargingNeeds": {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_single_phase"}},
    "NotifyEVChargingSchedule": {"timeBase": ts(0), "evseId": 1, "chargingSchedule": {
        "id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}]}},
    "NotifyDisplayMessages": {"requestId": 2},
    "NotifyCustomerInformation": {"data": "none", "seqNo": 0, "generatedAt": ts(1), "requestId": 6},
    "NotifyMonitoringReport": {"requestId": 8, "seqNo": 0, "generatedAt": ts(1)},
    "DataTransfer": {"vendorId": "com.example", "messageId": "hello"},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
    "Get15118EVCertificate": {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install",
                              "exiRequest": "AAAA"},
    "GetCertificateStatus": {"ocspRequestData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a",
                                                 "issuerKeyHash": "b", "serialNumber": "c",
                                                 "responderURL": "http://ocsp"}},
}
assert set(VALID) == set(m.REQUESTS)
DURABLE = {"BootNotification", "StatusNotification", "NotifyEvent", "NotifyReport", "TransactionEvent",
           "MeterValues", "SecurityEventNotification",
           # The CSR is on disk before the CSMS promises to sign it (actors/ocpp201/certificates.py).
           "SignCertificate"}


class Station201:
    """One simulated 2.0.1 charge station talking to one session; `log` is everything the CSMS would write."""

    def __init__(self, boot_status: str = "Accepted", *, boot: bool = True, policy: Policy = POLICY) -> None:
        self.policy = policy
        self.session = StationSession(STATION_ID, policy)
        self.log: list[Event] = []
        self.clock_us = T0
        self.id_tags = dict(ID_TAGS)
        self._message_ids = itertools.count(1)
        registration = Registration(password_hash="pbkdf2_sha256$1$00$00", site="depot", boot_status=boot_status)
        self.log.append(self.session.register(registration, self.clock_us))
        self.log.append(self.session.connect("conn-1", self.clock_us, self.clock_us, ocpp_version="2.0.1"))
        if boot:
            self.call("BootNotification", VALID["BootNotification"])

    @property
    def state(self) -> StationState:
        return self.session.state

    def send(self, text: str, decision: AuthorizationDecision | None = None) -> Outcome:
        self.clock_us += 1_000_000
        outcome = self.session.handle(text, self.clock_us, self.id_tags, decision)
        self.log.extend(outcome.events)
        return outcome

    def call(self, action: str, payload: Any, message_id: str | None = None, **kw) -> Outcome:
        return self.send(json.dumps([2, message_id or f"m{next(self._message_ids)}", action, payload]), **kw)

    def answer(self, action: str, payload: Any, **kw) -> dict[str, Any]:
        (reply,) = self.call(action, payload, **kw).replies
        frame = json.loads(reply)
        assert frame[0] == ocppj.CALLRESULT, frame
        return frame[2]

    def refuse(self, action: str, payload: Any) -> str:
        (reply,) = self.call(action, payload).replies
        frame = json.loads(reply)
        assert frame[0] == ocppj.CALLERROR, frame
        return frame[2]

    def replayed(self) -> StationSession:
        fresh = StationSession(STATION_ID, self.policy)
        for event in self.log:
            fresh.apply(decode_event(encode_event(event)))
        return fresh

    def transaction(self, tx_id: str = "tx-1"):
        return self.state.transactions[tx_id]

    def gaps(self, tx_id: str = "tx-1") -> list[int]:
        [view] = [v for v in transaction_views(self.state) if v.transaction_id == tx_id]
        return view.seq_gaps


def builtins(state: StationState) -> Any:
    return msgspec.to_builtins(state)


# --- the version: negotiation and the face ---------------------------------------------------------


def test_both_subprotocols_offered_negotiate_2_0_1():
    assert negotiate(["ocpp1.6", "ocpp2.0.1"]).version == "2.0.1"
    assert negotiate(["ocpp2.0.1"]).subprotocol == "ocpp2.0.1"
    assert negotiate(["ocpp1.6"]).version == "1.6"


def test_transaction_event_is_a_transaction_message_for_the_rate_limit():
    assert PROTOCOLS["2.0.1"].transaction_actions == {"TransactionEvent"}
    assert "TransactionEvent" in TRANSACTION_ACTIONS


def test_the_state_and_every_event_say_2_0_1():
    station = Station201()
    assert station.state.ocpp_version == "2.0.1"
    assert {e.ocpp_version for e in station.log[1:]} == {"2.0.1"}


# --- BootNotification (B01-B03) ---------------------------------------------------------------------


@pytest.mark.parametrize("status,interval", [("Accepted", 300), ("Pending", 60), ("Rejected", 60)])
def test_boot_notification_answers_the_registration_status_and_its_interval(status, interval):
    station = Station201(status, boot=False)
    result = station.answer("BootNotification", VALID["BootNotification"])
    assert (result["status"], result["interval"]) == (status, interval)
    assert result["currentTime"].endswith("Z")
    assert station.state.boot_status == status


def test_boot_notification_stores_the_charging_station_and_modem():
    station = Station201(boot=False)
    station.answer("BootNotification", {"reason": "RemoteReset", "chargingStation": {
        "model": "M1", "vendorName": "VendorX", "serialNumber": "SN-1", "firmwareVersion": "1.2.3",
        "modem": {"iccid": "8931", "imsi": "2620"}}})
    boot = station.state.boot
    assert (boot.vendor, boot.model, boot.serial_number, boot.firmware_version, boot.iccid, boot.imsi, boot.reason) \
        == ("VendorX", "M1", "SN-1", "1.2.3", "8931", "2620", "RemoteReset")


@pytest.mark.parametrize("boot_status", ["Pending", "Rejected"])
@pytest.mark.parametrize("action", ["Heartbeat", "StatusNotification", "Authorize", "TransactionEvent",
                                    "SecurityEventNotification"])
def test_a_station_not_accepted_may_send_nothing_but_boot_b02_b03(boot_status, action):
    station = Station201(boot_status)
    assert station.refuse(action, VALID[action]) == "SecurityError"
    assert station.state.transactions == {}


def test_a_pending_station_may_send_the_notify_report_of_a_get_base_report_b02():
    station = Station201("Pending")
    assert station.answer("NotifyReport", VALID["NotifyReport"]) == {}
    assert "OCPPCommCtrlr/HeartbeatInterval" in station.state.v201.device_model


def test_a_call_before_any_boot_is_a_security_error():
    station = Station201(boot=False)
    assert station.refuse("Heartbeat", {}) == "SecurityError"


# --- Heartbeat, StatusNotification (G01, G02) ------------------------------------------------------


def test_heartbeat_answers_the_time_and_records_it():
    station = Station201()
    result = station.answer("Heartbeat", {})
    assert to_us(datetime.fromisoformat(result["currentTime"].replace("Z", "+00:00"))) == station.clock_us
    assert station.state.last_heartbeat_us == station.clock_us


def status(station: Station201, evse: int, connector: int, value: str, minute: float) -> None:
    assert station.answer("StatusNotification", {"timestamp": ts(minute), "connectorStatus": value,
                                                 "evseId": evse, "connectorId": connector}) == {}


def test_status_notification_is_kept_per_evse_and_connector():
    station = Station201()
    status(station, 1, 1, "Occupied", 1)
    status(station, 2, 1, "Faulted", 1)
    evses = station.state.v201.evses
    assert evses[1].connectors[1].status == "Occupied"
    assert evses[2].connectors[1].status == "Faulted"
    assert station.state.connectors == {}  # the 1.6 part stays empty


def test_older_status_arriving_later_does_not_overwrite_the_newest():
    station = Station201()
    status(station, 1, 1, "Occupied", 10)
    status(station, 1, 1, "Available", 5)  # offline-queued, older
    assert station.state.v201.evses[1].connectors[1].status == "Occupied"


# --- NotifyEvent (N07), NotifyReport (B07) ---------------------------------------------------------


def test_notify_event_keeps_the_latest_event_per_component_and_variable_and_its_clearing():
    station = Station201()
    station.answer("NotifyEvent", VALID["NotifyEvent"])
    key = "Connector@1.1/Problem"
    problem = station.state.v201.events[key]
    assert (problem.actual_value, problem.tech_code, problem.cleared) == ("Faulted", "E12", False)
    cleared = json.loads(json.dumps(VALID["NotifyEvent"]))
    cleared["eventData"][0].update(eventId=2, timestamp=ts(5), actualValue="Available", cleared=True)
    station.answer("NotifyEvent", cleared)
    assert station.state.v201.events[key].cleared is True
    late = json.loads(json.dumps(VALID["NotifyEvent"]))
    late["eventData"][0].update(eventId=3, timestamp=ts(2))
    station.answer("NotifyEvent", late)
    assert station.state.v201.events[key].event_id == 2  # the newest station time wins


def report_part(seq_no: int, variable: str, tbc: bool, request_id: int = 7) -> dict:
    return {"requestId": request_id, "generatedAt": ts(1), "seqNo": seq_no, "tbc": tbc, "reportData": [{
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": variable},
        "variableAttribute": [{"value": "true"}]}]}


def test_multi_part_notify_report_assembles_the_device_model_and_knows_when_it_is_complete():
    station = Station201()
    station.answer("NotifyReport", report_part(0, "Available", tbc=True))
    [progress] = station.state.v201.reports
    assert not progress.complete
    station.answer("NotifyReport", report_part(1, "AvailabilityState", tbc=True))
    station.answer("NotifyReport", report_part(2, "Power", tbc=False))
    assert progress.complete and progress.seq_nos == [0, 1, 2]
    assert set(station.state.v201.device_model) == {"EVSE@1/Available", "EVSE@1/AvailabilityState", "EVSE@1/Power"}
    assert station.state.v201.device_model["EVSE@1/Power"].attributes[0].type == "Actual"  # the default


def test_a_report_missing_a_part_is_not_complete():
    station = Station201()
    station.answer("NotifyReport", report_part(0, "Available", tbc=True))
    station.answer("NotifyReport", report_part(2, "Power", tbc=False))
    assert not station.state.v201.reports[0].complete


# --- Authorize (C01) ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tag,expected", [("TAG1", "Accepted"), ("tag1", "Accepted"), ("NOSUCH", "Unknown"),
                                          ("BLOCKED", "Blocked"), ("OLD", "Expired")])
def test_authorize_answers_from_the_id_tag_table(tag, expected):
    assert Station201().answer("Authorize", {"idToken": token(tag)})["idTokenInfo"]["status"] == expected


def test_authorize_carries_the_expiry_and_the_group_token():
    info = Station201().answer("Authorize", {"idToken": token("FUTURE")})["idTokenInfo"]
    assert info["cacheExpiryDateTime"].startswith("2025-03-01")
    assert info["groupIdToken"] == {"idToken": "GROUP1", "type": "Central"}


def test_authorize_uses_an_external_decision_for_its_token():
    station = Station201()
    decision = AuthorizationDecision(id_tag="ROAMING", source="downstream", record=IdTagRecord(), downstream="answered")
    outcome = station.call("Authorize", {"idToken": token("roaming")}, decision=decision)
    assert json.loads(outcome.replies[0])[2]["idTokenInfo"]["status"] == "Accepted"
    assert outcome.events[-1].action == "AuthorizationDecided"


# --- TransactionEvent (E01-E15) -----------------------------------------------------------------------


def full_session(station: Station201, tx_id: str = "tx-1", tag: str = "TAG1") -> list[dict]:
    return [
        station.answer("TransactionEvent", tx_event("Started", 0, tx_id, 2, id_token=token(tag),
                                                     samples=[register(1000, "Transaction.Begin")])),
        station.answer("TransactionEvent", tx_event("Updated", 1, tx_id, 10, trigger="MeterValuePeriodic",
                                                     samples=[register(5000, "Sample.Periodic")])),
        station.answer("TransactionEvent", tx_event("Ended", 2, tx_id, 60, trigger="EVDeparted",
                                                     samples=[register(11000, "Transaction.End")],
                                                     info={"stoppedReason": "EVDisconnected"})),
    ]


def test_a_full_session_is_one_transaction_with_its_energy():
    station = Station201()
    answers = full_session(station)
    assert answers[0] == {"idTokenInfo": {"status": "Accepted"}}
    assert answers[1] == {} and answers[2] == {}
    tx = station.transaction()
    assert (tx.id_tag, tx.id_tag_status, tx.evse_id, tx.connector_id) == ("TAG1", "Accepted", 1, 1)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000, 11000, 10000)
    assert (tx.started_at_us, tx.stopped_at_us) == (to_us(DAY + timedelta(minutes=2)), to_us(DAY + timedelta(minutes=60)))
    assert tx.stop_reason == "EVDisconnected" and not tx.active and not tx.orphan
    assert station.gaps() == []


def test_cable_plugged_in_first_then_authorized_e02():
    station = Station201()
    assert station.answer("TransactionEvent", tx_event("Started", 0, trigger="CablePluggedIn",
                                                       samples=[register(200, "Transaction.Begin")])) == {}
    assert station.transaction().id_tag is None
    answer = station.answer("TransactionEvent", tx_event("Updated", 1, minute=3, id_token=token("TAG2"),
                                                         info={"chargingState": "Charging"}))
    assert answer["idTokenInfo"]["status"] == "Accepted"
    assert station.transaction().id_tag == "TAG2"
    assert station.state.v201.transaction_seq_nos["tx-1"].charging_state == "Charging"


def test_a_retried_transaction_event_is_answered_the_same_and_recorded_once():
    station = Station201()
    first = station.answer("TransactionEvent", tx_event("Started", 0, id_token=token(), samples=[register(1000)]))
    again = station.answer("TransactionEvent", tx_event("Started", 0, id_token=token(), samples=[register(1000)]))
    assert again == first == {"idTokenInfo": {"status": "Accepted"}}  # not ConcurrentTx with itself
    assert station.transaction().meter_value_count == 1
    assert station.state.v201.transaction_seq_nos["tx-1"].seq_nos == [0]


def test_a_seq_no_gap_is_kept_with_the_missing_numbers_and_energy_still_computed():
    station = Station201()
    station.answer("TransactionEvent", tx_event("Started", 0, samples=[register(1000, "Transaction.Begin")]))
    station.answer("TransactionEvent", tx_event("Updated", 1, minute=5, samples=[register(2000)]))
    station.answer("TransactionEvent", tx_event("Ended", 4, minute=30, samples=[register(9000, "Transaction.End")]))
    assert station.gaps() == [2, 3]
    assert station.transaction().energy_wh == 8000
    station.answer("TransactionEvent", tx_event("Updated", 3, minute=20))  # a late one fills its place
    assert station.gaps() == [2]


def test_offline_events_are_accepted_in_order_with_their_old_timestamps_e12():
    station = Station201()
    for seq, (kind, minute) in enumerate([("Started", -300), ("Updated", -200), ("Ended", -100)]):
        assert station.answer("TransactionEvent", tx_event(kind, seq, minute=minute, offline=True,
                                                           samples=[register(1000 * (seq + 1))])) == {}
    tx = station.transaction()
    assert tx.started_at_us == to_us(DAY - timedelta(minutes=300)) and not tx.active
    assert station.state.v201.transaction_seq_nos["tx-1"].offline_events == 3
    assert tx.energy_wh == 2000


def test_an_ended_before_its_started_is_kept_and_reconciled_when_the_started_comes():
    station = Station201()
    assert station.answer("TransactionEvent", tx_event("Ended", 3, minute=60, samples=[register(7000, "Transaction.End")])) == {}
    tx = station.transaction()
    assert tx.orphan and not tx.active and station.gaps() == [0, 1, 2]
    station.answer("TransactionEvent", tx_event("Started", 0, minute=2, samples=[register(1000, "Transaction.Begin")]))
    assert not tx.orphan and tx.started_at_us == to_us(DAY + timedelta(minutes=2))
    assert tx.energy_wh == 6000 and station.gaps() == [1, 2]


def test_an_updated_for_an_unknown_transaction_is_kept_as_an_open_orphan():
    station = Station201()
    assert station.answer("TransactionEvent", tx_event("Updated", 5, "unknown-tx", samples=[register(3000)])) == {}
    tx = station.transaction("unknown-tx")
    assert tx.orphan and tx.active and station.gaps("unknown-tx") == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("sample,wh", [
    (register(12.5, unit="kWh"), 12500),
    (register(3, unit="Wh", multiplier=3), 3000),
    (register(7, unit="kWh", multiplier=-1), 700),
    (register(800), 800),
])
def test_energy_register_in_wh_with_units_and_multipliers(sample, wh):
    station = Station201()
    station.answer("TransactionEvent", tx_event("Started", 0, samples=[register(0, "Transaction.Begin")]))
    station.answer("TransactionEvent", tx_event("Updated", 1, samples=[sample]))
    assert station.transaction().last_meter_wh == pytest.approx(wh)
    assert station.transaction().energy_wh == pytest.approx(wh)


def test_other_measurands_phases_and_ev_readings_do_not_move_the_register():
    station = Station201()
    station.answer("TransactionEvent", tx_event("Started", 0, samples=[register(100, "Transaction.Begin")]))
    station.answer("TransactionEvent", tx_event("Updated", 1, samples=[
        register(22, measurand="Power.Active.Import"), register(50, phase="L1"), register(60, location="EV"),
        register(1, unit="varh")]))
    tx = station.transaction()
    assert tx.last_meter_wh == 100 and tx.meter_value_count == 5


def test_id_token_info_is_returned_only_when_the_event_carries_an_id_token():
    station = Station201()
    assert station.answer("TransactionEvent", tx_event("Started", 0)) == {}
    assert station.answer("TransactionEvent", tx_event("Updated", 1, id_token=token("BLOCKED"))) == \
        {"idTokenInfo": {"status": "Blocked"}}


def test_a_token_charging_elsewhere_is_concurrent_tx_but_may_stop_its_own():
    station = Station201()
    station.answer("TransactionEvent", tx_event("Started", 0, "tx-a", id_token=token()))
    second = station.answer("TransactionEvent", tx_event("Started", 0, "tx-b", id_token=token()))
    assert second["idTokenInfo"]["status"] == "ConcurrentTx"
    ended = station.answer("TransactionEvent", tx_event("Ended", 1, "tx-a", minute=9, id_token=token()))
    assert ended["idTokenInfo"]["status"] == "Accepted"


def test_a_transaction_decided_externally_keeps_its_decision():
    station = Station201()
    decision = AuthorizationDecision(id_tag="ROAMING", source="cache", record=IdTagRecord(), downstream="unavailable")
    station.call("TransactionEvent", tx_event("Started", 0, id_token=token("roaming")), decision=decision)
    tx = station.transaction()
    assert (tx.authorization, tx.id_tag_status) == ("cache", "Accepted")
    [view] = transaction_views(station.state)
    assert view.authorized_offline and view.transaction_id == "tx-1"
    # Later events with the same token agree with how it was authorized, not the local table.
    later = station.answer("TransactionEvent", tx_event("Ended", 1, minute=9, id_token=token("roaming")))
    assert later["idTokenInfo"]["status"] == "Accepted"
    assert builtins(station.replayed().state) == builtins(station.state)


def test_completed_transactions_beyond_the_policy_bound_are_forgotten_with_their_seq_nos():
    station = Station201(policy=Policy(completed_transactions_kept=2))
    for i in range(4):
        station.answer("TransactionEvent", tx_event("Started", 0, f"t{i}", minute=i))
        station.answer("TransactionEvent", tx_event("Ended", 1, f"t{i}", minute=i + 0.5))
    assert set(station.state.transactions) == {"t2", "t3"}
    assert set(station.state.v201.transaction_seq_nos) == {"t2", "t3"}


# --- the rest: MeterValues, security, firmware, log, reservations, kept-latest -----------------------


def test_meter_values_outside_a_transaction_keep_the_evse_register():
    station = Station201()
    station.answer("MeterValues", {"evseId": 1, "meterValue": [{"timestamp": ts(3), "sampledValue": [
        register(4.2, unit="kWh")]}]})
    assert station.state.v201.evses[1].meter_wh == pytest.approx(4200)


def test_security_firmware_log_publish_and_reservation_notifications_are_kept():
    station = Station201()
    for action in ("SecurityEventNotification", "FirmwareStatusNotification", "LogStatusNotification",
                   "PublishFirmwareStatusNotification", "ReservationStatusUpdate"):
        assert station.answer(action, VALID[action]) == {}
    part = station.state.v201
    # Security events are the version-neutral core's (one list and one view for both versions).
    assert [(e.type, e.tech_info, e.critical) for e in station.state.security_events] == [("FirmwareUpdated", "v2", True)]
    assert (station.state.firmware_status, part.firmware_request_id) == ("Installed", 3)
    assert (part.log_status, part.log_request_id) == ("Uploaded", 5)
    assert part.publish_firmware_status == "Published"
    assert part.reservation_updates == {9: "Expired"}


@pytest.mark.parametrize("action,expected", [
    ("NotifyEVChargingNeeds", "Rejected"), ("NotifyEVChargingSchedule", "Accepted"), ("SignCertificate", "Rejected"),
    ("Get15118EVCertificate", "Failed"), ("GetCertificateStatus", "Failed"), ("DataTransfer", "UnknownVendorId"),
])
def test_features_of_later_issues_are_answered_with_what_the_csms_can_honour(action, expected):
    station = Station201()
    assert station.answer(action, VALID[action])["status"] == expected


def test_smart_charging_and_certificate_messages_keep_their_latest_per_evse():
    station = Station201()
    station.answer("NotifyChargingLimit", VALID["NotifyChargingLimit"])
    station.answer("SignCertificate", VALID["SignCertificate"])
    latest = station.state.v201.latest
    assert set(latest) == {"NotifyChargingLimit/1", "SignCertificate"}
    assert json.loads(latest["NotifyChargingLimit/1"].payload)["chargingLimit"] == {"chargingLimitSource": "EMS"}


# --- the view ----------------------------------------------------------------------------------------


def test_the_station_view_shows_version_evses_device_model_events_and_open_transactions():
    station = Station201()
    for action in ("StatusNotification", "NotifyReport", "NotifyEvent", "SecurityEventNotification"):
        station.answer(action, VALID[action])
    station.answer("TransactionEvent", VALID["TransactionEvent"])
    view = msgspec.to_builtins(station_view(station.state, now_us=station.clock_us))
    assert view["ocpp_version"] == "2.0.1"
    assert view["v201"]["evses"][0]["connectors"][0]["status"] == "Available"
    assert view["v201"]["device_model"][0]["variable"] == "HeartbeatInterval"
    assert view["v201"]["events"][0]["actual_value"] == "Faulted"
    assert view["security_events"][0]["type"] == "FirmwareUpdated"
    [tx] = view["active_transactions"]
    assert (tx["transaction_id"], tx["evse_id"], tx["seq_gaps"]) == ("tx-1", 1, [])


# --- answers conform to the library's 2.0.1 response schemas ----------------------------------------


def test_every_answer_is_valid_against_the_ocpp_library_response_schema():
    station = Station201(boot=False)
    answers = [("BootNotification", station.answer("BootNotification", VALID["BootNotification"]))]
    answers += [(action, station.answer(action, VALID[action])) for action in VALID if action != "BootNotification"]
    for tag in list(ID_TAGS) + ["NOSUCH"]:
        answers.append(("Authorize", station.answer("Authorize", {"idToken": token(tag)})))
    for boot_status in ("Pending", "Rejected"):
        answers.append(("BootNotification", Station201(boot_status, boot=False).answer("BootNotification",
                                                                                        VALID["BootNotification"])))
    for action, payload in answers:
        errors = [e.message for e in library_validator("2.0.1", f"{action}Response").iter_errors(payload)]
        assert errors == [], (action, payload)


# --- errors (OCPP-J 2.0.1 section 4.3) -----------------------------------------------------------------


@pytest.mark.parametrize("payload,code", [
    ({"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
    ({"reason": "PowerUp", "chargingStation": {"model": 5, "vendorName": "V"}}, "TypeConstraintViolation"),
    ({"reason": "Bored", "chargingStation": {"model": "M", "vendorName": "V"}}, "PropertyConstraintViolation"),
])
def test_schema_violations_are_answered_in_the_2_0_1_spelling(payload, code):
    assert Station201(boot=False).refuse("BootNotification", payload) == code


def test_a_malformed_frame_is_a_format_violation():
    station = Station201()
    (reply,) = station.send('[2, "m1", "Heartbeat", ').replies
    assert json.loads(reply)[2] == "FormatViolation"


def test_unknown_actions_are_not_implemented():
    assert Station201().refuse("StartTransaction", {}) == "NotImplemented"


@pytest.mark.parametrize("action", ["Reset", "RequestStartTransaction", "SetVariables"])
def test_an_action_only_the_csms_initiates_is_known_but_not_supported_from_a_station(action):
    # OCPP-J 2.0.1 section 4.3: NotSupported is "recognized but not supported by the receiver";
    # NotImplemented is for an action the receiver does not know at all.
    assert Station201().refuse(action, {}) == "NotSupported"


@pytest.mark.parametrize("action", sorted(VALID))
def test_reply_waits_for_fsync_exactly_for_the_durable_actions(action):
    station = Station201(boot=False)
    if action != "BootNotification":
        station.call("BootNotification", VALID["BootNotification"])
    outcome = station.call(action, VALID[action])
    assert json.loads(outcome.replies[0])[0] == ocppj.CALLRESULT
    assert outcome.durable == (action in DURABLE)
    assert [e.direction for e in outcome.events][:2] == ["in", "out"]


# --- replay equality -----------------------------------------------------------------------------------


def test_replaying_a_mixed_session_gives_the_same_state():
    station = Station201()
    for action in VALID:
        station.call(action, VALID[action])
    full_session(station, "tx-9")
    station.answer("TransactionEvent", tx_event("Ended", 7, "lost-start", minute=40))
    assert builtins(station.replayed().state) == builtins(station.state)


_events = st.lists(
    st.tuples(st.sampled_from(["Started", "Updated", "Ended"]), st.integers(0, 6), st.sampled_from(["a", "b"]),
              st.integers(0, 20_000), st.booleans()),
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_events)
def test_any_sequence_of_transaction_events_replays_to_the_same_state(events):
    station = Station201()
    for minute, (kind, seq, tx_id, wh, with_token) in enumerate(events):
        station.answer("TransactionEvent", tx_event(kind, seq, tx_id, minute, samples=[register(wh)],
                                                    id_token=token() if with_token else None))
    assert builtins(station.replayed().state) == builtins(station.state)
    for tx_id, seq in station.state.v201.transaction_seq_nos.items() if station.state.v201 else ():
        expected = sorted(set(range(max(seq.seq_nos))) - set(seq.seq_nos)) if seq.seq_nos else []
        assert seq.gaps == expected


# --- the back office's fleet page (actors/fleet_page.py) ------------------------------------------------


def test_the_fleet_page_shows_and_counts_2_0_1_evse_connectors():
    from actors.fleet_page import FleetQuery, fleet_page

    station = Station201()
    status(station, 1, 1, "Available", 1)
    status(station, 2, 1, "Faulted", 1)
    page = fleet_page([station.state], FleetQuery(connector_status="Faulted", now_us=station.clock_us))
    [row] = page.rows
    assert row.faulted and row.ocpp_version == "2.0.1"
    assert [(c.evse_id, c.connector_id, c.status) for c in row.connectors] == [(1, 1, "Available"), (2, 1, "Faulted")]
    assert page.counts.faulted == 1 and page.counts.connector_statuses == {"Available": 1, "Faulted": 1}


def test_the_fleet_page_judges_a_2_0_1_station_by_the_heartbeat_interval_of_its_device_model():
    from actors.fleet_page import FleetQuery, fleet_page

    station = Station201()
    status(station, 1, 1, "Available", 1)
    seen_us = station.clock_us
    later = FleetQuery(now_us=seen_us + 120 * 1_000_000, heartbeat_interval_s=300)
    # Before it reported its device model: what every boot answer told it (300 s); 120 s is fine.
    [row] = fleet_page([station.state], later).rows
    assert (row.heartbeat_interval_s, row.stale) == (300, False)
    report = copy.deepcopy(VALID["NotifyReport"])
    report["reportData"][0]["variableAttribute"][0]["value"] = "60"  # B07: OCPPCommCtrlr.HeartbeatInterval
    station.answer("NotifyReport", report)
    later = FleetQuery(now_us=station.state.last_seen_us + 120 * 1_000_000, heartbeat_interval_s=300)
    page = fleet_page([station.state], later)
    [row] = page.rows
    assert (row.heartbeat_interval_s, row.stale, page.counts.stale) == (60, True, 1)
