"""Unknown station ids that knock are recorded for operators (issue 16 item 5)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from urllib.parse import urlsplit

import httpx
import pytest

from actors.unknown_stations import UnknownStations
from tests.conftest import PASSWORD, VIEWER_TOKEN, register_station

pytestmark = pytest.mark.ray


def parse(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


async def knock(ws_url: str, station_id: str, subprotocols: str = "ocpp1.6",
                password: str = PASSWORD) -> tuple[int, str]:
    """A websocket upgrade sent by hand: (HTTP status, our own host:port as the server should see it)."""
    url = urlsplit(ws_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    local = "%s:%d" % writer.get_extra_info("sockname")[:2]
    auth = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    writer.write((f"GET {url.path}/{station_id} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocols}\r\n"
                  f"Authorization: Basic {auth}\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return int(status_line.split()[1]), local


async def unknown_listed(csms) -> dict[str, dict]:
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30,
                                 headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}) as viewer:
        response = await viewer.get("/api/unknown-stations")
    assert response.status_code == 200, response.text
    return {s["station_id"]: s for s in response.json()["stations"]}


async def test_an_unknown_station_is_refused_404_and_shown_with_its_attempts_address_and_subprotocols(csms, station_id):
    first, _ = await knock(csms.ws_url, station_id, "ocpp1.6")
    second, local = await knock(csms.ws_url, station_id, "ocpp2.0.1, ocpp1.6")
    assert (first, second) == (404, 404)  # OCPP-J 1.6 section 3.1.1, the default
    seen = (await unknown_listed(csms))[station_id]
    assert seen["attempts"] == 2
    assert seen["last_seen"].endswith("Z") and parse(seen["first_seen"]) < parse(seen["last_seen"])
    # The station's own address, through the balancer, and what the last attempt offered.
    assert seen["source_address"] == local
    assert seen["subprotocols"] == ["ocpp2.0.1", "ocpp1.6"]


async def test_a_station_registered_after_knocking_is_no_longer_unknown(csms, station_id):
    assert (await knock(csms.ws_url, station_id))[0] == 404
    assert station_id in await unknown_listed(csms)
    await register_station(csms, station_id)
    assert station_id not in await unknown_listed(csms)
    assert (await knock(csms.ws_url, station_id))[0] == 101


def test_unknown_ids_are_bounded_and_the_one_seen_longest_ago_goes_first():
    table = UnknownStations(capacity=3)
    for k, station_id in enumerate(["A", "B", "C", "A", "D"]):
        table.record(station_id, "10.0.0.1:1000", ("ocpp1.6",), at_us=k)
    listed = table.listed()
    assert [s.station_id for s in listed] == ["D", "A", "C"]  # B was seen longest ago
    assert listed[1].attempts == 2 and listed[1].first_seen < listed[1].last_seen
