"""Websocket keepalive and disconnects (issue 16 item 9): the CSMS side's ping settings are in
force, every disconnect is recorded with its real cause and logged once.

Raw sockets speak the upgrade and the few frames needed, so a test can stay silent on a ping.
Short keepalive settings get a gateway application of their own (route /ocpp-keepalive) on the
session's Ray, behind the session's balancers, so no other test runs with them. The settings
apply on the gateway replicas' own servers only, so the balancers must never hand a station to
Serve's proxy: tested with an application whose replica is held in its constructor.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import time

import httpx
import msgspec
import pytest
import ray
import websockets
from ray import serve

from tests.conftest import PASSWORD, register_station
from tests.polling import wait_until
from tests.worker_logs import json_lines

pytestmark = pytest.mark.ray

PING, PONG, CLOSE = 0x9, 0xA, 0x8
KEEPALIVE_PREFIX = "/ocpp-keepalive"
PING_S = 1.0


def plain_port(csms) -> int:
    return int(csms.http_url.rsplit(":", 1)[1])


@contextlib.asynccontextmanager
async def upgraded(port: int, path: str, station_id: str):
    """A raw socket through the websocket handshake as `station_id`: (reader, writer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    writer.write((f"GET {path}/{station_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {auth}\r\n"
                  "\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        yield reader, writer
    finally:
        writer.transport.abort()


async def read_frame(reader: asyncio.StreamReader, timeout: float) -> tuple[int, bytes]:
    """(opcode, payload) of the next server frame (servers do not mask; payloads here are short)."""
    first, second = await asyncio.wait_for(reader.readexactly(2), timeout)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    return first & 0x0F, await reader.readexactly(length)


def masked(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def disconnects_of(csms, station_id: str) -> list[dict]:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}/events", params={"limit": 50})
        assert response.status_code == 200, response.text
        return [e["payload"] for e in response.json()["events"] if e["action"] == "Disconnected"]


async def recorded_disconnect(csms, station_id: str) -> dict:
    async def one():
        found = await disconnects_of(csms, station_id)
        return found[0] if found else None

    return await wait_until(one, 30, f"{station_id}'s disconnect to be recorded")


async def balancer_routes(csms, prefix: str) -> list[list[tuple[str, int]] | None]:
    """What each balancer of the session routes `prefix` to (None: that balancer does not know it)."""
    from actors import directory
    from serve_app import app

    return [(await directory.get_actor(name).targets.remote()).get(prefix) for name in app.balancer_names(csms.config)]


async def known_to_every_balancer(csms, prefix: str):
    routes = await balancer_routes(csms, prefix)
    return routes if None not in routes else None


async def routed_by_every_balancer(csms, prefix: str):
    routes = await balancer_routes(csms, prefix)
    return routes if all(routes) else None


@pytest.fixture(scope="module")
async def keepalive_path(csms):
    """A gateway application pinging every second and dropping a socket whose pong is 1 s late."""
    from serve_app import app

    config = msgspec.structs.replace(csms.config, ws_ping_interval_s=PING_S, ws_ping_timeout_s=PING_S,
                                     gateway_replicas=1)
    serve.run(app.application(config, "ocpp"), name="ocpp-keepalive", route_prefix=KEEPALIVE_PREFIX)
    # Any balancer may take the test's connection.
    await wait_until(lambda: routed_by_every_balancer(csms, KEEPALIVE_PREFIX), 30,
                     "every balancer to route /ocpp-keepalive")
    yield KEEPALIVE_PREFIX
    serve.delete("ocpp-keepalive")


async def test_a_station_that_stops_answering_pings_is_closed_1011_and_the_host_records_why(
        csms, keepalive_path, station_id):
    await register_station(csms, station_id)
    async with upgraded(plain_port(csms), keepalive_path, station_id) as (reader, writer):
        # The configured interval is in force (uvicorn's default would ping after 20 s): answered
        # pings keep the socket open, ping after ping.
        for _ in range(2):
            opcode, payload = await read_frame(reader, PING_S + 5)
            assert opcode == PING
            writer.write(masked(PONG, payload))
            await writer.drain()
        opcode, _ = await read_frame(reader, PING_S + 5)
        assert opcode == PING
        started = time.monotonic()  # and now silence
        opcode, payload = await read_frame(reader, PING_S + 5)
        assert opcode == CLOSE
        assert struct.unpack("!H", payload[:2])[0] == 1011 and payload[2:] == b"keepalive ping timeout"
        assert time.monotonic() - started < PING_S + 3
    disconnect = await recorded_disconnect(csms, station_id)
    assert (disconnect["close_code"], disconnect["close_reason"]) == (1011, "keepalive ping timeout")


@ray.remote(num_cpus=0)
class Gate:
    """Holds a replica's constructor until the test opens it."""

    def __init__(self) -> None:
        self._opened = asyncio.Event()

    async def wait(self) -> None:
        await self._opened.wait()

    def open(self) -> None:
        self._opened.set()


@serve.deployment(name="StartsThroughGate", ray_actor_options={"num_cpus": 0})
class StartsThroughGate:
    async def __init__(self, gate) -> None:
        await gate.wait.remote()

    async def __call__(self, request) -> str:
        return "started"


async def test_an_application_without_a_running_replica_gets_503_not_serves_proxy(csms):
    """The keepalive test once ran without its settings: the balancer had routed it to Serve's
    proxy, which the controller lists for an application whose replica is not running yet."""
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE, SERVE_PROXY_NAME

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    gate = Gate.remote()
    serve.run_many([serve.RunTarget(StartsThroughGate.bind(gate), name="gated", route_prefix="/gated")],
                   wait_for_applications_running=False)
    try:
        async def proxy_listed() -> bool:
            groups = await controller.get_target_groups.remote("gated")
            return any(t.name.startswith(SERVE_PROXY_NAME) for g in groups for t in g.targets)

        await wait_until(proxy_listed, 30, "Serve to list its proxy for the starting application")
        routes = await wait_until(lambda: known_to_every_balancer(csms, "/gated"), 30,
                                  "every balancer to know /gated")
        assert routes == [[]] * len(routes)  # known, and no address: not the proxy's
        async with httpx.AsyncClient(base_url=csms.http_url, timeout=10) as client:
            assert (await client.get("/gated/x")).status_code == 503  # neither the proxy nor the API's 404

            await gate.open.remote()
            routes = await wait_until(lambda: routed_by_every_balancer(csms, "/gated"), 60,
                                      "every balancer to route /gated to its replica")
            assert all(port != csms.config.serve_proxy_port for addresses in routes for _, port in addresses)
            response = await client.get("/gated/x")
            assert (response.status_code, response.text) == (200, "started")
    finally:
        serve.delete("gated")
        ray.kill(gate)


async def test_a_socket_that_vanishes_without_a_close_frame_is_recorded_as_1006(csms, station_id):
    await register_station(csms, station_id)
    async with upgraded(plain_port(csms), "/ocpp", station_id):
        pass  # aborted: a reset, no close frame
    disconnect = await recorded_disconnect(csms, station_id)
    assert disconnect["close_code"] == 1006


async def test_a_station_closing_with_a_code_is_recorded_with_that_code_and_reason(csms, station_id):
    await register_station(csms, station_id)
    async with upgraded(plain_port(csms), "/ocpp", station_id) as (reader, writer):
        writer.write(masked(CLOSE, struct.pack("!H", 4001) + b"rebooting"))
        await writer.drain()
        opcode, payload = await read_frame(reader, 10)
        assert opcode == CLOSE and struct.unpack("!H", payload[:2])[0] == 4001  # the server's echo
    disconnect = await recorded_disconnect(csms, station_id)
    assert (disconnect["close_code"], disconnect["close_reason"]) == (4001, "rebooting")


def gateway_log_lines(station_ids: set[str]) -> list[dict]:
    """csms log lines about these stations in every Ray worker's stderr of this session."""
    return [line for line in json_lines() if line.get("station_id") in station_ids]


async def test_every_connect_and_disconnect_is_logged_once_in_the_workers_stderr(csms):
    ids = [f"CP-log-{k}-{os.urandom(3).hex()}" for k in range(8)]
    for station_id in ids:
        await register_station(csms, station_id)
    port = plain_port(csms)
    for k, station_id in enumerate(ids):
        if k % 2:  # a clean close by the station
            async with websockets.connect(f"{csms.ws_url}/{station_id}", subprotocols=["ocpp1.6"],
                                          additional_headers={"Authorization": "Basic " + base64.b64encode(
                                              f"{station_id}:{PASSWORD}".encode()).decode()}, open_timeout=30):
                pass
        else:  # the station vanishes
            async with upgraded(port, "/ocpp", station_id):
                pass

    async def each_once():
        lines = gateway_log_lines(set(ids))
        connected = sorted(line["station_id"] for line in lines if line["msg"] == "station connected")
        disconnected = sorted(line["station_id"] for line in lines if line["msg"] == "station disconnected")
        return connected == sorted(ids) and disconnected == sorted(ids)

    await wait_until(each_once, 30, "one connected and one disconnected line per station")
