"""Stale transactions (issue 16, item 3) through the real gateway and the operator API.

A station (the `ocpp` library's 1.6 ChargePoint over a real websocket) whose StopTransaction
never came may charge again; the old transaction is kept, shown as settled by the CSMS with
its estimated meter stop; a late StopTransaction wins.
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from tests.conftest import put_id_tag, register_station
from tests.stations import connected_station

pytestmark = pytest.mark.ray


async def boot(station) -> None:
    result = await station.call(call.BootNotification(charge_point_model="M1", charge_point_vendor="Acme"))
    assert result.status == "Accepted"


async def transactions(csms, station_id: str) -> dict[int, dict]:
    async with csms.api() as api:
        response = await api.get("/api/transactions", params={"station_id": station_id})
    assert response.status_code == 200, response.text
    return {t["transaction_id"]: t for t in response.json()["transactions"]}


async def test_a_tag_whose_stop_never_came_charges_again_and_the_old_transaction_is_settled(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "DRIVER-STALE")
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        first = await station.call(call.StartTransaction(connector_id=1, id_tag="DRIVER-STALE", meter_start=1000,
                                                         timestamp="2026-11-24T10:00:00Z"))
        await station.call(call.MeterValues(connector_id=1, transaction_id=first.transaction_id, meter_value=[
            {"timestamp": "2026-11-24T10:10:00Z", "sampledValue": [{"value": "1900", "unit": "Wh"}]}]))
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
