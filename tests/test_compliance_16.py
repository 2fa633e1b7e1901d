"""OCPP 1.6J compliance of the CSMS, modelled on the Open Charge Alliance's OCTT test cases for a Central System.

Every test drives the real CSMS (local Ray + Serve, real websockets, real HTTP API) with a
station built on the `ocpp` library's ChargePoint, which validates every CSMS message against
the 1.6 JSON schemas. Each test asserts what the 1.6 specification (edition 2 and its errata,
OCPP-J 1.6, and the 1.6 security whitepaper where named) says the Central System must do, and
what the operator sees through the API. Groups follow the OCTT: cold boot, charging sessions,
authorization cache, remote start/stop, reset, unlock, configuration, authorization non-happy
paths, power failure, offline transactions, local list, firmware, diagnostics, reservations,
trigger message, smart charging, data transfer and security.

The station answers CSMS commands the way each test sets up (`station.answers`), records what
it received (`station.received`), and never answers the actions in `station.silent`. What a
real station does *after* its answer (start a transaction, reboot, send the triggered message)
the test does next, through the same socket, in the order the specification gives.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import websockets
from ocpp.v16 import call, call_result

from tests.conftest import PASSWORD, put_id_tag, register_station
from tests.polling import wait_until
from tests.stations import AnswersCommands, TestStation, answer_every_command, basic_auth, connected_station

pytestmark = pytest.mark.ray


# --- a station that answers the CSMS the way a test sets up ------------------------------------

# Every CSMS-initiated 1.6 action and the answer a cooperative station gives by default
# (keyword arguments of the library's call_result class).
DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetConfiguration": {"configuration_key": [], "unknown_key": []},
    "GetDiagnostics": {},
    "GetLocalListVersion": {"list_version": 0},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
}


@answer_every_command
class ComplianceStation(AnswersCommands, TestStation):
    """A charge point whose answers to CSMS commands each test chooses."""

    default_answers = DEFAULT_ANSWERS
    call_results = call_result


@contextlib.asynccontextmanager
async def online(csms, station_id: str, *, password: str = PASSWORD, boot: bool = True,
                 answers: dict[str, Any] | None = None) -> AsyncIterator[ComplianceStation]:
    """The station connected (and, unless told otherwise, booted and Accepted)."""
    async with connected_station(csms.ws_url, station_id, password=password, station_class=ComplianceStation) as st:
        st.answers.update(answers or {})
        try:
            if boot:
                await boot_accepted(st)
            yield st
        finally:
            st.released.set()


async def boot_accepted(st: ComplianceStation, firmware_version: str | None = None) -> call_result.BootNotification:
    result = await st.call(call.BootNotification(charge_point_model="Compliance-M1", charge_point_vendor="Acme",
                                                 firmware_version=firmware_version))
    assert result.status == "Accepted"
    return result


# --- time -------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- the operator's side: HTTP API --------------------------------------------------------------


async def command(csms, station_id: str, action: str, payload: dict[str, Any] | None = None) -> httpx.Response:
    async with csms.api() as api:
        return await api.post(f"/api/stations/{station_id}/commands/{action}", json=payload or {})


async def answered(csms, station_id: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The station's answer to a command, as the operator gets it (HTTP 200)."""
    response = await command(csms, station_id, action, payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["action"] == action and body["station_id"] == station_id
    return body["response"]


async def view(csms, station_id: str) -> dict[str, Any]:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def transactions(csms, station_id: str) -> list[dict[str, Any]]:
    async with csms.api() as api:
        response = await api.get("/api/transactions", params={"station_id": station_id})
    assert response.status_code == 200, response.text
    return response.json()["transactions"]


async def transaction(csms, station_id: str, transaction_id: int) -> dict[str, Any]:
    [tx] = [t for t in await transactions(csms, station_id) if t["transaction_id"] == transaction_id]
    return tx


async def events(csms, station_id: str) -> list[dict[str, Any]]:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["events"]


def connector(station_view: dict[str, Any], connector_id: int) -> dict[str, Any]:
    [c] = [c for c in station_view["connectors"] if c["connector_id"] == connector_id]
    return c


def tag_for(station_id: str, kind: str = "T") -> str:
    """An id tag of this test only (the id-tag table is shared by the whole session; max 20 chars)."""
    return f"{kind}-{station_id[-10:]}"[:20]


# --- what a station sends -----------------------------------------------------------------------


def status(connector_id: int, status_: str, at: datetime | None = None, error_code: str = "NoError"):
    return call.StatusNotification(connector_id=connector_id, error_code=error_code, status=status_,
                                   timestamp=ts(at or utcnow()))


def energy(at: datetime, wh: int) -> dict[str, Any]:
    return {"timestamp": ts(at), "sampledValue": [
        {"value": str(wh), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}


async def start_transaction(st: ComplianceStation, id_tag: str, *, connector_id: int = 1, meter_start: int = 1000,
                            at: datetime | None = None, reservation_id: int | None = None):
    return await st.call(call.StartTransaction(connector_id=connector_id, id_tag=id_tag, meter_start=meter_start,
                                               timestamp=ts(at or utcnow()), reservation_id=reservation_id))


async def charging(csms, st: ComplianceStation, station_id: str, *, connector_id: int = 1) -> int:
    """An accepted driver charging on the connector; its transaction id."""
    tag = tag_for(station_id, f"D{connector_id}")
    await put_id_tag(csms, tag)
    await st.call(status(connector_id, "Preparing"))
    start = await start_transaction(st, tag, connector_id=connector_id)
    assert start.id_tag_info["status"] == "Accepted"
    await st.call(status(connector_id, "Charging"))
    return start.transaction_id


# ================================================================================================
# Cold boot (1.6 sections 4.2, 4.6, 4.9)
# ================================================================================================


async def test_cold_boot_is_accepted_with_heartbeat_interval_and_every_connector_status_is_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, boot=False) as st:
        boot = await st.call(call.BootNotification(
            charge_point_model="Compliance-M1", charge_point_vendor="Acme", charge_point_serial_number="SN-0001",
            firmware_version="1.2.3"))
        # 4.2: Accepted, the heartbeat interval the station must use, and the Central System's time.
        assert boot.status == "Accepted"
        assert boot.interval == csms.config.heartbeat_interval_s > 0
        assert abs(parse(boot.current_time) - datetime.now(timezone.utc)) < timedelta(minutes=1)
        # 4.9: after boot the station reports every connector, the Charge Point itself as connector 0.
        for connector_id in (0, 1, 2):
            assert await st.call(status(connector_id, "Available")) is not None
        heartbeat = await st.call(call.Heartbeat())
        assert abs(parse(heartbeat.current_time) - datetime.now(timezone.utc)) < timedelta(minutes=1)
        seen = await view(csms, station_id)
    assert seen["connected"] is True and seen["boot_status"] == "Accepted"
    assert seen["boot"]["vendor"] == "Acme" and seen["boot"]["model"] == "Compliance-M1"
    assert seen["boot"]["serial_number"] == "SN-0001" and seen["boot"]["firmware_version"] == "1.2.3"
    assert {(c["connector_id"], c["status"], c["error_code"]) for c in seen["connectors"]} == {
        (0, "Available", "NoError"), (1, "Available", "NoError"), (2, "Available", "NoError")}
    assert seen["last_heartbeat"] is not None


async def test_heartbeats_keep_the_station_connected_and_each_updates_last_heartbeat(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(call.Heartbeat())
        first = (await view(csms, station_id))["last_heartbeat"]
        await st.call(call.Heartbeat())
        seen = await view(csms, station_id)
    assert seen["connected"] is True
    assert parse(seen["last_heartbeat"]) > parse(first)


async def test_pending_station_gets_retry_interval_and_is_accepted_after_a_triggered_boot(csms, station_id):
    await register_station(csms, station_id, boot_status="Pending")
    async with online(csms, station_id, boot=False) as st:
        boot = await st.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        assert boot.status == "Pending" and boot.interval == csms.config.pending_retry_interval_s
        # 4.2: while Pending the Central System may read and change the configuration.
        st.answers["GetConfiguration"] = {"configuration_key": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
        assert (await answered(csms, station_id, "GetConfiguration", {}))["configurationKey"][0]["key"] == "HeartbeatInterval"
        await register_station(csms, station_id, boot_status="Accepted")
        # ...then asks for a new BootNotification (5.17), which is Accepted.
        assert await answered(csms, station_id, "TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
        again = await st.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        assert again.status == "Accepted" and again.interval == csms.config.heartbeat_interval_s
    assert (await view(csms, station_id))["boot_status"] == "Accepted"


@pytest.mark.parametrize("action", ["RemoteStartTransaction", "RemoteStopTransaction"])
async def test_pending_station_is_never_sent_remote_start_or_stop(csms, station_id, action):
    await register_station(csms, station_id, boot_status="Pending")
    payload = {"idTag": "ANY"} if action == "RemoteStartTransaction" else {"transactionId": 1}
    async with online(csms, station_id, boot=False) as st:
        boot = await st.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        assert boot.status == "Pending"
        response = await command(csms, station_id, action, payload)
        received = list(st.received)
    # 1.6 section 4.2: "While in pending state, the following Central System initiated messages
    # are not allowed: RemoteStartTransaction.req and RemoteStopTransaction.req".
    assert received == []
    assert response.status_code in (409, 422), response.text


async def test_pending_station_message_sent_on_trigger_is_answered(csms, station_id):
    await register_station(csms, station_id, boot_status="Pending")
    async with online(csms, station_id, boot=False) as st:
        assert (await st.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))).status == "Pending"
        assert await answered(csms, station_id, "TriggerMessage",
                              {"requestedMessage": "StatusNotification", "connectorId": 1}) == {"status": "Accepted"}
        # 4.2: a Pending station sends requests only when the Central System asked with TriggerMessage.
        result = await st.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"),
                               suppress=False)
    assert result is not None
    assert connector(await view(csms, station_id), 1)["status"] == "Available"


# ================================================================================================
# Charging sessions: plug-in first, identification first, EV-side disconnect (1.6 sections 4.1,
# 4.7, 4.8, 4.9, 4.10)
# ================================================================================================


async def test_plug_in_first_session_preparing_then_authorize_and_start_is_shown_to_operator(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        await st.call(status(1, "Available"))
        await st.call(status(1, "Preparing"))  # cable plugged in
        assert connector(await view(csms, station_id), 1)["status"] == "Preparing"
        assert (await st.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        start = await start_transaction(st, tag, meter_start=1000)
        assert start.id_tag_info["status"] == "Accepted" and start.transaction_id > 0
        await st.call(status(1, "Charging"))
        await st.call(call.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                       meter_value=[energy(utcnow(), 2500)]))
        live = await view(csms, station_id)
        assert connector(live, 1)["status"] == "Charging"
        [active] = live["active_transactions"]
        assert active["transaction_id"] == start.transaction_id and active["id_tag"] == tag
        assert active["energy_wh"] == 1500
        stop = await st.call(call.StopTransaction(meter_stop=6000, timestamp=ts(utcnow()), id_tag=tag,
                                                  transaction_id=start.transaction_id, reason="Local"))
        assert stop.id_tag_info["status"] == "Accepted"
        await st.call(status(1, "Finishing"))
        await st.call(status(1, "Available"))
        after = await view(csms, station_id)
    assert after["active_transactions"] == [] and connector(after, 1)["status"] == "Available"
    tx = await transaction(csms, station_id, start.transaction_id)
    assert tx["active"] is False and tx["energy_wh"] == 5000 and tx["stop_reason"] == "Local"


async def test_identification_first_session_authorize_then_plug_in_starts_a_transaction(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        await st.call(status(1, "Available"))
        assert (await st.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        await st.call(status(1, "Preparing"))
        start = await start_transaction(st, tag, meter_start=0)
        assert start.id_tag_info["status"] == "Accepted"
        await st.call(status(1, "Charging"))
        live = await view(csms, station_id)
        assert connector(live, 1)["status"] == "Charging"
        assert [t["transaction_id"] for t in live["active_transactions"]] == [start.transaction_id]
        await st.call(call.StopTransaction(meter_stop=1234, timestamp=ts(utcnow()), id_tag=tag,
                                           transaction_id=start.transaction_id, reason="Local"))
    tx = await transaction(csms, station_id, start.transaction_id)
    assert tx["active"] is False and tx["energy_wh"] == 1234 and tx["id_tag"] == tag


async def test_ev_side_disconnect_stops_the_transaction_with_reason_ev_disconnected_and_its_energy(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        tx_id = await charging(csms, st, station_id)
        started = utcnow()
        await st.call(status(1, "SuspendedEV"))
        # StopTransactionOnEVSideDisconnect: the cable is pulled out on the EV side.
        stop = await st.call(call.StopTransaction(
            meter_stop=4200, timestamp=ts(started + timedelta(seconds=1)), transaction_id=tx_id, reason="EVDisconnected",
            transaction_data=[energy(started, 1000), energy(started + timedelta(seconds=1), 4200)]))
        assert stop is not None  # no idTag in the request: nothing to authorize, still answered
        await st.call(status(1, "Finishing"))
        await st.call(status(1, "Available"))
        after = await view(csms, station_id)
    assert after["active_transactions"] == [] and connector(after, 1)["status"] == "Available"
    tx = await transaction(csms, station_id, tx_id)
    assert tx["stop_reason"] == "EVDisconnected" and tx["energy_wh"] == 3200 and tx["meter_stop_wh"] == 4200
    assert tx["meter_value_count"] >= 2


# ================================================================================================
# Authorization cache (1.6 sections 3.5, 4.1, 5.4)
# ================================================================================================


async def test_authorize_answers_with_expiry_date_and_parent_id_tag_for_the_cache(csms, station_id):
    await register_station(csms, station_id)
    tag, parent = tag_for(station_id), tag_for(station_id, "P")
    expiry = utcnow().replace(second=0) + timedelta(days=30)
    await put_id_tag(csms, tag, status="Accepted", expiry_date=ts(expiry), parent_id_tag=parent)
    async with online(csms, station_id) as st:
        auth = await st.call(call.Authorize(id_tag=tag))
        # The same identifier, any case: IdToken is a CiString (1.6 section 7).
        lower = await st.call(call.Authorize(id_tag=tag.lower()))
        start = await start_transaction(st, tag)
    for info in (auth.id_tag_info, lower.id_tag_info, start.id_tag_info):
        assert info["status"] == "Accepted"
        assert parse(info["expiry_date"]) == expiry
        assert info["parent_id_tag"] == parent


@pytest.mark.parametrize("answer", ["Accepted", "Rejected"])
async def test_clear_cache_answer_is_reported_to_operator(csms, station_id, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"ClearCache": {"status": answer}}) as st:
        assert await answered(csms, station_id, "ClearCache") == {"status": answer}
        assert st.got("ClearCache") == [{}]


# ================================================================================================
# Remote start / stop (OCTT TC_010_CSMS, TC_011_1_CSMS, TC_059_CSMS;
# 1.6 sections 5.11, 5.12)
# ================================================================================================


async def test_remote_start_accepted_station_starts_and_remote_stop_ends_that_transaction(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        await st.call(status(1, "Preparing"))
        assert await answered(csms, station_id, "RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) == {"status": "Accepted"}
        assert st.got("RemoteStartTransaction") == [{"id_tag": tag, "connector_id": 1}]
        # The station (AuthorizeRemoteTxRequests) authorizes, then starts.
        assert (await st.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        start = await start_transaction(st, tag, meter_start=100)
        assert start.id_tag_info["status"] == "Accepted"
        await st.call(status(1, "Charging"))
        assert [t["transaction_id"] for t in (await view(csms, station_id))["active_transactions"]] == [start.transaction_id]
        assert await answered(csms, station_id, "RemoteStopTransaction",
                              {"transactionId": start.transaction_id}) == {"status": "Accepted"}
        assert st.got("RemoteStopTransaction") == [{"transaction_id": start.transaction_id}]
        await st.call(call.StopTransaction(meter_stop=2100, timestamp=ts(utcnow()), id_tag=tag,
                                           transaction_id=start.transaction_id, reason="Remote"))
        await st.call(status(1, "Finishing"))
    tx = await transaction(csms, station_id, start.transaction_id)
    assert tx["active"] is False and tx["stop_reason"] == "Remote" and tx["energy_wh"] == 2000


async def test_remote_start_rejected_by_station_is_reported_to_operator(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"RemoteStartTransaction": {"status": "Rejected"}}):
        response = await command(csms, station_id, "RemoteStartTransaction", {"idTag": "ANY-TAG", "connectorId": 1})
        assert response.status_code == 200, response.text
        assert response.json()["response"] == {"status": "Rejected"}
        seen = await view(csms, station_id)
        log = await events(csms, station_id)
    assert seen["active_transactions"] == []
    # The operator's support view shows the CALL and the station's answer.
    mine = [e for e in log if e["message_id"] == response.json()["message_id"]]
    assert {(e["direction"], e["message_type"]) for e in mine} == {("out", "CALL"), ("in", "CALLRESULT")}
    assert [e["payload"] for e in mine if e["message_type"] == "CALLRESULT"] == [{"status": "Rejected"}]


async def test_remote_start_without_answer_times_out_with_504(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        st.silent.add("RemoteStartTransaction")
        response = await command(csms, station_id, "RemoteStartTransaction", {"idTag": "ANY-TAG"})
        assert len(st.got("RemoteStartTransaction")) == 1
    assert response.status_code == 504, response.text
    assert (await view(csms, station_id))["active_transactions"] == []


async def test_remote_stop_rejected_by_station_is_reported_and_the_transaction_stays_active(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"RemoteStopTransaction": {"status": "Rejected"}}) as st:
        tx_id = await charging(csms, st, station_id)
        assert await answered(csms, station_id, "RemoteStopTransaction", {"transactionId": tx_id}) == {"status": "Rejected"}
        seen = await view(csms, station_id)
    assert [t["transaction_id"] for t in seen["active_transactions"]] == [tx_id]


def tx_profile(profile_id: int, limit: int = 16, *, transaction_id: int | None = None,
               purpose: str = "TxProfile", stack_level: int = 0) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "chargingProfileId": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative" if purpose == "TxProfile" else "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": limit}, {"startPeriod": 1800, "limit": limit // 2}]},
    }
    if purpose != "TxProfile":
        profile["chargingSchedule"]["startSchedule"] = ts(utcnow().replace(hour=0, minute=0, second=0))
        profile["chargingProfileKind"] = "Absolute"
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile


async def test_remote_start_with_tx_profile_sends_the_profile_to_the_station(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "RemoteStartTransaction",
                              {"idTag": tag, "connectorId": 1, "chargingProfile": tx_profile(7)}) == {"status": "Accepted"}
        [request] = st.got("RemoteStartTransaction")
    profile = request["charging_profile"]
    # 5.11: "The ChargingProfilePurpose MUST be set to TxProfile".
    assert profile["charging_profile_purpose"] == "TxProfile" and profile["charging_profile_id"] == 7
    assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 16


@pytest.mark.parametrize("purpose", ["TxDefaultProfile", "ChargePointMaxProfile"])
async def test_remote_start_with_a_profile_that_is_not_a_tx_profile_is_refused_before_sending(csms, station_id, purpose):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        response = await command(csms, station_id, "RemoteStartTransaction",
                                 {"idTag": "ANY-TAG", "connectorId": 1, "chargingProfile": tx_profile(8, purpose=purpose)})
        assert st.received == []
    assert response.status_code == 422, response.text


async def test_remote_start_tx_profile_is_shown_for_the_transaction_it_started_and_ends_with_it(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "RemoteStartTransaction",
                              {"idTag": tag, "connectorId": 1, "chargingProfile": tx_profile(9)}) == {"status": "Accepted"}
        start = await start_transaction(st, tag)
        during = await view(csms, station_id)
        await st.call(call.StopTransaction(meter_stop=2000, timestamp=ts(utcnow()),
                                           transaction_id=start.transaction_id, reason="Local"))
        after = await view(csms, station_id)
    # The station charges under this TxProfile for the transaction (5.11, 3.13.1): operators see it...
    assert [(p["charging_profile_id"], p["connector_id"], p["purpose"]) for p in during["charging_profiles"]] == [
        (9, 1, "TxProfile")]
    # ...until the transaction ends ("for the duration of the current transaction only", 3.13.1).
    assert after["charging_profiles"] == []


# ================================================================================================
# Hard and soft reset (1.6 section 5.14)
# ================================================================================================


async def test_hard_reset_accepted_station_reboots_and_then_stops_its_transaction_with_reason_hard_reset(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        tx_id = await charging(csms, st, station_id)
        assert await answered(csms, station_id, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
        assert st.got("Reset") == [{"type": "Hard"}]
        reset_at = utcnow()
    # 5.14: a hard reset restarts the hardware; "If possible the Charge Point sends a
    # StopTransaction.req for previously ongoing transactions after having restarted and having
    # sent a BootNotification.req."
    async with online(csms, station_id) as st:
        for connector_id in (0, 1):
            await st.call(status(connector_id, "Available"))
        stop = await st.call(call.StopTransaction(meter_stop=3000, timestamp=ts(reset_at), transaction_id=tx_id,
                                                  reason="HardReset"))
        assert stop is not None
        seen = await view(csms, station_id)
    assert seen["active_transactions"] == [] and connector(seen, 1)["status"] == "Available"
    tx = await transaction(csms, station_id, tx_id)
    assert tx["stop_reason"] == "HardReset" and tx["energy_wh"] == 2000 and parse(tx["stopped_at"]) == reset_at


async def test_soft_reset_accepted_station_stops_its_transaction_with_reason_soft_reset_and_reboots(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        tx_id = await charging(csms, st, station_id)
        assert await answered(csms, station_id, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
        # 5.14: "the Charge Point SHALL gracefully stop all ongoing transactions" and then restart.
        await st.call(call.StopTransaction(meter_stop=1500, timestamp=ts(utcnow()), transaction_id=tx_id,
                                           reason="SoftReset"))
        await st.call(status(1, "Finishing"))
        first_boot = (await view(csms, station_id))["boot"]["booted_at"]
    async with online(csms, station_id) as st:
        await st.call(status(1, "Available"))
        seen = await view(csms, station_id)
    assert parse(seen["boot"]["booted_at"]) > parse(first_boot)
    assert seen["active_transactions"] == []
    tx = await transaction(csms, station_id, tx_id)
    assert tx["stop_reason"] == "SoftReset" and tx["energy_wh"] == 500


@pytest.mark.parametrize("reset_type", ["Hard", "Soft"])
async def test_reset_rejected_by_station_is_reported_to_operator(csms, station_id, reset_type):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"Reset": {"status": "Rejected"}}):
        assert await answered(csms, station_id, "Reset", {"type": reset_type}) == {"status": "Rejected"}
        assert (await view(csms, station_id))["connected"] is True


# ================================================================================================
# Unlock connector (1.6 section 5.18 and the errata on UnlockStatus)
# ================================================================================================


async def test_unlock_connector_without_session_is_unlocked(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        assert st.got("UnlockConnector") == [{"connector_id": 1}]


async def test_unlock_connector_with_session_stops_the_transaction_with_reason_unlock_command(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        tx_id = await charging(csms, st, station_id)
        assert await answered(csms, station_id, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        # 5.18: "If a transaction is in progress on the specific connector, then the Charge Point
        # SHALL finish the transaction first as described in Stop Transaction."
        await st.call(call.StopTransaction(meter_stop=1800, timestamp=ts(utcnow()), transaction_id=tx_id,
                                           reason="UnlockCommand"))
        await st.call(status(1, "Finishing"))
    tx = await transaction(csms, station_id, tx_id)
    assert tx["active"] is False and tx["stop_reason"] == "UnlockCommand" and tx["energy_wh"] == 800


@pytest.mark.parametrize("answer", ["UnlockFailed", "NotSupported"])
async def test_unlock_connector_failure_is_reported_to_operator(csms, station_id, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"UnlockConnector": {"status": answer}}):
        assert await answered(csms, station_id, "UnlockConnector", {"connectorId": 2}) == {"status": answer}


async def test_unlock_unknown_connector_is_reported_as_not_supported(csms, station_id):
    await register_station(csms, station_id)
    # Errata (UnlockStatus): NotSupported when the connector has no lock or the ConnectorId is unknown.
    unknown = {"UnlockConnector": lambda connector_id: {"status": "Unlocked" if connector_id <= 2 else "NotSupported"}}
    async with online(csms, station_id, answers=unknown) as st:
        assert await answered(csms, station_id, "UnlockConnector", {"connectorId": 9}) == {"status": "NotSupported"}
        # connectorId 0 is not a connector at all (6.53: connectorId > 0): never sent.
        zero = await command(csms, station_id, "UnlockConnector", {"connectorId": 0})
        assert [r["connector_id"] for r in st.got("UnlockConnector")] == [9]
    assert zero.status_code == 422


# ================================================================================================
# Change availability (1.6 section 5.2)
# ================================================================================================


@pytest.mark.parametrize("answer", ["Accepted", "Scheduled", "Rejected"])
async def test_change_availability_answer_is_reported_and_what_was_asked_is_shown(csms, station_id, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"ChangeAvailability": {"status": answer}}) as st:
        await st.call(status(1, "Available"))
        assert await answered(csms, station_id, "ChangeAvailability",
                              {"connectorId": 1, "type": "Inoperative"}) == {"status": answer}
        if answer == "Accepted":
            await st.call(status(1, "Unavailable"))
        seen = await view(csms, station_id)
    asked = [(a["connector_id"], a["type"], a["status"]) for a in seen["availability"]]
    assert asked == ([] if answer == "Rejected" else [(1, "Inoperative", answer)])
    assert connector(seen, 1)["status"] == ("Unavailable" if answer == "Accepted" else "Available")


# ================================================================================================
# Configuration (1.6 sections 5.3, 5.8, 9)
# ================================================================================================

STATION_CONFIGURATION = [
    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    {"key": "AuthorizeRemoteTxRequests", "readonly": False, "value": "true"},
]


def configuration_answer(key=None):
    if not key:
        return {"configuration_key": STATION_CONFIGURATION}
    known = [kv for kv in STATION_CONFIGURATION if kv["key"] in key]
    return {"configuration_key": known, "unknown_key": [k for k in key if k not in {kv["key"] for kv in known}]}


def keys_of(seen: dict[str, Any]) -> dict[str, tuple[str | None, bool | None]]:
    return {k["key"]: (k["value"], k["readonly"]) for k in seen["configuration"]["keys"]}


async def test_get_configuration_of_all_keys_shows_them_in_the_station_view(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetConfiguration": configuration_answer}) as st:
        answer = await answered(csms, station_id, "GetConfiguration", {})
        assert st.got("GetConfiguration") == [{}]  # no key: the station reports every key (5.8)
        seen = await view(csms, station_id)
    assert answer["configurationKey"] == STATION_CONFIGURATION
    assert keys_of(seen) == {kv["key"]: (kv["value"], kv["readonly"]) for kv in STATION_CONFIGURATION}
    assert seen["configuration"]["read_at"] is not None


async def test_get_configuration_of_one_key_and_an_unknown_key(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetConfiguration": configuration_answer}):
        answer = await answered(csms, station_id, "GetConfiguration", {"key": ["MeterValueSampleInterval", "NoSuchKey"]})
        seen = await view(csms, station_id)
    assert answer == {"configurationKey": [STATION_CONFIGURATION[1]], "unknownKey": ["NoSuchKey"]}
    assert keys_of(seen) == {"MeterValueSampleInterval": ("60", False)}
    assert seen["configuration"]["unknown_keys"] == ["NoSuchKey"]


async def test_change_configuration_accepted_updates_the_key_in_the_station_view(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetConfiguration": configuration_answer}) as st:
        await answered(csms, station_id, "GetConfiguration", {})
        assert await answered(csms, station_id, "ChangeConfiguration",
                              {"key": "MeterValueSampleInterval", "value": "30"}) == {"status": "Accepted"}
        assert st.got("ChangeConfiguration") == [{"key": "MeterValueSampleInterval", "value": "30"}]
        seen = await view(csms, station_id)
    values = {k["key"]: k for k in seen["configuration"]["keys"]}
    assert values["MeterValueSampleInterval"]["value"] == "30"
    assert values["MeterValueSampleInterval"]["reboot_required"] is False
    assert values["HeartbeatInterval"]["value"] == "300"


@pytest.mark.parametrize(("key", "value", "answer"), [
    ("NumberOfConnectors", "4", "Rejected"),          # read-only key
    ("MeterValueSampleInterval", "-5", "Rejected"),   # invalid value: refused by the station
    ("HeartbeatInterval", "soon", "Rejected"),        # not an integer
    ("VendorSpecificThing", "on", "NotSupported"),    # unknown key
])
async def test_change_configuration_refused_by_station_is_reported_and_keeps_the_old_value(csms, station_id, key, value, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetConfiguration": configuration_answer,
                                                 "ChangeConfiguration": {"status": answer}}):
        await answered(csms, station_id, "GetConfiguration", {})
        assert await answered(csms, station_id, "ChangeConfiguration", {"key": key, "value": value}) == {"status": answer}
        seen = await view(csms, station_id)
    assert keys_of(seen) == {kv["key"]: (kv["value"], kv["readonly"]) for kv in STATION_CONFIGURATION}


async def test_change_configuration_reboot_required_is_shown_until_the_station_reboots(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetConfiguration": configuration_answer,
                                                 "ChangeConfiguration": {"status": "RebootRequired"}}):
        await answered(csms, station_id, "GetConfiguration", {})
        assert await answered(csms, station_id, "ChangeConfiguration",
                              {"key": "HeartbeatInterval", "value": "900"}) == {"status": "RebootRequired"}
        pending = {k["key"]: k for k in (await view(csms, station_id))["configuration"]["keys"]}
    async with online(csms, station_id):
        rebooted = {k["key"]: k for k in (await view(csms, station_id))["configuration"]["keys"]}
    assert pending["HeartbeatInterval"]["value"] == "900" and pending["HeartbeatInterval"]["reboot_required"] is True
    assert rebooted["HeartbeatInterval"]["value"] == "900" and rebooted["HeartbeatInterval"]["reboot_required"] is False


# ================================================================================================
# Authorization non-happy paths (1.6 sections 3.5, 4.1, 4.8, 4.10)
# ================================================================================================


async def _tag_in_status(csms, station_id: str, kind: str) -> str:
    tag = tag_for(station_id, kind[:3].upper())
    if kind == "Blocked":
        await put_id_tag(csms, tag, status="Blocked")
    elif kind == "Expired":
        await put_id_tag(csms, tag, status="Accepted", expiry_date=ts(utcnow() - timedelta(days=1)))
    # Invalid: never registered
    return tag


@pytest.mark.parametrize("kind", ["Invalid", "Expired", "Blocked"])
async def test_authorize_with_non_accepted_id_tag_gets_its_status(csms, station_id, kind):
    await register_station(csms, station_id)
    tag = await _tag_in_status(csms, station_id, kind)
    async with online(csms, station_id) as st:
        auth = await st.call(call.Authorize(id_tag=tag))
    assert auth.id_tag_info["status"] == kind


@pytest.mark.parametrize("kind", ["Invalid", "Expired", "Blocked"])
async def test_start_transaction_with_non_accepted_id_tag_gets_an_id_and_the_station_stops_it_deauthorized(csms, station_id, kind):
    await register_station(csms, station_id)
    tag = await _tag_in_status(csms, station_id, kind)
    async with online(csms, station_id) as st:
        # The station started locally (offline / local list), the Central System says otherwise.
        start = await start_transaction(st, tag, meter_start=500)
        # 4.8: the transactionId is always returned, whatever the idTagInfo status.
        assert start.id_tag_info["status"] == kind and start.transaction_id > 0
        # StopTransactionOnInvalidId: the station stops the transaction with reason DeAuthorized.
        await st.call(call.StopTransaction(meter_stop=510, timestamp=ts(utcnow()), transaction_id=start.transaction_id,
                                           reason="DeAuthorized"))
        await st.call(status(1, "Finishing"))
        seen = await view(csms, station_id)
    assert seen["active_transactions"] == []
    tx = await transaction(csms, station_id, start.transaction_id)
    assert tx["stop_reason"] == "DeAuthorized" and tx["energy_wh"] == 10 and tx["id_tag_status"] == kind


async def test_start_transaction_with_an_id_tag_already_charging_elsewhere_is_concurrent_tx(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await charging(csms, st, station_id, connector_id=1)
        tag = tag_for(station_id, "D1")
        second = await start_transaction(st, tag, connector_id=2)
    assert second.id_tag_info["status"] == "ConcurrentTx" and second.transaction_id > 0


# ================================================================================================
# Power failure with transactions to stop (1.6 sections 4.2, 4.10)
# ================================================================================================


async def test_power_loss_queued_stop_transaction_after_reboot_is_accepted_and_closes_the_transaction(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    await put_id_tag(csms, tag)
    started = utcnow() - timedelta(minutes=40)
    power_lost = utcnow() - timedelta(minutes=10)
    async with online(csms, station_id) as st:
        start = await start_transaction(st, tag, meter_start=10_000, at=started)
        await st.call(status(1, "Charging", started))
        await st.call(call.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                       meter_value=[energy(started + timedelta(minutes=15), 14_000)]))
    # Power is back: the station boots, reports its connectors, then delivers the StopTransaction it
    # queued, with the time the power failed and the last meter reading it stored.
    async with online(csms, station_id) as st:
        await st.call(status(0, "Available"))
        await st.call(status(1, "Available"))
        stop = await st.call(call.StopTransaction(
            meter_stop=16_500, timestamp=ts(power_lost), transaction_id=start.transaction_id, reason="PowerLoss",
            id_tag=tag, transaction_data=[energy(power_lost, 16_500)]), suppress=False)
        assert stop.id_tag_info["status"] == "Accepted"
        seen = await view(csms, station_id)
    assert seen["active_transactions"] == [] and connector(seen, 1)["status"] == "Available"
    tx = await transaction(csms, station_id, start.transaction_id)
    assert tx["active"] is False and tx["stop_reason"] == "PowerLoss"
    assert tx["energy_wh"] == 6500 and tx["meter_stop_wh"] == 16_500
    assert parse(tx["started_at"]) == started and parse(tx["stopped_at"]) == power_lost


# ================================================================================================
# Offline start/stop with old timestamps (1.6 sections 4.7, 4.8, 4.9, 4.10; DESIGN.md: the newest
# station timestamp wins)
# ================================================================================================


async def test_offline_transaction_messages_delivered_late_in_order_are_accepted_with_the_station_times(csms, station_id):
    await register_station(csms, station_id)
    tag = tag_for(station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        await st.call(status(1, "Available"))
    went_offline = utcnow() - timedelta(hours=3)
    t_start = went_offline + timedelta(minutes=5)
    # Back online (a reconnect, not a reboot: no BootNotification). The station reports its current
    # status first, then its queue, oldest first.
    async with online(csms, station_id, boot=False) as st:
        now_status = await st.call(status(1, "Available", utcnow()), suppress=False)
        assert now_status is not None
        start = await start_transaction(st, tag, meter_start=20_000, at=t_start)
        assert start.id_tag_info["status"] == "Accepted" and start.transaction_id > 0
        late_status = await st.call(status(1, "Charging", t_start + timedelta(seconds=5)), suppress=False)
        assert late_status is not None  # answered even though it is older than what the CSMS knows
        for minutes, wh in ((15, 21_000), (30, 22_000)):
            await st.call(call.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                           meter_value=[energy(t_start + timedelta(minutes=minutes), wh)]), suppress=False)
        stop = await st.call(call.StopTransaction(meter_stop=22_750, timestamp=ts(t_start + timedelta(minutes=45)),
                                                  transaction_id=start.transaction_id, reason="Local", id_tag=tag),
                             suppress=False)
        assert stop.id_tag_info["status"] == "Accepted"
        await st.call(status(1, "Finishing", t_start + timedelta(minutes=45)), suppress=False)
        seen = await view(csms, station_id)
    # The late, older notifications were recorded but do not overwrite the newer status.
    assert connector(seen, 1)["status"] == "Available"
    assert seen["active_transactions"] == []
    tx = await transaction(csms, station_id, start.transaction_id)
    assert parse(tx["started_at"]) == t_start and parse(tx["stopped_at"]) == t_start + timedelta(minutes=45)
    assert tx["energy_wh"] == 2750 and tx["meter_value_count"] >= 2 and tx["stop_reason"] == "Local"
    # Operators find it by the station's time, not by when it arrived.
    async with csms.api() as api:
        window = (await api.get("/api/transactions", params={
            "station_id": station_id, "since": ts(went_offline), "until": ts(went_offline + timedelta(hours=1))})).json()
    assert [t["transaction_id"] for t in window["transactions"]] == [start.transaction_id]


async def test_offline_stop_repeated_by_the_station_is_answered_again_without_changes(csms, station_id):
    await register_station(csms, station_id)
    t_start = utcnow() - timedelta(hours=2)
    async with online(csms, station_id) as st:
        start = await start_transaction(st, "OFFLINE-ANY", meter_start=0, at=t_start)
        request = call.StopTransaction(meter_stop=900, timestamp=ts(t_start + timedelta(minutes=9)),
                                       transaction_id=start.transaction_id, reason="Local")
        assert await st.call(request, suppress=False) is not None
        # No answer reached the station (connection lost): it sends the same message again.
        assert await st.call(request, suppress=False) is not None
    tx = await transaction(csms, station_id, start.transaction_id)
    assert tx["energy_wh"] == 900 and parse(tx["stopped_at"]) == t_start + timedelta(minutes=9)


# ================================================================================================
# Local authorization list (1.6 sections 3.5, 5.10, 5.15)
# ================================================================================================


def local_entry(tag: str, status_: str | None = "Accepted") -> dict[str, Any]:
    return {"idTag": tag} if status_ is None else {"idTag": tag, "idTagInfo": {"status": status_}}


@pytest.mark.parametrize("version", [0, 7, -1])
async def test_get_local_list_version_is_shown_to_operator(csms, station_id, version):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetLocalListVersion": {"list_version": version}}):
        assert await answered(csms, station_id, "GetLocalListVersion") == {"listVersion": version}
        seen = await view(csms, station_id)
    # 0: empty list; -1: local list not supported (6.28)
    assert seen["local_list"]["station_reported_version"] == version
    assert seen["local_list"]["station_reported_at"] is not None


async def test_send_local_list_full_then_differential_versions_are_shown(csms, station_id):
    await register_station(csms, station_id)
    versions = iter([1, 2])
    async with online(csms, station_id, answers={
            "GetLocalListVersion": lambda: {"list_version": next(versions)}}) as st:
        full = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            local_entry("LOCAL-A"), local_entry("LOCAL-B", "Blocked"), local_entry("LOCAL-C")]}
        assert await answered(csms, station_id, "SendLocalList", full) == {"status": "Accepted"}
        assert (await answered(csms, station_id, "GetLocalListVersion")) == {"listVersion": 1}
        after_full = (await view(csms, station_id))["local_list"]
        differential = {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": [
            local_entry("LOCAL-D"), local_entry("LOCAL-C", None)]}  # add D, remove C
        assert await answered(csms, station_id, "SendLocalList", differential) == {"status": "Accepted"}
        assert (await answered(csms, station_id, "GetLocalListVersion")) == {"listVersion": 2}
        after_differential = (await view(csms, station_id))["local_list"]
        [sent_full, sent_differential] = st.got("SendLocalList")
    assert after_full["version"] == 1 and after_full["entries"] == 3 and after_full["station_reported_version"] == 1
    assert after_differential["version"] == 2 and after_differential["entries"] == 3
    assert after_differential["station_reported_version"] == 2
    assert sent_full["update_type"] == "Full" and len(sent_full["local_authorization_list"]) == 3
    assert sent_differential["local_authorization_list"][1] == {"id_tag": "LOCAL-C"}


@pytest.mark.parametrize("answer", ["NotSupported", "Failed", "VersionMismatch"])
async def test_send_local_list_not_applied_by_station_is_reported_and_keeps_the_version(csms, station_id, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "SendLocalList", {
            "listVersion": 3, "updateType": "Full", "localAuthorizationList": [local_entry("LOCAL-A")]}) == {"status": "Accepted"}
        st.answers["SendLocalList"] = {"status": answer}
        assert await answered(csms, station_id, "SendLocalList", {
            "listVersion": 4, "updateType": "Differential",
            "localAuthorizationList": [local_entry("LOCAL-B")]}) == {"status": answer}
        seen = await view(csms, station_id)
    assert seen["local_list"]["version"] == 3 and seen["local_list"]["entries"] == 1


async def test_send_local_list_full_update_with_an_entry_without_id_tag_info_is_refused_before_sending(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        response = await command(csms, station_id, "SendLocalList", {
            "listVersion": 1, "updateType": "Full", "localAuthorizationList": [local_entry("LOCAL-A", None)]})
        assert st.received == []
    assert response.status_code == 422


# ================================================================================================
# Firmware update (1.6 sections 4.5, 5.19)
# ================================================================================================


async def test_update_firmware_accepted_and_every_firmware_status_is_shown(csms, station_id):
    await register_station(csms, station_id)
    retrieve = utcnow() + timedelta(seconds=1)
    location = "https://firmware.example.com/acme/m1-2.0.0.bin"
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "UpdateFirmware", {
            "location": location, "retrieveDate": ts(retrieve), "retries": 3, "retryInterval": 60}) == {}
        [request] = st.got("UpdateFirmware")
        assert request["location"] == location and parse(request["retrieve_date"]) == retrieve
        requested = (await view(csms, station_id))["firmware_update"]
        shown = []
        for status_ in ("Downloading", "Downloaded", "Installing"):
            assert await st.call(call.FirmwareStatusNotification(status=status_), suppress=False) is not None
            shown.append((await view(csms, station_id))["firmware_status"])
    # Installing ends in a reboot with the new firmware; Installed follows the BootNotification.
    async with online(csms, station_id, boot=False) as st:
        await boot_accepted(st, firmware_version="2.0.0")
        assert await st.call(call.FirmwareStatusNotification(status="Installed"), suppress=False) is not None
        seen = await view(csms, station_id)
    assert requested["location"] == location and parse(requested["retrieve_at"]) == retrieve
    assert requested["retries"] == 3 and requested["retry_interval_s"] == 60
    assert shown == ["Downloading", "Downloaded", "Installing"]
    assert seen["firmware_status"] == "Installed" and seen["boot"]["firmware_version"] == "2.0.0"


@pytest.mark.parametrize("failure", ["DownloadFailed", "InstallationFailed"])
async def test_firmware_update_failure_is_shown(csms, station_id, failure):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "UpdateFirmware", {
            "location": "ftp://firmware.example.com/m1.bin", "retrieveDate": ts(utcnow())}) == {}
        await st.call(call.FirmwareStatusNotification(status="Downloading"))
        if failure == "InstallationFailed":
            await st.call(call.FirmwareStatusNotification(status="Downloaded"))
            await st.call(call.FirmwareStatusNotification(status="Installing"))
        assert await st.call(call.FirmwareStatusNotification(status=failure), suppress=False) is not None
        seen = await view(csms, station_id)
    assert seen["firmware_status"] == failure


# ================================================================================================
# Diagnostics (1.6 sections 4.4, 5.9)
# ================================================================================================


async def test_get_diagnostics_file_name_and_upload_statuses_are_shown(csms, station_id):
    await register_station(csms, station_id)
    start, stop = utcnow() - timedelta(days=1), utcnow()
    async with online(csms, station_id, answers={"GetDiagnostics": {"file_name": "diag-0001.tar.gz"}}) as st:
        assert await answered(csms, station_id, "GetDiagnostics", {
            "location": "ftp://diag.example.com/upload/", "startTime": ts(start), "stopTime": ts(stop),
            "retries": 2, "retryInterval": 30}) == {"fileName": "diag-0001.tar.gz"}
        [request] = st.got("GetDiagnostics")
        assert request["location"] == "ftp://diag.example.com/upload/"
        assert await st.call(call.DiagnosticsStatusNotification(status="Uploading"), suppress=False) is not None
        uploading = (await view(csms, station_id))["diagnostics_status"]
        assert await st.call(call.DiagnosticsStatusNotification(status="Uploaded"), suppress=False) is not None
        seen = await view(csms, station_id)
    assert uploading == "Uploading" and seen["diagnostics_status"] == "Uploaded"
    upload = seen["diagnostics_upload"]
    assert upload["file_name"] == "diag-0001.tar.gz" and upload["location"] == "ftp://diag.example.com/upload/"
    assert parse(upload["start_time"]) == start and parse(upload["stop_time"]) == stop


async def test_diagnostics_upload_failed_is_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"GetDiagnostics": {"file_name": "diag.zip"}}) as st:
        await answered(csms, station_id, "GetDiagnostics", {"location": "ftp://diag.example.com/upload/"})
        await st.call(call.DiagnosticsStatusNotification(status="Uploading"))
        assert await st.call(call.DiagnosticsStatusNotification(status="UploadFailed"), suppress=False) is not None
        seen = await view(csms, station_id)
    assert seen["diagnostics_status"] == "UploadFailed"


async def test_get_diagnostics_with_nothing_to_upload_has_no_file_name(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id):
        # 6.26: fileName absent when no diagnostic information is available.
        assert await answered(csms, station_id, "GetDiagnostics", {"location": "ftp://diag.example.com/upload/"}) == {}
        seen = await view(csms, station_id)
    assert seen["diagnostics_upload"]["file_name"] is None


# ================================================================================================
# Reservations (1.6 sections 5.1, 5.13, 6.45)
# ================================================================================================


def reservation(reservation_id: int, id_tag: str, connector_id: int = 1, *, expires: datetime | None = None,
                parent: str | None = None) -> dict[str, Any]:
    body = {"connectorId": connector_id, "expiryDate": ts(expires or utcnow() + timedelta(hours=1)),
            "idTag": id_tag, "reservationId": reservation_id}
    if parent:
        body["parentIdTag"] = parent
    return body


async def test_reservation_accepted_then_start_transaction_with_its_reservation_id_consumes_it(csms, station_id):
    await register_station(csms, station_id)
    tag, parent = tag_for(station_id), tag_for(station_id, "P")
    await put_id_tag(csms, tag, status="Accepted", parent_id_tag=parent)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "ReserveNow", reservation(41, tag, parent=parent)) == {"status": "Accepted"}
        await st.call(status(1, "Reserved"))
        reserved = await view(csms, station_id)
        await st.call(status(1, "Preparing"))
        start = await start_transaction(st, tag, reservation_id=41)
        assert start.id_tag_info["status"] == "Accepted"
        await st.call(status(1, "Charging"))
        seen = await view(csms, station_id)
    [shown] = reserved["reservations"]
    assert (shown["reservation_id"], shown["connector_id"], shown["id_tag"], shown["parent_id_tag"]) == (41, 1, tag, parent)
    assert connector(reserved, 1)["status"] == "Reserved"
    # 6.45: reservationId "contains the id of the reservation that terminates as a result of this transaction".
    assert seen["reservations"] == []
    assert [t["transaction_id"] for t in seen["active_transactions"]] == [start.transaction_id]


async def test_expired_reservation_is_no_longer_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id):
        assert await answered(csms, station_id, "ReserveNow", reservation(1, "R-LONG", 1)) == {"status": "Accepted"}
        assert await answered(csms, station_id, "ReserveNow",
                              reservation(2, "R-SHORT", 2, expires=utcnow() + timedelta(seconds=6))) == {"status": "Accepted"}
        assert {r["reservation_id"] for r in (await view(csms, station_id))["reservations"]} == {1, 2}

        async def only_the_long_one() -> bool:
            return [r["reservation_id"] for r in (await view(csms, station_id))["reservations"]] == [1]

        # 5.13: the reservation ends at its expiryDate.
        await wait_until(only_the_long_one, 30, "the short reservation's expiry", interval=0.05)


@pytest.mark.parametrize("answer", ["Faulted", "Occupied", "Unavailable", "Rejected"])
async def test_reservation_refused_by_station_is_reported_to_operator_and_not_shown(csms, station_id, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"ReserveNow": {"status": answer}}) as st:
        assert await answered(csms, station_id, "ReserveNow", reservation(5, "R-TAG")) == {"status": answer}
        assert len(st.got("ReserveNow")) == 1
        seen = await view(csms, station_id)
    assert seen["reservations"] == []


async def test_whole_station_reservation_on_connector_zero_is_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "ReserveNow", reservation(6, "R-ANY", 0)) == {"status": "Accepted"}
        assert st.got("ReserveNow")[0]["connector_id"] == 0
        seen = await view(csms, station_id)
    assert [(r["reservation_id"], r["connector_id"]) for r in seen["reservations"]] == [(6, 0)]


async def test_cancel_reservation_accepted_removes_it(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await answered(csms, station_id, "ReserveNow", reservation(7, "R-TAG"))
        assert await answered(csms, station_id, "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
        assert st.got("CancelReservation") == [{"reservation_id": 7}]
        await st.call(status(1, "Available"))
        seen = await view(csms, station_id)
    assert seen["reservations"] == [] and connector(seen, 1)["status"] == "Available"


async def test_cancel_reservation_rejected_by_station_is_reported(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"CancelReservation": {"status": "Rejected"}}):
        assert await answered(csms, station_id, "CancelReservation", {"reservationId": 999}) == {"status": "Rejected"}


async def test_reservation_ends_when_its_connector_becomes_faulted(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await answered(csms, station_id, "ReserveNow", reservation(8, "R-TAG", 2))
        # The station's clock, at full precision: the fault happened after the reservation.
        faulted_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        await st.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted",
                                              timestamp=faulted_at))
        seen = await view(csms, station_id)
    # 5.13: the reservation ends when the connector is set to Faulted or Unavailable.
    assert seen["reservations"] == []


# ================================================================================================
# Trigger message (1.6 section 5.17)
# ================================================================================================


async def test_trigger_status_notification_then_the_station_sends_it_and_it_is_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(status(1, "Available", utcnow() - timedelta(minutes=5)))
        assert await answered(csms, station_id, "TriggerMessage",
                              {"requestedMessage": "StatusNotification", "connectorId": 1}) == {"status": "Accepted"}
        assert st.got("TriggerMessage") == [{"requested_message": "StatusNotification", "connector_id": 1}]
        # 5.17: the requested message follows the TriggerMessage.conf (no timestamp: it is current).
        answer = await st.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Unavailable"),
                               suppress=False)
        assert answer is not None
        seen = await view(csms, station_id)
    assert connector(seen, 1)["status"] == "Unavailable"


async def test_trigger_meter_values_then_the_station_sends_them_and_the_energy_is_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        tx_id = await charging(csms, st, station_id)
        assert await answered(csms, station_id, "TriggerMessage",
                              {"requestedMessage": "MeterValues", "connectorId": 1}) == {"status": "Accepted"}
        sample = energy(utcnow(), 3500)
        sample["sampledValue"][0]["context"] = "Trigger"
        assert await st.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[sample]),
                             suppress=False) is not None
        seen = await view(csms, station_id)
    [active] = seen["active_transactions"]
    assert active["energy_wh"] == 2500


async def test_trigger_heartbeat_then_the_station_sends_it_and_gets_the_time(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
        heartbeat = await st.call(call.Heartbeat(), suppress=False)
        seen = await view(csms, station_id)
    assert abs(parse(heartbeat.current_time) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert seen["last_heartbeat"] is not None


@pytest.mark.parametrize(("requested", "notification"), [
    ("FirmwareStatusNotification", call.FirmwareStatusNotification(status="Idle")),
    ("DiagnosticsStatusNotification", call.DiagnosticsStatusNotification(status="Idle")),
])
async def test_trigger_status_notifications_of_firmware_and_diagnostics(csms, station_id, requested, notification):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "TriggerMessage", {"requestedMessage": requested}) == {"status": "Accepted"}
        assert await st.call(notification, suppress=False) is not None
        seen = await view(csms, station_id)
    field = "firmware_status" if requested.startswith("Firmware") else "diagnostics_status"
    assert seen[field] == "Idle"


@pytest.mark.parametrize("answer", ["NotImplemented", "Rejected"])
async def test_trigger_message_not_implemented_or_rejected_is_reported(csms, station_id, answer):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"TriggerMessage": {"status": answer}}):
        assert await answered(csms, station_id, "TriggerMessage",
                              {"requestedMessage": "MeterValues", "connectorId": 2}) == {"status": answer}


# ================================================================================================
# Smart charging (1.6 sections 3.13, 5.5, 5.7, 5.16)
# ================================================================================================


async def test_tx_default_profile_on_connector_zero_is_shown(csms, station_id):
    await register_station(csms, station_id)
    profile = tx_profile(100, 32, purpose="TxDefaultProfile")
    async with online(csms, station_id) as st:
        assert await answered(csms, station_id, "SetChargingProfile",
                              {"connectorId": 0, "csChargingProfiles": profile}) == {"status": "Accepted"}
        [request] = st.got("SetChargingProfile")
        seen = await view(csms, station_id)
    assert request["connector_id"] == 0
    assert request["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
    [shown] = seen["charging_profiles"]
    assert (shown["charging_profile_id"], shown["connector_id"], shown["purpose"], shown["stack_level"]) == (
        100, 0, "TxDefaultProfile", 0)
    assert [(p["start_period_s"], p["limit"]) for p in shown["periods"]] == [(0, 32), (1800, 16)]
    assert shown["charging_rate_unit"] == "A"


async def test_tx_profile_for_the_running_transaction_is_shown_and_ends_with_it(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        tx_id = await charging(csms, st, station_id)
        assert await answered(csms, station_id, "SetChargingProfile", {
            "connectorId": 1, "csChargingProfiles": tx_profile(200, 10, transaction_id=tx_id)}) == {"status": "Accepted"}
        during = await view(csms, station_id)
        await st.call(call.StopTransaction(meter_stop=1500, timestamp=ts(utcnow()), transaction_id=tx_id, reason="Local"))
        after = await view(csms, station_id)
    [shown] = during["charging_profiles"]
    assert (shown["charging_profile_id"], shown["connector_id"], shown["purpose"], shown["transaction_id"]) == (
        200, 1, "TxProfile", tx_id)
    # 3.13.1: a TxProfile holds for the duration of its transaction only.
    assert after["charging_profiles"] == []


async def test_set_charging_profile_rejected_by_station_is_reported_and_not_shown(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"SetChargingProfile": {"status": "Rejected"}}):
        assert await answered(csms, station_id, "SetChargingProfile", {
            "connectorId": 1, "csChargingProfiles": tx_profile(300, purpose="TxDefaultProfile")}) == {"status": "Rejected"}
        seen = await view(csms, station_id)
    assert seen["charging_profiles"] == []


async def test_charge_point_max_profile_on_a_connector_is_refused_before_sending(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        response = await command(csms, station_id, "SetChargingProfile", {
            "connectorId": 1, "csChargingProfiles": tx_profile(400, purpose="ChargePointMaxProfile")})
        assert st.received == []
    # 3.13.1: "ChargePointMaxProfile can only be set at Charge Point ConnectorId 0".
    assert response.status_code == 422


async def test_get_composite_schedule_returns_the_station_schedule(csms, station_id):
    await register_station(csms, station_id)
    schedule_start = utcnow()
    schedule = {"chargingRateUnit": "A", "duration": 3600,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}, {"startPeriod": 1800, "limit": 8}]}
    async with online(csms, station_id, answers={"GetCompositeSchedule": {
            "status": "Accepted", "connector_id": 1, "schedule_start": ts(schedule_start), "charging_schedule": schedule}}) as st:
        answer = await answered(csms, station_id, "GetCompositeSchedule",
                                {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"})
        assert st.got("GetCompositeSchedule") == [{"connector_id": 1, "duration": 3600, "charging_rate_unit": "A"}]
    assert answer["status"] == "Accepted" and answer["connectorId"] == 1
    assert parse(answer["scheduleStart"]) == schedule_start
    assert answer["chargingSchedule"]["duration"] == 3600
    assert [(p["startPeriod"], p["limit"]) for p in answer["chargingSchedule"]["chargingSchedulePeriod"]] == [(0, 16), (1800, 8)]


async def test_get_composite_schedule_rejected_is_reported(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id):
        assert await answered(csms, station_id, "GetCompositeSchedule", {"connectorId": 2, "duration": 600}) == {"status": "Rejected"}


async def test_clear_charging_profile_by_id_and_by_purpose_removes_them(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        for profile_id, connector_id, stack in ((501, 0, 0), (502, 1, 1), (503, 2, 2)):
            await answered(csms, station_id, "SetChargingProfile", {
                "connectorId": connector_id,
                "csChargingProfiles": tx_profile(profile_id, purpose="TxDefaultProfile", stack_level=stack)})
        assert len((await view(csms, station_id))["charging_profiles"]) == 3
        assert await answered(csms, station_id, "ClearChargingProfile", {"id": 502}) == {"status": "Accepted"}
        by_id = {p["charging_profile_id"] for p in (await view(csms, station_id))["charging_profiles"]}
        assert await answered(csms, station_id, "ClearChargingProfile",
                              {"chargingProfilePurpose": "TxDefaultProfile"}) == {"status": "Accepted"}
        by_purpose = (await view(csms, station_id))["charging_profiles"]
        assert st.got("ClearChargingProfile") == [{"id": 502}, {"charging_profile_purpose": "TxDefaultProfile"}]
    assert by_id == {501, 503}
    assert by_purpose == []


async def test_clear_charging_profile_unknown_is_reported(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"ClearChargingProfile": {"status": "Unknown"}}):
        assert await answered(csms, station_id, "ClearChargingProfile", {"id": 12345}) == {"status": "Unknown"}


# ================================================================================================
# Data transfer (1.6 sections 4.3, 5.6)
# ================================================================================================


async def test_station_data_transfer_to_an_unknown_vendor_is_answered_unknown_vendor_id(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        answer = await st.call(call.DataTransfer(vendor_id="com.example.unknown", message_id="Hello", data="{}"),
                               suppress=False)
    # 4.3: "If the recipient of the request has no implementation for the specific vendorId it
    # SHALL return a status 'UnknownVendorId'".
    assert answer.status == "UnknownVendorId"


@pytest.mark.parametrize(("answer", "expected"), [
    ({"status": "Accepted", "data": "pong"}, {"status": "Accepted", "data": "pong"}),
    ({"status": "Rejected"}, {"status": "Rejected"}),
    ({"status": "UnknownMessageId"}, {"status": "UnknownMessageId"}),
    ({"status": "UnknownVendorId"}, {"status": "UnknownVendorId"}),
])
async def test_csms_data_transfer_returns_the_station_answer(csms, station_id, answer, expected):
    await register_station(csms, station_id)
    async with online(csms, station_id, answers={"DataTransfer": answer}) as st:
        result = await answered(csms, station_id, "DataTransfer",
                                {"vendorId": "com.acme", "messageId": "Ping", "data": "ping"})
        assert st.got("DataTransfer") == [{"vendor_id": "com.acme", "message_id": "Ping", "data": "ping"}]
    assert result == expected


# ================================================================================================
# Security (OCTT TC_073_CSMS, TC_085_CSMS; OCPP-J 1.6 sections 3.1, 6.2;
# Improved security for OCPP 1.6-J, security profile 1)
# ================================================================================================


async def handshake(csms, station_id: str, *, user: str | None = None, password: str = PASSWORD,
                    subprotocols: list[str] | None = None) -> str | int:
    """The negotiated subprotocol if the CSMS accepts the connection, else the HTTP status it refused with."""
    try:
        async with websockets.connect(
            f"{csms.ws_url}/{station_id}", subprotocols=subprotocols or ["ocpp1.6"],
            additional_headers=basic_auth(user or station_id, password), open_timeout=30,
        ) as ws:
            return ws.subprotocol
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def test_basic_auth_with_the_right_password_is_accepted_and_a_wrong_one_is_401(csms, station_id):
    await register_station(csms, station_id)
    assert await handshake(csms, station_id) == "ocpp1.6"
    assert await handshake(csms, station_id, password="not-the-password-0000") == 401


async def test_basic_auth_user_that_is_not_the_station_id_is_401_even_with_valid_credentials(csms, station_id):
    other = f"{station_id}-B"
    await register_station(csms, station_id)
    await register_station(csms, other)
    # Security whitepaper A00.FR.204: "The username SHALL be equal to the Charge Point identity".
    assert await handshake(csms, station_id, user=other) == 401
    assert await handshake(csms, station_id, user="someone-else") == 401


async def test_subprotocol_negotiation_picks_ocpp16_from_the_station_list(csms, station_id):
    await register_station(csms, station_id)
    # (2.1 is a version we do not speak; with 2.0.1 offered too, 2.0.1 wins: tests/test_station_flow_201.py)
    assert await handshake(csms, station_id, subprotocols=["ocpp2.1", "ocpp1.6"]) == "ocpp1.6"
    assert await handshake(csms, station_id, subprotocols=["ocpp1.6", "ocpp1.5"]) == "ocpp1.6"


async def test_station_offering_only_unsupported_subprotocols_is_refused(csms, station_id):
    await register_station(csms, station_id)
    refused = await handshake(csms, station_id, subprotocols=["ocpp2.1", "ocpp1.5"])
    assert isinstance(refused, int) and 400 <= refused < 500


def new_authorization_key() -> tuple[str, str]:
    """A new station password (16-20 bytes, ASCII here) and its AuthorizationKey value: its hex representation.

    OCPP-J 1.6 section 6.2.2 and security whitepaper A00.FR.205: the AuthorizationKey configuration
    value is the hexadecimal representation of the password (at most 20 bytes, 40 hex digits).
    """
    password = f"Key-{uuid.uuid4().hex[:16]}"  # 20 bytes
    return password, password.encode().hex().upper()


async def _change_authorization_key(csms, station_id: str, key_hex: str, answer: str) -> None:
    async with online(csms, station_id, answers={"ChangeConfiguration": {"status": answer}}) as st:
        assert await answered(csms, station_id, "ChangeConfiguration",
                              {"key": "AuthorizationKey", "value": key_hex}) == {"status": answer}
        # The station itself receives the key in clear.
        assert st.got("ChangeConfiguration") == [{"key": "AuthorizationKey", "value": key_hex}]


async def test_authorization_key_accepted_old_password_is_refused_and_the_key_is_never_shown(csms, station_id):
    await register_station(csms, station_id)
    password, key_hex = new_authorization_key()
    await _change_authorization_key(csms, station_id, key_hex, "Accepted")
    # OCPP-J 1.6 section 6.2.2: after Accepted the Central System "SHALL ... no longer accept the
    # credentials previously used by the charge point".
    assert await handshake(csms, station_id, password=PASSWORD) == 401
    shown = json.dumps(await events(csms, station_id)) + json.dumps(await view(csms, station_id))
    assert key_hex not in shown and key_hex.lower() not in shown and password not in shown
    assert "ChangeConfiguration" in shown  # the command itself is in the support log, its value masked


async def test_authorization_key_accepted_station_reconnects_with_the_password_it_was_sent(csms, station_id):
    await register_station(csms, station_id)
    password, key_hex = new_authorization_key()
    await _change_authorization_key(csms, station_id, key_hex, "Accepted")
    # OCPP-J 1.6 section 6.2.2 (and its AL1000 example), whitepaper A00.FR.205, OCTT TC_073: the
    # station authenticates with the password itself, the bytes the hex value represents.
    async with online(csms, station_id, password=password) as st:
        await st.call(status(0, "Available"))
    assert (await view(csms, station_id))["boot_status"] == "Accepted"


@pytest.mark.parametrize("answer", ["Rejected", "NotSupported"])
async def test_authorization_key_not_accepted_keeps_the_old_password(csms, station_id, answer):
    await register_station(csms, station_id)
    password, key_hex = new_authorization_key()
    await _change_authorization_key(csms, station_id, key_hex, answer)
    # OCPP-J 1.6 section 6.2.2: "the Central System SHALL keep accepting the old credentials".
    assert await handshake(csms, station_id, password=PASSWORD) == "ocpp1.6"
    assert await handshake(csms, station_id, password=password) == 401
    assert await handshake(csms, station_id, password=key_hex) == 401


async def test_authorization_key_reported_by_a_station_in_get_configuration_is_masked(csms, station_id):
    await register_station(csms, station_id)
    secret = "00112233445566778899AABBCCDDEEFF00112233"
    reported = {"configuration_key": [{"key": "AuthorizationKey", "readonly": False, "value": secret},
                                      {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    async with online(csms, station_id, answers={"GetConfiguration": reported}):
        answer = await answered(csms, station_id, "GetConfiguration", {})
        seen = await view(csms, station_id)
        log = await events(csms, station_id)
    # Whitepaper: AuthorizationKey is write-only, so the Central System never stores it in plain text.
    assert secret not in json.dumps(answer) + json.dumps(seen) + json.dumps(log)
    assert keys_of(seen)["HeartbeatInterval"] == ("300", False)
    assert "AuthorizationKey" in keys_of(seen)



@pytest.mark.parametrize("value", [
    "rotated-secret-key-0123456789",   # not hexadecimal
    "short",                           # not hexadecimal, and far too short
    "00112233445566778899AABBCCDDEE",  # 15 bytes: below the 16-byte minimum
    "00112233445566778899AABBCCDDEEFF0011223344",  # 21 bytes: above the 20-byte maximum
    "0011223344556677889",             # odd number of hex digits
])
async def test_authorization_key_that_is_not_16_to_20_bytes_in_hex_is_refused_before_sending(csms, station_id, value):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        response = await command(csms, station_id, "ChangeConfiguration", {"key": "AuthorizationKey", "value": value})
        received = list(st.received)
    assert received == []
    assert response.status_code == 422, response.text
    assert await handshake(csms, station_id, password=PASSWORD) == "ocpp1.6"
