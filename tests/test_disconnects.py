"""Websocket keepalive and disconnects (issue 16 item 9): the CSMS side's ping settings are in
force, every disconnect is recorded with its real cause and logged once.

Raw sockets speak the upgrade and the few frames needed, so a test can stay silent on a ping.
Short keepalive settings get a gateway application of their own (route /ocpp-keepalive) on the
session's Ray, behind the session's balancer, so no other test runs with them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
import time
from pathlib import Path

import msgspec
import pytest
import websockets

from tests.conftest import PASSWORD, register_station
from tests.polling import wait_until

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


@pytest.fixture(scope="module")
async def keepalive_path(csms):
    """A gateway application pinging every second and dropping a socket whose pong is 1 s late."""
    from ray import serve

    from serve_app import app

    config = msgspec.structs.replace(csms.config, ws_ping_interval_s=PING_S, ws_ping_timeout_s=PING_S,
                                     gateway_replicas=1)
    serve.run(app.application(config, "ocpp"), name="ocpp-keepalive", route_prefix=KEEPALIVE_PREFIX)
    from actors import directory

    async def routed():
        targets = await directory.get_actor(app.balancer_names(config)[0]).targets.remote()
        return targets.get(KEEPALIVE_PREFIX)

    await wait_until(routed, 30, "the balancer to route /ocpp-keepalive")
    yield KEEPALIVE_PREFIX
    serve.delete("ocpp-keepalive")


@pytest.mark.xfail(reason="after merging api + edges the keepalive replica logged its settings not in force (ocpp-keepalive app, 2026-12-02 suite run); issue 16 item 9 follow-up", strict=False)
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
    import ray

    logs_dir = Path(ray._private.worker._global_node.get_logs_dir_path())
    lines = []
    for path in logs_dir.glob("worker-*.err"):
        for raw in path.read_text(errors="replace").splitlines():
            if '"station_id"' not in raw or not raw.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                if line.get("station_id") in station_ids:
                    lines.append(line)
    return lines


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
