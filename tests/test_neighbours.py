"""Through the real gateway: one station's bad frames never cost its neighbours, the version shows, commands keep their id."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from actors import directory
from tests.conftest import register_station
from tests.stations import raw_socket

pytestmark = pytest.mark.ray

BOOT = [2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


def two_on_one_host(csms) -> tuple[str, str]:
    hosts = directory.host_names(csms.config.station_hosts)
    first = f"CP-nb-{uuid.uuid4().hex[:8]}"
    while True:
        second = f"CP-nb-{uuid.uuid4().hex[:8]}"
        if directory.host_for(second, hosts) == directory.host_for(first, hosts):
            return first, second


async def test_a_non_ascii_action_gets_not_implemented_and_never_breaks_a_neighbour(csms):
    # Issue 16, item 1: on main this CALL raised in StationHost.process (UnicodeEncodeError
    # from the metric tag) and failed its whole batch, closing the neighbours' sockets.
    bad_id, good_id = two_on_one_host(csms)
    for station_id in (bad_id, good_id):
        await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, bad_id) as bad, raw_socket(csms.ws_url, good_id) as good:
        for ws in (bad, good):
            await ws.send(json.dumps(BOOT))
            assert json.loads(await ws.recv())[2]["status"] == "Accepted"

        async def hostile() -> list:
            answers = []
            for n in range(30):
                await bad.send(json.dumps([2, f"u{n}", "Hëartbeat", {}], ensure_ascii=False))
                answers.append(json.loads(await asyncio.wait_for(bad.recv(), 15)))
            return answers

        async def neighbour() -> list:
            answers = []
            for n in range(30):
                await good.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
                answers.append(json.loads(await asyncio.wait_for(good.recv(), 15)))
            return answers

        bad_answers, good_answers = await asyncio.gather(hostile(), neighbour())
    assert [a[:3] for a in bad_answers] == [[4, f"u{n}", "NotImplemented"] for n in range(30)]
    assert [a[:2] for a in good_answers] == [[3, f"h{n}"] for n in range(30)]


async def test_the_api_shows_the_version_each_station_speaks(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps(BOOT))
        await ws.recv()
        async with csms.api() as api:
            one = (await api.get(f"/api/stations/{station_id}")).json()
            listed = (await api.get("/api/stations")).json()["stations"]
    assert one["ocpp_version"] == "1.6"
    assert [s["ocpp_version"] for s in listed if s["station_id"] == station_id] == ["1.6"]


async def test_a_station_that_disconnects_before_answering_gets_409_with_the_message_id(csms, station_id):
    # Issue 16, item 7: the CALL went out under an id; the operator must be able to find it.
    await register_station(csms, station_id)
    async with csms.api() as api:
        async with raw_socket(csms.ws_url, station_id) as ws:
            await ws.send(json.dumps(BOOT))
            await ws.recv()
            request = asyncio.ensure_future(api.post(f"/api/stations/{station_id}/commands/ClearCache", json={}))
            sent = json.loads(await asyncio.wait_for(ws.recv(), 15))  # the CALL; we leave without answering
        response = await request
    assert response.status_code == 409, response.text
    assert response.json()["detail"]["message_id"] == sent[1]
