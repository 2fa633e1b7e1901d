"""Stale transactions (issue 16, item 3) through the real gateway and the operator API.

A station (the `ocpp` library's 1.6 ChargePoint over a real websocket) whose StopTransaction
never came may charge again; the old transaction is kept, shown as settled by the CSMS with
its estimated meter stop; a late StopTransaction wins.
"""

from __future__ import annotations

import json

import duckdb
import httpx
import pytest
from ocpp.v16 import call

from actors import lake
from tests.conftest import OPERATOR_TOKEN, put_id_tag, register_station
from tests.stations import connected_station
from tests.test_lake_landing import flush_all_hosts

pytestmark = pytest.mark.ray


async def boot(station) -> None:
    result = await station.call(call.BootNotification(charge_point_model="M1", charge_point_vendor="Acme"))
    assert result.status == "Accepted"


async def transactions(csms, station_id: str) -> dict[int, dict]:
    async with csms.api() as api:
        response = await api.get("/api/transactions", params={"station_id": station_id})
    assert response.status_code == 200, response.text
    return {t["transaction_id"]: t for t in response.json()["transactions"]}


async def start_and_read(station, id_tag: str, meter_start: int, started_at: str, read_at: str, reading: dict):
    """A StartTransaction and one MeterValues of it: the answer to the start."""
    started = await station.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=meter_start,
                                                       timestamp=started_at))
    await station.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
        {"timestamp": read_at, "sampledValue": [reading]}]))
    return started


async def test_a_tag_whose_stop_never_came_charges_again_and_the_old_transaction_is_settled(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "DRIVER-STALE")
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        first = await start_and_read(station, "DRIVER-STALE", 1000, "2026-11-24T10:00:00Z", "2026-11-24T10:10:00Z",
                                     {"value": "1900", "unit": "Wh"})
        # The StopTransaction is lost; the same driver starts again on the same connector.
        again = await station.call(call.StartTransaction(connector_id=1, id_tag="DRIVER-STALE", meter_start=2000,
                                                         timestamp="2026-11-24T11:00:00Z"))
        assert again.id_tag_info["status"] == "Accepted"
        assert again.transaction_id != first.transaction_id
        # On another connector while it really charges: still ConcurrentTx.
        elsewhere = await station.call(call.StartTransaction(connector_id=2, id_tag="DRIVER-STALE", meter_start=0,
                                                             timestamp="2026-11-24T11:05:00Z"))
        assert elsewhere.id_tag_info["status"] == "ConcurrentTx"
        await station.call(call.StopTransaction(meter_stop=0, timestamp="2026-11-24T11:05:30Z",
                                                transaction_id=elsewhere.transaction_id, reason="DeAuthorized"))
        shown = await transactions(csms, station_id)
        old, new = shown[first.transaction_id], shown[again.transaction_id]
        assert old["active"] is False and new["active"] is True
        assert (old["ended_by"], old["settled_reason"], old["meter_stop_estimated"]) == ("csms", "Superseded", True)
        assert (old["meter_stop_wh"], old["energy_wh"], old["stopped_at"]) == (1900, 900, "2026-11-24T11:00:00Z")
        assert new["ended_by"] is None and new["meter_stop_estimated"] is False

        # The station reboots mid-transaction, then delivers the stop it had queued.
        await boot(station)
        rebooted = (await transactions(csms, station_id))[again.transaction_id]
        assert (rebooted["active"], rebooted["ended_by"], rebooted["settled_reason"]) == (False, "csms", "StationRebooted")
        await station.call(call.StopTransaction(meter_stop=2750, timestamp="2026-11-24T11:30:00Z",
                                                transaction_id=again.transaction_id, reason="PowerLoss"))
        stopped = (await transactions(csms, station_id))[again.transaction_id]
    assert (stopped["ended_by"], stopped["meter_stop_estimated"], stopped["settled_reason"]) == (
        "station", False, "StationRebooted")
    assert (stopped["meter_stop_wh"], stopped["energy_wh"], stopped["stop_reason"]) == (2750, 750, "PowerLoss")


def close_url(station_id: str, transaction_id: int | str) -> str:
    return f"/api/stations/{station_id}/transactions/{transaction_id}/close"


async def test_an_admin_closes_a_stale_transaction_with_a_reason_and_it_lands_in_bronze(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "DRIVER-CLOSE")
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        started = await start_and_read(station, "DRIVER-CLOSE", 500, "2026-11-24T09:00:00Z", "2026-11-24T09:20:00Z",
                                       {"value": "1.25", "unit": "kWh"})
    tx_id = started.transaction_id
    async with csms.api() as api:
        closed = await api.post(close_url(station_id, tx_id), json={"reason": "station swapped, ticket 4711"})
        assert closed.status_code == 200, closed.text
        view = closed.json()
        assert (view["active"], view["ended_by"], view["settled_reason"], view["meter_stop_estimated"]) == (
            False, "operator", "station swapped, ticket 4711", True)
        assert (view["meter_stop_wh"], view["energy_wh"]) == (1250, 750)
        assert (await transactions(csms, station_id))[tx_id] == view
        again = await api.post(close_url(station_id, tx_id), json={"reason": "twice"})
        assert again.status_code == 409, again.text
        events = (await api.get(f"/api/stations/{station_id}/events")).json()["events"]
    settled = [e for e in events if e["action"] == "TransactionSettled"]
    assert [(e["direction"], e["payload"]["by"], e["payload"]["reason"]) for e in settled] == [
        ("system", "operator", "station swapped, ticket 4711")]
    await flush_all_hosts(csms)
    [(payload,)] = duckdb.sql(
        f"select payload from read_parquet('{lake.bronze_glob(csms.data_root)}', hive_partitioning=true) "
        f"where station_id = '{station_id}' and action = 'TransactionSettled'").fetchall()
    assert json.loads(payload) == {"transaction_id": tx_id, "reason": "station swapped, ticket 4711",
                                   "by": "operator", "meter_stop_wh": 1250,
                                   "ended_at_us": json.loads(payload)["ended_at_us"]}


async def test_closing_answers_404_unknown_409_ended_422_bad_input_and_needs_admin(csms, station_id):
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        started = await station.call(call.StartTransaction(connector_id=1, id_tag="ANY-TAG", meter_start=0,
                                                           timestamp="2026-11-24T09:00:00Z"))
        await station.call(call.StopTransaction(meter_stop=10, timestamp="2026-11-24T09:30:00Z",
                                                transaction_id=started.transaction_id))
    reason = {"reason": "lost stop"}
    async with csms.api() as api:
        assert (await api.post(close_url(station_id, 999_999), json=reason)).status_code == 404
        assert (await api.post(close_url("CP-nobody-here", 1), json=reason)).status_code == 404
        assert (await api.post(close_url(station_id, started.transaction_id), json=reason)).status_code == 409
        for body in ({}, {"reason": ""}, {"reason": "  "}, {"reason": "x" * 501}, {"reason": 7}):
            assert (await api.post(close_url(station_id, started.transaction_id), json=body)).status_code == 422, body
        assert (await api.post(close_url(station_id, "one"), json=reason)).status_code == 422
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30,
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as operator:
        assert (await operator.post(close_url(station_id, started.transaction_id), json=reason)).status_code == 403
