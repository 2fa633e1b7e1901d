"""Operators command OCPP 2.0.1 stations through the real gateway and get the station's real answer.

The station is the `ocpp` library's v201 ChargePoint (tests/commanded_201.py), which checks
every CSMS CALL against the 2.0.1 schemas; the operator API is the judge. The outcome codes are
the 1.6 ones (README, operator API), judged against the station's own version.
"""

from __future__ import annotations

import asyncio

import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16

from actors import directory

from tests.commanded_201 import answered, command, online_201
from tests.conftest import register_station
from tests.polling import wait_until
from tests.stations import TestStation, connected_station

pytestmark = pytest.mark.ray


class ResettingStation16(TestStation):
    """A 1.6 station that refuses to reset and remembers how it was asked."""

    resets: list[str]

    @on("Reset")
    async def on_reset(self, type):
        self.resets = [*getattr(self, "resets", []), type]
        return result16.Reset(status="Rejected")


async def test_clear_cache_returns_the_station_answer(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ClearCache": {"status": "Rejected"}}) as station:
        assert await answered(csms, station_id, "ClearCache") == {"status": "Rejected"}
        assert station.got("ClearCache") == [{}]


async def test_a_registered_station_not_connected_is_409(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        pass  # it spoke 2.0.1, then left
    response = await command(csms, station_id, "ClearCache")
    assert response.status_code == 409, response.text


@pytest.mark.parametrize(("action", "payload"), [
    ("Reset", {"type": "Hard"}),  # 1.6's value: 2.0.1 says Immediate or OnIdle
    ("ClearCache", {"unknown": 1}),  # additionalProperties false
    ("RequestStartTransaction", {"idToken": {"idToken": "T", "type": "ISO14443"}}),  # remoteStartId missing
    ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": "one"}}),
])
async def test_a_payload_off_the_2_0_1_schema_is_422_and_nothing_is_sent(csms, station_id, action, payload):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await command(csms, station_id, action, payload)
        assert response.status_code == 422, response.text
        assert f"invalid {action} payload" in response.json()["detail"]
        assert station.received == []


@pytest.mark.parametrize(("action", "instead"), [
    ("RemoteStartTransaction", "RequestStartTransaction"),
    ("RemoteStopTransaction", "RequestStopTransaction"),
    ("ChangeConfiguration", "SetVariables"),
    ("GetConfiguration", "GetVariables"),
])
async def test_a_1_6_action_to_a_2_0_1_station_is_422_naming_the_one_to_use(csms, station_id, action, instead):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await command(csms, station_id, action, {})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "OCPP 1.6" in detail and "OCPP 2.0.1" in detail and f"use {instead}" in detail
        assert station.received == []


async def test_a_2_0_1_action_to_a_1_6_station_is_422_naming_the_one_to_use(csms, station_id):
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id, station_class=TestStation) as station:
        await station.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        response = await command(csms, station_id, "RequestStartTransaction",
                                 {"idToken": {"idToken": "T", "type": "ISO14443"}, "remoteStartId": 1})
    assert response.status_code == 422, response.text
    assert "use RemoteStartTransaction" in response.json()["detail"]


async def test_an_action_of_neither_version_is_404(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        assert (await command(csms, station_id, "FlyToTheMoon")).status_code == 404
        # a station-initiated action is no command either
        assert (await command(csms, station_id, "Heartbeat")).status_code == 404
        assert station.received == []
    assert (await command(csms, "nobody-here", "ClearCache")).status_code == 404


async def test_a_1_6_and_a_2_0_1_station_are_commanded_side_by_side(csms, station_id):
    other = f"{station_id}-16"
    await register_station(csms, station_id)
    await register_station(csms, other)
    async with online_201(csms, station_id) as station201, \
            connected_station(csms.ws_url, other, station_class=ResettingStation16) as station16:
        await station16.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        r201, r16 = await asyncio.gather(
            command(csms, station_id, "Reset", {"type": "OnIdle", "evseId": 1}),
            command(csms, other, "Reset", {"type": "Soft"}))
        assert (r201.status_code, r201.json()["response"]) == (200, {"status": "Accepted"})
        assert (r16.status_code, r16.json()["response"]) == (200, {"status": "Rejected"})
        assert station201.got("Reset") == [{"type": "OnIdle", "evse_id": 1}]
        assert station16.resets == ["Soft"]
        # each one's version decides what is valid
        assert (await command(csms, station_id, "Reset", {"type": "Soft"})).status_code == 422
        assert (await command(csms, other, "Reset", {"type": "OnIdle"})).status_code == 422


async def test_one_call_in_flight_the_second_waits_for_the_first_answer(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        station.silent.add("UnlockConnector")
        first = asyncio.create_task(command(csms, station_id, "UnlockConnector", {"evseId": 1, "connectorId": 1}))
        await wait_until(lambda: len(station.received) == 1, 30, "the first command at the station", interval=0.02)
        second = asyncio.create_task(command(csms, station_id, "ClearCache"))
        await wait_until(lambda: _pending_is(csms, station_id, 2), 30, "both commands in the mailbox", interval=0.02)
        assert [a for a, _ in station.received] == ["UnlockConnector"]
        station.released.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
        assert [a for a, _ in station.received] == ["UnlockConnector", "ClearCache"]
        assert station.max_in_handler == 1


async def _pending_is(csms, station_id: str, expected: int) -> bool:
    """Does the station's host hold `expected` commands for it (in flight and queued)?"""
    host = directory.get_actor(directory.host_for(station_id, directory.host_names(csms.config.station_hosts)))
    return await host.pending_commands.remote(station_id) == expected
