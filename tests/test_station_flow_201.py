"""OCPP 2.0.1 stations through the real gateway: the `ocpp` library's v201 ChargePoint as the
station, the operator API as the judge (one view of transactions for both versions)."""

from __future__ import annotations

import json

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v201 import call

from tests.conftest import put_id_tag, register_station
from tests.stations import TestStation201, connected_station, raw_socket

pytestmark = pytest.mark.ray

V201 = ("ocpp2.0.1",)
EVSE = {"id": 1, "connector_id": 1}


def station_201(csms, station_id: str, subprotocols: tuple[str, ...] = V201):
    return connected_station(csms.ws_url, station_id, station_class=TestStation201, subprotocols=subprotocols)


async def boot(station, expected: str = "Accepted"):
    result = await station.call(call.BootNotification(
        charging_station={"model": "M201", "vendor_name": "Acme", "serial_number": "SN-201",
                          "firmware_version": "2.0.1-a", "modem": {"iccid": "8931", "imsi": "2620"}},
        reason="PowerUp"))
    assert result.status == expected
    return result


def register_reading(wh: float, context: str, at: str, unit: str = "Wh") -> list[dict]:
    return [{"timestamp": at, "sampled_value": [
        {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register",
         "unit_of_measure": {"unit": unit}}]}]


def tx_event(event_type: str, seq_no: int, tx_id: str, at: str, trigger: str, **extra) -> call.TransactionEvent:
    info = {"transaction_id": tx_id, **extra.pop("info", {})}
    return call.TransactionEvent(event_type=event_type, timestamp=at, trigger_reason=trigger, seq_no=seq_no,
                                 transaction_info=info, evse=EVSE, **extra)


async def transactions(csms, station_id: str) -> list[dict]:
    async with csms.api() as api:
        response = await api.get("/api/transactions", params={"station_id": station_id})
    assert response.status_code == 200, response.text
    return response.json()["transactions"]


async def station_view(csms, station_id: str) -> dict:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_authorize_first_session_is_visible_with_its_energy_e03(csms, station_id):
    await register_station(csms, station_id, site="depot-201")
    await put_id_tag(csms, "DRIVER-201")
    async with station_201(csms, station_id) as station:
        await boot(station)
        await station.call(call.StatusNotification(timestamp="2026-11-24T10:00:00Z", connector_status="Available",
                                                   evse_id=1, connector_id=1))
        auth = await station.call(call.Authorize(id_token={"id_token": "driver-201", "type": "ISO14443"}))
        assert auth.id_token_info["status"] == "Accepted"
        started = await station.call(tx_event(
            "Started", 0, "tx-201-a", "2026-11-24T10:01:00Z", "Authorized",
            id_token={"id_token": "DRIVER-201", "type": "ISO14443"},
            meter_value=register_reading(1.5, "Transaction.Begin", "2026-11-24T10:01:00Z", unit="kWh")))
        assert started.id_token_info["status"] == "Accepted"
        await station.call(tx_event("Updated", 1, "tx-201-a", "2026-11-24T10:10:00Z", "MeterValuePeriodic",
                                    meter_value=register_reading(4000, "Sample.Periodic", "2026-11-24T10:10:00Z")))
        live = await station_view(csms, station_id)
        assert live["ocpp_version"] == "2.0.1" and live["connected"] is True
        assert (live["boot"]["vendor"], live["boot"]["model"], live["boot"]["iccid"]) == ("Acme", "M201", "8931")
        assert live["v201"]["evses"][0]["connectors"][0]["status"] == "Available"
        [open_tx] = live["active_transactions"]
        assert (open_tx["transaction_id"], open_tx["energy_wh"]) == ("tx-201-a", 2500)
        ended = await station.call(tx_event("Ended", 2, "tx-201-a", "2026-11-24T10:30:00Z", "EVDeparted",
                                            info={"stopped_reason": "EVDisconnected"},
                                            meter_value=register_reading(9500, "Transaction.End",
                                                                         "2026-11-24T10:30:00Z")))
        assert ended.id_token_info is None
    [tx] = await transactions(csms, station_id)
    assert (tx["transaction_id"], tx["active"], tx["energy_wh"]) == ("tx-201-a", False, 8000)
    assert (tx["stop_reason"], tx["id_tag"], tx["evse_id"], tx["seq_gaps"]) == ("EVDisconnected", "DRIVER-201", 1, [])


async def test_plug_in_first_session_e02(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "DRIVER-PLUG")
    async with station_201(csms, station_id) as station:
        await boot(station)
        started = await station.call(tx_event("Started", 0, "tx-plug", "2026-11-24T11:00:00Z", "CablePluggedIn",
                                              info={"charging_state": "EVConnected"}))
        assert started.id_token_info is None
        authorized = await station.call(tx_event(
            "Updated", 1, "tx-plug", "2026-11-24T11:01:00Z", "Authorized",
            id_token={"id_token": "DRIVER-PLUG", "type": "ISO14443"}, info={"charging_state": "Charging"}))
        assert authorized.id_token_info["status"] == "Accepted"
        await station.call(tx_event("Ended", 2, "tx-plug", "2026-11-24T11:40:00Z", "EVCommunicationLost"))
    [tx] = await transactions(csms, station_id)
    assert (tx["id_tag"], tx["id_tag_status"], tx["active"], tx["seq_gaps"]) == ("DRIVER-PLUG", "Accepted", False, [])


async def test_a_retried_transaction_event_is_answered_the_same_and_recorded_once(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "DRIVER-RETRY")
    async with station_201(csms, station_id) as station:
        await boot(station)
        event = tx_event("Started", 0, "tx-retry", "2026-11-24T12:00:00Z", "Authorized",
                         id_token={"id_token": "DRIVER-RETRY", "type": "ISO14443"},
                         meter_value=register_reading(100, "Transaction.Begin", "2026-11-24T12:00:00Z"))
        first = await station.call(event)
        again = await station.call(event)  # the library gives it a new message id: a real retry
        assert again.id_token_info == first.id_token_info == {"status": "Accepted"}
    [tx] = await transactions(csms, station_id)
    assert tx["meter_value_count"] == 1 and tx["active"] is True


async def test_a_seq_no_gap_is_visible_in_the_transactions(csms, station_id):
    await register_station(csms, station_id)
    async with station_201(csms, station_id) as station:
        await boot(station)
        await station.call(tx_event("Started", 0, "tx-gap", "2026-11-24T13:00:00Z", "CablePluggedIn",
                                    meter_value=register_reading(0, "Transaction.Begin", "2026-11-24T13:00:00Z")))
        # seqNos 1 and 2 were lost from the station's full offline queue (E12).
        await station.call(tx_event("Ended", 3, "tx-gap", "2026-11-24T13:50:00Z", "EVDeparted", offline=True,
                                    meter_value=register_reading(6000, "Transaction.End", "2026-11-24T13:50:00Z")))
    [tx] = await transactions(csms, station_id)
    assert (tx["seq_gaps"], tx["energy_wh"], tx["active"]) == ([1, 2], 6000, False)


async def test_a_pending_station_is_told_so_and_may_send_nothing_else_b02(csms, station_id):
    await register_station(csms, station_id, boot_status="Pending")
    async with station_201(csms, station_id) as station:
        result = await boot(station, expected="Pending")
        assert result.interval == csms.config.pending_retry_interval_s
        with pytest.raises(SecurityError):
            await station.call(call.Heartbeat(), suppress=False)
    view = await station_view(csms, station_id)
    assert view["boot_status"] == "Pending" and view["ocpp_version"] == "2.0.1"


async def test_a_station_offering_both_subprotocols_gets_2_0_1_and_shows_it(csms, station_id):
    await register_station(csms, station_id)
    async with station_201(csms, station_id, subprotocols=("ocpp1.6", "ocpp2.0.1")) as station:
        assert station._connection.subprotocol == "ocpp2.0.1"
        await boot(station)
    view = await station_view(csms, station_id)
    assert view["ocpp_version"] == "2.0.1"
    async with csms.api() as api:
        listed = (await api.get("/api/stations", params={"limit": 10_000})).json()
    rows = listed["stations"] if isinstance(listed, dict) else listed
    assert [s["ocpp_version"] for s in rows if s["station_id"] == station_id] == ["2.0.1"]


async def test_a_multi_part_notify_report_becomes_the_device_model(csms, station_id):
    await register_station(csms, station_id)
    async with station_201(csms, station_id) as station:
        await boot(station)
        for seq_no, (variable, value) in enumerate([("HeartbeatInterval", "300"), ("MessageTimeout", "30")]):
            await station.call(call.NotifyReport(
                request_id=11, generated_at="2026-11-24T14:00:00Z", seq_no=seq_no, tbc=seq_no == 0,
                report_data=[{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": variable},
                              "variable_attribute": [{"type": "Actual", "value": value}]}]))
    view = await station_view(csms, station_id)
    assert [(v["variable"], v["attributes"][0]["value"]) for v in view["v201"]["device_model"]] == \
        [("HeartbeatInterval", "300"), ("MessageTimeout", "30")]
    assert view["v201"]["reports"] == [{"request_id": 11, "parts": 2, "complete": True,
                                         "generated_at": "2026-11-24T14:00:00Z"}]


async def test_a_bad_frame_gets_the_2_0_1_error_code_and_the_connection_stays(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id, subprotocols=V201) as ws:
        await ws.send('[2, "bad-1", "BootNotification", {"reason": "PowerUp"}]')
        reply = json.loads(await ws.recv())
        assert reply[:3] == [4, "bad-1", "OccurrenceConstraintViolation"]
        await ws.send('[2, "bad-2", "Heartbeat", ')
        assert json.loads(await ws.recv())[2] == "FormatViolation"


async def test_an_unknown_token_goes_the_external_authorizers_way_as_for_1_6_c01(csms, station_id, authorizer_server):
    authorizer_server.reset()
    authorizer_server.answer("ROAM-201-X", "Accepted", expiry_date="2030-01-01T00:00:00Z")
    await register_station(csms, station_id)
    async with station_201(csms, station_id) as station:
        await boot(station)
        auth = await station.call(call.Authorize(id_token={"id_token": "roam-201-x", "type": "eMAID"}))
        assert auth.id_token_info == {"status": "Accepted", "cache_expiry_date_time": "2030-01-01T00:00:00Z"}
        started = await station.call(tx_event("Started", 0, "tx-roam", "2026-11-24T15:00:00Z", "Authorized",
                                              id_token={"id_token": "ROAM-201-X", "type": "eMAID"}))
        assert started.id_token_info["status"] == "Accepted"
    assert [r.station_id for r in authorizer_server.requests_for("ROAM-201-X")] == [station_id, station_id]
    [tx] = await transactions(csms, station_id)
    assert (tx["authorization"], tx["id_tag_status"], tx["active"]) == ("downstream", "Accepted", True)
