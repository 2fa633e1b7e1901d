"""Operators command 2.0.1 stations, part 2 (smart charging, firmware and logs, display messages, monitoring,
network profile, customer information, costs) through the real gateway: the station's answer (200),
its fold in GET /api/stations/{id}, a refusal by the station's state (409, nothing sent), the
station's CALLERROR (502), and secrets absent from the events and from bronze.

The station is the `ocpp` library's v201 ChargePoint (tests/commanded_201.py), which validates
every CALL we send against the 2.0.1 schemas before answering it.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call

from actors import lake
from tests.commanded_201 import answered, command, online_201, station_view
from tests.conftest import register_station
from tests.test_lake_landing import flush_all_hosts

pytestmark = pytest.mark.ray

NOW = "2026-11-02T10:00:00Z"


async def start_transaction(station, tx_id: str = "tx-1", evse_id: int = 1) -> None:
    await station.call(call.TransactionEvent(
        event_type="Started", timestamp=NOW, trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": tx_id}, evse={"id": evse_id, "connector_id": 1}))


def tx_profile(pid: int = 5, tx: str = "tx-1") -> dict:
    return {"evseId": 1, "chargingProfile": {
        "id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "transactionId": tx,
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}}


async def events_text(csms, station_id: str) -> str:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.text


async def bronze_text(csms, station_id: str) -> str:
    await flush_all_hosts(csms)
    rows = duckdb.sql(
        f"select action, payload from read_parquet('{lake.bronze_glob(csms.data_root)}', hive_partitioning=true, "
        f"union_by_name=true) where station_id = '{station_id}'").fetchall()
    assert rows, "the station's events landed"
    return json.dumps(rows)


# --- smart charging (K) ---------------------------------------------------------------------------------


async def test_a_tx_profile_for_the_open_transaction_is_kept_on_its_evse(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await start_transaction(station)
        assert await answered(csms, station_id, "SetChargingProfile", tx_profile()) == {"status": "Accepted"}
        [sent] = station.got("SetChargingProfile")
        assert sent["charging_profile"]["transaction_id"] == "tx-1"
        profiles = (await station_view(csms, station_id))["v201"]["commands"]["charging_profiles"]
        assert [(p["profile_id"], p["evse_id"], p["purpose"], p["transaction_id"]) for p in profiles] == [
            (5, 1, "TxProfile", "tx-1")]


async def test_a_tx_profile_for_no_open_transaction_is_409_and_nothing_is_sent(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await command(csms, station_id, "SetChargingProfile", tx_profile(tx="never-started"))
        assert response.status_code == 409, response.text
        assert "K01.FR.09" in response.json()["detail"]
        assert station.received == []


async def test_report_charging_profiles_parts_show_under_their_request(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetChargingProfiles": {"status": "Accepted"}}) as station:
        await answered(csms, station_id, "GetChargingProfiles",
                       {"requestId": 42, "chargingProfile": {"chargingLimitSource": ["CSO"]}})
        await station.call(call.ReportChargingProfiles(
            request_id=42, charging_limit_source="CSO", evse_id=0, charging_profile=[{
                "id": 9, "stack_level": 1, "charging_profile_purpose": "ChargingStationMaxProfile",
                "charging_profile_kind": "Absolute", "charging_schedule": [{
                    "id": 1, "start_schedule": NOW, "charging_rate_unit": "W",
                    "charging_schedule_period": [{"start_period": 0, "limit": 22000}]}]}]))
        commands = (await station_view(csms, station_id))["v201"]["commands"]
        [report] = commands["charging_profile_reports"]
        assert (report["request_id"], report["status"], report["complete"]) == (42, "Accepted", True)
        assert [(p["profile_id"], p["evse_id"]) for p in commands["charging_profiles"]] == [(9, 0)]


async def test_a_station_callerror_is_502_and_folds_nothing(csms, station_id):
    def refuse(**_):
        raise NotSupportedError("no smart charging here")

    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ClearChargingProfile": refuse}):
        response = await command(csms, station_id, "ClearChargingProfile", {"chargingProfileId": 3})
        assert response.status_code == 502, response.text
        assert response.json()["detail"]["error_code"] == "NotSupported"


# --- firmware and logs (L, N01) ---------------------------------------------------------------------------


async def test_firmware_update_progress_and_its_location_credentials_never_shown(csms, station_id):
    secret = "fw-pa55word-77"
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "UpdateFirmware", {"requestId": 7, "firmware": {
            "location": f"ftp://fwuser:{secret}@files.example.com/v2.bin", "retrieveDateTime": NOW}})
        # the station got the real location
        assert secret in station.got("UpdateFirmware")[0]["firmware"]["location"]
        await station.call(call.FirmwareStatusNotification(status="Downloading", request_id=7))
        fw = (await station_view(csms, station_id))["v201"]["commands"]["firmware_update"]
        assert (fw["request_id"], fw["status"], fw["progress"], fw["location"]) == (
            7, "Accepted", "Downloading", "ftp://***@files.example.com/v2.bin")
        assert secret not in await events_text(csms, station_id)
    assert secret not in await bronze_text(csms, station_id)


async def test_get_log_keeps_the_filename_and_upload_progress(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetLog": {"status": "Accepted", "filename": "diag.zip"}}) as station:
        await answered(csms, station_id, "GetLog", {"requestId": 3, "logType": "SecurityLog",
                                                    "log": {"remoteLocation": "https://logs.example.com/up"}})
        await station.call(call.LogStatusNotification(status="Uploaded", request_id=3))
        upload = (await station_view(csms, station_id))["v201"]["commands"]["log_upload"]
        assert (upload["filename"], upload["progress"], upload["log_type"]) == ("diag.zip", "Uploaded", "SecurityLog")


# --- display messages (O) -----------------------------------------------------------------------------------


async def test_display_message_set_shown_and_cleared(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        await answered(csms, station_id, "SetDisplayMessage", {"message": {
            "id": 4, "priority": "InFront", "message": {"format": "UTF8", "content": "Charging slowly today"}}})
        messages = (await station_view(csms, station_id))["v201"]["commands"]["display_messages"]
        assert [(d["message_id"], d["content"]) for d in messages] == [(4, "Charging slowly today")]
        await answered(csms, station_id, "ClearDisplayMessage", {"id": 4})
        assert (await station_view(csms, station_id))["v201"]["commands"]["display_messages"] == []


# --- monitoring (N02-N06) --------------------------------------------------------------------------------------


async def test_variable_monitor_and_monitoring_level_show_in_the_view(csms, station_id):
    def accept_with_ids(set_monitoring_data, **_):
        return {"set_monitoring_result": [
            {"id": 100 + i, "status": "Accepted", "type": d["type"], "severity": d["severity"],
             "component": d["component"], "variable": d["variable"]} for i, d in enumerate(set_monitoring_data)]}

    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"SetVariableMonitoring": accept_with_ids}):
        await answered(csms, station_id, "SetVariableMonitoring", {"setMonitoringData": [{
            "value": 65, "type": "UpperThreshold", "severity": 3,
            "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Temperature"}}]})
        await answered(csms, station_id, "SetMonitoringLevel", {"severity": 5})
        commands = (await station_view(csms, station_id))["v201"]["commands"]
        assert [(x["monitor_id"], x["variable_key"], x["value"]) for x in commands["monitors"]] == [
            (100, "EVSE@1/Temperature", 65)]
        assert commands["monitoring_level"] == 5


# --- network profile (B09), customer information (N09/N10), costs (I02) ------------------------------------------


async def test_network_profile_is_kept_without_its_secrets_and_its_security_profile_is_pending(csms, station_id):
    secrets = ("apn-Secr3t", "vpn-Secr3t", "vpn-shared-K3y")
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetNetworkProfile", {"configurationSlot": 2, "connectionData": {
            "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example.com/ocpp",
            "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wireless0",
            "apn": {"apn": "internet.example", "apnAuthentication": "PAP", "apnPassword": secrets[0]},
            "vpn": {"server": "vpn.example", "user": "v", "password": secrets[1], "key": secrets[2], "type": "IKEv2"}}})
        assert station.got("SetNetworkProfile")[0]["connection_data"]["vpn"]["key"] == secrets[2]
        view = await station_view(csms, station_id)
        [profile] = view["v201"]["commands"]["network_profiles"]
        # A05.FR.04: enforced once the station connects with it (tests/test_security_profiles.py).
        assert (profile["slot"], profile["security_profile"], view["security_profile_pending"]) == (2, 2, 2)
        assert view["security_profile"] == 0
        assert not any(s in json.dumps(view) for s in secrets)
        events = await events_text(csms, station_id)
        assert not any(s in events for s in secrets)
    bronze = await bronze_text(csms, station_id)
    assert not any(s in bronze for s in secrets)


async def test_customer_information_parts_show_with_their_request(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "CustomerInformation", {
            "requestId": 11, "report": True, "clear": False, "customerIdentifier": "CUST-7"})
        await station.call(call.NotifyCustomerInformation(data="2 sessions", seq_no=0, generated_at=NOW, request_id=11))
        [info] = (await station_view(csms, station_id))["v201"]["commands"]["customer_information"]
        assert (info["customer"], info["status"], info["complete"], info["data"]) == (
            "customerIdentifier:CUST-7", "Accepted", True, "2 sessions")


async def test_cost_updated_shows_for_the_running_transaction(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await start_transaction(station, "tx-9")
        assert await answered(csms, station_id, "CostUpdated", {"totalCost": 3.75, "transactionId": "tx-9"}) == {}
        [cost] = (await station_view(csms, station_id))["v201"]["commands"]["costs"]
        assert (cost["transaction_id"], cost["total_cost"]) == ("tx-9", 3.75)
