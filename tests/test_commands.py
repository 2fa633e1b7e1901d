"""Operators command stations through the mailbox and get the station's real answer."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from actors import directory, lake
from tests.conftest import VIEWER_TOKEN, OPERATOR_TOKEN, register_station
from tests.polling import wait_until
from tests.stations import TestStation, connected_station
from tests.test_lake_landing import flush_all_hosts

pytestmark = pytest.mark.ray


class CommandedStation(TestStation):
    """Answers the CSMS's commands the way the test sets up, and records what it got."""

    received: list[tuple[str, dict]]
    release: asyncio.Event

    def setup(self) -> None:
        self.received = []
        self.release = asyncio.Event()
        self.release.set()
        self.in_handler = 0
        self.max_in_handler = 0

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        self.received.append(("RemoteStartTransaction", {"id_tag": id_tag, "connector_id": connector_id}))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, type):
        self.received.append(("Reset", {"type": type}))
        raise NotSupportedError(description="this test station cannot reset")

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id, type):
        self.in_handler += 1
        self.max_in_handler = max(self.max_in_handler, self.in_handler)
        self.received.append(("ChangeAvailability", {"connector_id": connector_id}))
        await self.release.wait()
        self.in_handler -= 1
        return call_result.ChangeAvailability(status="Accepted")


async def commanded(csms, station_id):
    station_cm = connected_station(csms.ws_url, station_id, station_class=CommandedStation)
    station = await station_cm.__aenter__()
    station.setup()
    await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
    return station, station_cm


async def test_remote_start_returns_the_station_answer(csms, station_id):
    await register_station(csms, station_id)
    station, cm = await commanded(csms, station_id)
    try:
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/RemoteStartTransaction",
                                      json={"idTag": "DRIVER-9", "connectorId": 1})
        assert response.status_code == 200, response.text
        assert response.json()["response"] == {"status": "Accepted"}
        assert station.received == [("RemoteStartTransaction", {"id_tag": "DRIVER-9", "connector_id": 1})]
    finally:
        await cm.__aexit__(None, None, None)
    await flush_all_hosts(csms)
    import duckdb

    rows = duckdb.sql(
        f"select direction, message_type from read_parquet('{lake.bronze_glob(csms.data_root)}', hive_partitioning=true) "
        f"where station_id = '{station_id}' and message_id = '{response.json()['message_id']}' order by seq"
    ).fetchall()
    assert rows == [("out", "CALL"), ("in", "CALLRESULT")]


async def test_station_callerror_is_502_with_its_code(csms, station_id):
    await register_station(csms, station_id)
    station, cm = await commanded(csms, station_id)
    try:
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/Reset", json={"type": "Soft"})
    finally:
        await cm.__aexit__(None, None, None)
    assert response.status_code == 502
    assert response.json()["detail"]["error_code"] == "NotSupported"


@pytest.mark.parametrize(
    ("action", "payload", "status"),
    [("Reset", {"type": "Sideways"}, 422), ("RemoteStartTransaction", {}, 422),
     ("UnlockConnector", {"connectorId": "one"}, 422), ("FlyToTheMoon", {}, 404)],
)
async def test_invalid_commands_are_refused_before_anything_is_sent(csms, station_id, action, payload, status):
    await register_station(csms, station_id)
    station, cm = await commanded(csms, station_id)
    try:
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/{action}", json=payload)
    finally:
        await cm.__aexit__(None, None, None)
    assert response.status_code == status, response.text
    assert station.received == []


async def test_command_to_unknown_or_disconnected_station(csms, station_id):
    await register_station(csms, station_id)
    async with csms.api() as api:
        unknown = await api.post("/api/stations/nobody-here/commands/ClearCache", json={})
        offline = await api.post(f"/api/stations/{station_id}/commands/ClearCache", json={})
    assert unknown.status_code == 404
    assert offline.status_code == 409


async def test_no_answer_in_time_is_504(csms, station_id):
    await register_station(csms, station_id)
    station, cm = await commanded(csms, station_id)
    station.release.clear()  # the station never answers ChangeAvailability
    try:
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/ChangeAvailability",
                                      json={"connectorId": 0, "type": "Inoperative"})
    finally:
        station.release.set()
        await cm.__aexit__(None, None, None)
    assert response.status_code == 504


async def test_a_second_command_waits_for_the_first_answer(csms, station_id):
    await register_station(csms, station_id)
    station, cm = await commanded(csms, station_id)
    station.release.clear()
    try:
        async with csms.api() as api:
            first = asyncio.create_task(api.post(f"/api/stations/{station_id}/commands/ChangeAvailability",
                                                 json={"connectorId": 1, "type": "Inoperative"}))
            await wait_until(lambda: len(station.received) == 1, 30, "the first command at the station", interval=0.02)
            second = asyncio.create_task(api.post(f"/api/stations/{station_id}/commands/ChangeAvailability",
                                                  json={"connectorId": 2, "type": "Inoperative"}))
            await wait_until(lambda: _pending_is(csms, station_id, 2), 30, "two commands pending", interval=0.02)
            # Both are in the mailbox, yet the station has seen only the first CALL.
            assert len(station.received) == 1  # one CALL in flight per connection (OCPP-J 4.1.1)
            station.release.set()
            responses = await asyncio.gather(first, second)
    finally:
        await cm.__aexit__(None, None, None)
    assert [r.status_code for r in responses] == [200, 200]
    assert [r[1]["connector_id"] for r in station.received] == [1, 2]
    assert station.max_in_handler == 1


async def test_commands_beyond_the_queue_bound_get_429(csms, station_id):
    await register_station(csms, station_id)
    station, cm = await commanded(csms, station_id)
    station.release.clear()
    bound = csms.config.command_queue_bound
    try:
        async with csms.api() as api:
            tasks = [asyncio.create_task(api.post(f"/api/stations/{station_id}/commands/ChangeAvailability",
                                                  json={"connectorId": 1, "type": "Operative"}))
                     for _ in range(bound + 3)]
            await wait_until(lambda: sum(t.done() for t in tasks) >= 3, 30, "three commands answered", interval=0.02)
            station.release.set()
            responses = await asyncio.gather(*tasks)
    finally:
        await cm.__aexit__(None, None, None)
    codes = sorted(r.status_code for r in responses)
    assert codes.count(429) == 3 and codes.count(200) == bound


async def test_commands_reach_stations_on_every_gateway_replica(csms):
    """Stations spread over the gateway replicas; whichever API replica takes the request
    (the session runs two of each) reaches the station through its host."""
    assert csms.config.api_replicas >= 2
    stations = [f"CP-replica-{i}" for i in range(6)]
    for sid in stations:
        await register_station(csms, sid)
    opened = [await commanded(csms, sid) for sid in stations]
    try:
        async with csms.api() as api:
            views = [(await api.get(f"/api/stations/{sid}")).json() for sid in stations]
            replicas = {v["connection_id"].rsplit("-", 1)[0] for v in views}
            assert len(replicas) == csms.config.gateway_replicas >= 2
            for sid in stations:
                response = await api.post(f"/api/stations/{sid}/commands/RemoteStartTransaction", json={"idTag": "X"})
                assert response.status_code == 200, response.text
    finally:
        for _, cm in opened:
            await cm.__aexit__(None, None, None)


@pytest.mark.parametrize(
    ("token", "read", "command", "admin"),
    [("viewer", 200, 403, 403), ("operator", 200, 409, 403)],
)
async def test_roles(csms, station_id, token, read, command, admin):
    await register_station(csms, station_id)
    secret = {"viewer": VIEWER_TOKEN, "operator": OPERATOR_TOKEN}[token]
    async with httpx.AsyncClient(base_url=csms.http_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as api:
        assert (await api.get(f"/api/stations/{station_id}")).status_code == read
        assert (await api.post(f"/api/stations/{station_id}/commands/ClearCache", json={})).status_code == command
        assert (await api.put(f"/api/stations/{station_id}", json={"password": "p" * 16})).status_code == admin
        assert (await api.put("/api/id-tags/ROLE", json={"status": "Accepted"})).status_code == admin


async def _pending_is(csms, station_id: str, expected: int) -> bool:
    """Does the station's host hold `expected` commands for it (in flight and queued)?"""
    hosts = directory.host_names(csms.config.station_hosts)
    host = directory.get_actor(directory.host_for(station_id, hosts))
    return await host.pending_commands.remote(station_id) == expected


class KeyChangingStation(TestStation):
    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        return call_result.ChangeConfiguration(status="Accepted")


async def test_accepted_authorization_key_becomes_the_station_password(csms, station_id):
    import websockets

    from tests.conftest import PASSWORD
    from tests.stations import basic_auth

    new_password = "rotated-key-01234567"  # 20 bytes
    new_key = new_password.encode().hex()  # AuthorizationKey is its hex form (OCPP-J 1.6 6.2.2)
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id, station_class=KeyChangingStation) as station:
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/ChangeConfiguration",
                                      json={"key": "AuthorizationKey", "value": new_key})
            events = (await api.get(f"/api/stations/{station_id}/events", params={"limit": 500})).json()
        assert response.status_code == 200 and response.json()["response"] == {"status": "Accepted"}
    assert new_key not in str(events) and new_password not in str(events)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{csms.ws_url}/{station_id}", subprotocols=["ocpp1.6"],
                                      additional_headers=basic_auth(station_id, PASSWORD), open_timeout=30):
            pass
    assert refused.value.response.status_code == 401
    async with connected_station(csms.ws_url, station_id, password=new_password) as station:
        await station.call(call.Heartbeat())
