"""Stations through the real gateway: sessions, duplicates, ordering, bad input, handshakes."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from ocpp.v16 import call

from tests.conftest import PASSWORD, put_id_tag, register_station
from tests.stations import basic_auth, connected_station, raw_socket

pytestmark = pytest.mark.ray


async def boot(station) -> None:
    result = await station.call(call.BootNotification(charge_point_model="M1", charge_point_vendor="Acme"))
    assert result.status == "Accepted"


async def test_full_charging_session_is_visible_to_operators(csms, station_id):
    await register_station(csms, station_id, site="depot-1")
    await put_id_tag(csms, "DRIVER-1")
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                                   timestamp="2026-11-24T10:00:00Z"))
        auth = await station.call(call.Authorize(id_tag="DRIVER-1"))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await station.call(call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=1000,
                                                         timestamp="2026-11-24T10:01:00Z"))
        assert start.transaction_id > 0 and start.id_tag_info["status"] == "Accepted"
        await station.call(call.MeterValues(connector_id=1, transaction_id=start.transaction_id, meter_value=[
            {"timestamp": "2026-11-24T10:02:00Z", "sampledValue": [
                {"value": "2500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"}]}]))
        async with csms.api() as api:
            live = (await api.get(f"/api/stations/{station_id}")).json()
        assert live["connected"] is True
        assert live["boot"]["vendor"] == "Acme" and live["boot"]["model"] == "M1"
        assert live["site"] == "depot-1"
        assert live["active_transactions"][0]["energy_wh"] == 1500
        await station.call(call.StopTransaction(meter_stop=4200, timestamp="2026-11-24T10:30:00Z",
                                                transaction_id=start.transaction_id, reason="EVDisconnected"))
        heartbeat = await station.call(call.Heartbeat())
        assert heartbeat.current_time
    async with csms.api() as api:
        view = (await api.get(f"/api/stations/{station_id}")).json()
        transactions = (await api.get("/api/transactions", params={"station_id": station_id})).json()
    assert view["connected"] is False
    assert view["last_heartbeat"] is not None
    assert view["connectors"][0]["status"] == "Available"
    [tx] = transactions["transactions"]
    assert tx["energy_wh"] == 3200 and tx["active"] is False and tx["stop_reason"] == "EVDisconnected"


async def test_duplicate_start_transaction_returns_same_id(csms, station_id):
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        request = call.StartTransaction(connector_id=1, id_tag="ANY", meter_start=5, timestamp="2026-11-24T11:00:00Z")
        first = await station.call(request)
        again = await station.call(request)
        other = await station.call(call.StartTransaction(connector_id=2, id_tag="ANY", meter_start=5,
                                                         timestamp="2026-11-24T11:00:00Z"))
    assert again.transaction_id == first.transaction_id
    assert other.transaction_id != first.transaction_id


async def test_late_older_status_does_not_overwrite_newer(csms, station_id):
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                                   timestamp="2026-11-24T12:00:00Z"))
        # Queued offline earlier, delivered later: recorded but not the latest status.
        await station.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted",
                                                   timestamp="2026-11-24T11:00:00Z"))
    async with csms.api() as api:
        view = (await api.get(f"/api/stations/{station_id}")).json()
    assert view["connectors"][0]["status"] == "Charging"


async def test_call_before_accepted_boot_gets_security_error(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[:3] == [4, "h1", "SecurityError"]


async def test_pending_station_gets_pending_and_retry_interval(csms, station_id):
    await register_station(csms, station_id, boot_status="Pending")
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]))
        reply = json.loads(await ws.recv())
    assert reply[2]["status"] == "Pending" and reply[2]["interval"] == csms.config.pending_retry_interval_s


async def test_bad_frames_get_callerrors_and_the_connection_stays_open(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        cases = [
            ("{not json", [4, "-1", "FormationViolation"]),
            (json.dumps({"not": "an array"}), [4, "-1", "ProtocolError"]),
            (json.dumps([2, "x1"]), [4, "x1", "ProtocolError"]),
            (json.dumps([2, "x2", "FlyToTheMoon", {}]), [4, "x2", "NotImplemented"]),
            (json.dumps([2, "x3", "BootNotification", {"chargePointModel": "M"}]), [4, "x3", "OccurenceConstraintViolation"]),
            (json.dumps([2, "x4", "BootNotification", {"chargePointVendor": 7, "chargePointModel": "M"}]), [4, "x4", "TypeConstraintViolation"]),
            (json.dumps([2, "x5", "BootNotification", {"chargePointVendor": "V" * 21, "chargePointModel": "M"}]), [4, "x5", "PropertyConstraintViolation"]),
        ]
        for frame, expected in cases:
            await ws.send(frame)
            assert json.loads(await ws.recv())[:3] == expected, frame
        await ws.send(json.dumps([2, "ok", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"


async def test_oversized_frame_closes_with_1009_and_keeps_what_came_before(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        await ws.recv()
        await ws.send(json.dumps([2, "s", "StatusNotification", {"connectorId": 2, "errorCode": "NoError", "status": "Preparing"}]))
        await ws.recv()
        await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "V", "data": "x" * (csms.config.max_frame_bytes + 1)}]))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd.code == 1009
    async with csms.api() as api:
        view = (await api.get(f"/api/stations/{station_id}")).json()
    assert view["connectors"][0]["status"] == "Preparing"


@pytest.mark.parametrize(
    ("case", "expected_status"),
    [("unknown_station", 404), ("wrong_password", 401), ("no_auth", 401), ("no_subprotocol", 400), ("bad_id", 400)],
)
async def test_handshake_refusals(csms, station_id, case, expected_status):
    await register_station(csms, station_id)
    target, headers, subprotocols = station_id, basic_auth(station_id), ["ocpp1.6"]
    if case == "unknown_station":
        target, headers = "never-registered", basic_auth("never-registered")
    elif case == "wrong_password":
        headers = basic_auth(station_id, "wrong-password-0000")
    elif case == "no_auth":
        headers = {}
    elif case == "no_subprotocol":
        subprotocols = ["ocpp2.0"]
    elif case == "bad_id":
        target, headers = "bad%20id", basic_auth("bad id")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{csms.ws_url}/{target}", subprotocols=subprotocols,
                                      additional_headers=headers, open_timeout=30):
            pass
    assert refused.value.response.status_code == expected_status


async def test_newest_connection_replaces_older(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as old:
        async with raw_socket(csms.ws_url, station_id) as new:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(old.recv(), 30)
            await new.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            assert json.loads(await new.recv())[2]["status"] == "Accepted"
            async with csms.api() as api:
                assert (await api.get(f"/api/stations/{station_id}")).json()["connected"] is True


async def test_password_change_takes_effect_at_next_connection(csms, station_id):
    await register_station(csms, station_id)
    await register_station(csms, station_id, password="a-brand-new-password-99")  # noqa: E501
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{csms.ws_url}/{station_id}", subprotocols=["ocpp1.6"],
                                      additional_headers=basic_auth(station_id, PASSWORD), open_timeout=30):
            pass
    assert refused.value.response.status_code == 401
    async with connected_station(csms.ws_url, station_id, password="a-brand-new-password-99") as station:
        await boot(station)
