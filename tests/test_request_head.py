"""Oversized and slow request heads at the balancer (issue 16 item 6), with raw sockets.

Through the session CSMS's balancer (plain port, default limits) for sizes; through a second
real StationBalancer on the same Ray, with a short deadline and a small per-address cap, for time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec
import pytest

from serve_app import request_head
from tests.conftest import free_port
from tests.polling import wait_until

UPGRADE = ("GET /ocpp/{station} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: ocpp1.6\r\n")
API = "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def plain_port(csms) -> int:
    return int(csms.http_url.rsplit(":", 1)[1])


async def status_of(port: int, *writes: bytes, timeout: float = 5.0) -> bytes:
    """The status line the server answers after `writes` (sent one by one), or b"" if it closes first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for data in writes:
            writer.write(data)
            await writer.drain()
        return (await asyncio.wait_for(reader.readline(), timeout)).strip()
    finally:
        writer.close()


# --- through the session CSMS: size ---------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.parametrize("kilobytes", [9, 17, 64])
async def test_upgrade_with_a_large_header_gets_431_at_once(csms, station_id, kilobytes):
    head = UPGRADE.format(station=station_id) + "X-Big: " + "a" * (kilobytes * 1024) + "\r\n\r\n"
    started = time.monotonic()
    assert await status_of(plain_port(csms), head.encode()) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert time.monotonic() - started < 3


@pytest.mark.ray
async def test_api_request_with_a_64_kb_header_in_one_write_gets_431(csms):
    head = API + "X-Big: " + "a" * 65536 + "\r\n\r\n"
    assert await status_of(plain_port(csms), head.encode()) == b"HTTP/1.1 431 Request Header Fields Too Large"


@pytest.mark.ray
async def test_api_request_with_a_20_kb_head_in_two_writes_gets_431(csms):
    head = (API + "X-Big: " + "a" * 20480 + "\r\n\r\n").encode()
    assert await status_of(plain_port(csms), head[:10240], head[10240:]) == (
        b"HTTP/1.1 431 Request Header Fields Too Large")


@pytest.mark.ray
async def test_small_head_in_several_writes_is_served(csms):
    head = (API + "\r\n").encode()
    assert await status_of(plain_port(csms), head[:7], head[7:20], head[20:]) == b"HTTP/1.1 200 OK"


@pytest.mark.ray
async def test_too_many_header_lines_get_431(csms, station_id):
    head = UPGRADE.format(station=station_id) + "".join(f"X-{k}: 1\r\n" for k in range(150)) + "\r\n"
    assert await status_of(plain_port(csms), head.encode()) == b"HTTP/1.1 431 Request Header Fields Too Large"


# --- a balancer of its own: time and the per-address cap --------------------------------------------


DEADLINE_S = 2.0


@pytest.fixture
async def strict_balancer(csms):
    """A second real balancer in front of the same replicas: 2 s head deadline, 3 slow heads per address."""
    import ray

    from serve_app.balancer import StationBalancer

    config = msgspec.structs.replace(
        csms.config, port=free_port(), plain_port=0, tls_cert_file="", tls_key_file="", tls_client_ca_file="",
        request_head_timeout_s=DEADLINE_S, slow_handshake_grace_s=0.5, slow_handshakes_per_address=3)
    balancer = ray.remote(StationBalancer).options(num_cpus=0).remote(config)
    port = await balancer.ready.remote()

    async def routes():
        targets = await balancer.targets.remote()
        return targets.get("/") and targets.get("/ocpp")

    await wait_until(routes, 30, "the strict balancer to route to the replicas")
    yield balancer, port
    ray.kill(balancer)


@pytest.mark.ray
async def test_head_trickled_one_byte_per_second_gets_408_at_the_deadline(strict_balancer):
    _, port = strict_balancer
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()

    async def trickle():
        for byte in API.encode():
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)  # the slow client under test, not synchronisation

    sender = asyncio.create_task(trickle())
    try:
        status = (await asyncio.wait_for(reader.readline(), DEADLINE_S + 5)).strip()
        elapsed = time.monotonic() - started
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert DEADLINE_S - 0.2 <= elapsed < DEADLINE_S + 2


@pytest.mark.ray
async def test_an_address_holding_too_many_slow_heads_is_refused_with_429_until_they_end(strict_balancer):
    balancer, port = strict_balancer
    slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    try:
        for _, writer in slow:
            writer.write(API.encode()[:10])  # a head begun and never finished
            await writer.drain()

        async def all_slow():
            return await balancer.slow_handshakes_from.remote("127.0.0.1") == 3

        await wait_until(all_slow, 10, "three overdue heads counted")
        started = time.monotonic()
        assert await status_of(port, timeout=3) == b"HTTP/1.1 429 Too Many Requests"
        assert time.monotonic() - started < 2
        # The slow ones end at their deadline; then the address is admitted again.
        for reader, _ in slow:
            assert (await asyncio.wait_for(reader.readline(), DEADLINE_S + 5)).strip() == b"HTTP/1.1 408 Request Timeout"

        async def none_slow():
            return await balancer.slow_handshakes_from.remote("127.0.0.1") == 0

        await wait_until(none_slow, 10, "the overdue heads to be forgotten")
        assert await status_of(port, (API + "\r\n").encode()) == b"HTTP/1.1 200 OK"
    finally:
        for _, writer in slow:
            writer.close()


# --- the pure rules ---------------------------------------------------------------------------------


def test_head_within_the_limit_is_accepted_complete_or_not():
    assert request_head.head_refusal(b"GET / HTTP/1.1\r\nHost: x\r\n", 8192) is None
    assert request_head.head_refusal(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"b" * 100_000, 8192) is None


def test_head_over_the_limit_is_431_whether_complete_or_not():
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * 9000
    assert request_head.head_refusal(big, 8192) == request_head.TOO_LARGE
    assert request_head.head_refusal(big + b"\r\n\r\n", 8192) == request_head.TOO_LARGE


def test_more_header_lines_than_a_replica_parses_is_431():
    lines = b"".join(b"X-%d: 1\r\n" % k for k in range(request_head.MAX_HEADER_LINES + 1))
    assert request_head.head_refusal(b"GET / HTTP/1.1\r\n" + lines + b"\r\n", 1 << 20) == request_head.TOO_LARGE
    fewer = b"".join(b"X-%d: 1\r\n" % k for k in range(request_head.MAX_HEADER_LINES))
    assert request_head.head_refusal(b"GET / HTTP/1.1\r\n" + fewer + b"\r\n", 1 << 20) is None


def test_slow_handshakes_admit_up_to_the_limit_per_address():
    slow = request_head.SlowHandshakes(2)
    slow.became_slow("10.0.0.1")
    slow.became_slow("10.0.0.1")
    assert not slow.admits("10.0.0.1") and slow.admits("10.0.0.2")
    slow.finished("10.0.0.1")
    assert slow.admits("10.0.0.1") and slow.count("10.0.0.1") == 1


def test_zero_limit_admits_everyone():
    slow = request_head.SlowHandshakes(0)
    for _ in range(1000):
        slow.became_slow("10.0.0.1")
    assert slow.admits("10.0.0.1")
