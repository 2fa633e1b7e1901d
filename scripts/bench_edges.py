"""Benchmark of the edges: what TLS costs per connection and per frame, and whether calm stations
slow down while others flood.

Starts a CSMS of its own on a local Ray (TLS on one port with a throwaway CA, plain on
another), then prints:
- connects/s (handshake + BootNotification) and Heartbeat round trips, plain vs TLS;
- calm stations' Heartbeat round trips alone, then with flooders (each pipelining Heartbeats
  until the rate limit closes it with 1008, then reconnecting).

    .venv/bin/python -m scripts.bench_edges --calm 50 --flooders 5 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

TOKEN = "bench-admin-token-0123456789"
PASSWORD = "bench-password-0123456"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _basic(station_id: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _connect(url: str, station_id: str, context: ssl.SSLContext | None):
    ws = await websockets.connect(f"{url}/{station_id}", subprotocols=["ocpp1.6"], ssl=context,
                                  additional_headers=_basic(station_id), open_timeout=60, max_size=None)
    await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    await ws.recv()
    return ws


async def _heartbeats(ws, until: float, rtts: list[float], pace_s: float) -> None:
    n = 0
    while time.monotonic() < until:
        started = time.perf_counter()
        await ws.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
        await ws.recv()
        rtts.append(time.perf_counter() - started)
        n += 1
        await asyncio.sleep(pace_s)


async def _flood(url: str, station_id: str, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            ws = await _connect(url, station_id, None)
        except websockets.InvalidStatus as refused:
            counts[f"refused {refused.response.status_code}"] = counts.get(f"refused {refused.response.status_code}", 0) + 1
            continue
        counts["connections"] += 1

        async def send() -> None:
            n = 0
            while True:
                await ws.send(json.dumps([2, f"f{n}", "Heartbeat", {}]))
                n += 1
                if n % 50 == 0:
                    await asyncio.sleep(0)

        sender = asyncio.create_task(send())
        try:
            while time.monotonic() < until:
                reply = json.loads(await ws.recv())
                counts["refused" if reply[0] == 4 else "answered"] += 1
        except websockets.ConnectionClosed as closed:
            counts[f"closed {closed.rcvd.code if closed.rcvd else None}"] = counts.get(
                f"closed {closed.rcvd.code if closed.rcvd else None}", 0) + 1
        finally:
            sender.cancel()
            await ws.close()


async def _flood_all(url: str, stations: list[str], seconds: float) -> dict[str, int]:
    counts = {"connections": 0, "answered": 0, "refused": 0}
    until = time.monotonic() + seconds
    await asyncio.gather(*(_flood(url, s, until, counts) for s in stations))
    return counts


async def _run(args, plain_url: str, tls_url: str, http_url: str, context: ssl.SSLContext) -> None:
    calm = [f"CALM-{k}-{uuid.uuid4().hex[:6]}" for k in range(args.calm)]
    flooders = [f"FLOOD-{k}-{uuid.uuid4().hex[:6]}" for k in range(args.flooders)]
    async with httpx.AsyncClient(base_url=http_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
        for station_id in calm + flooders:
            (await api.put(f"/api/stations/{station_id}", json={"password": PASSWORD})).raise_for_status()

    for label, url, ctx in (("plain", plain_url, None), ("TLS", tls_url, context)):
        started = time.perf_counter()
        sockets = []
        for batch in range(0, len(calm), 10):
            sockets += await asyncio.gather(*(_connect(url, s, ctx) for s in calm[batch:batch + 10]))
        connect_s = time.perf_counter() - started
        rtts: list[float] = []
        until = time.monotonic() + args.seconds / 2
        await asyncio.gather(*(_heartbeats(ws, until, rtts, 0.05) for ws in sockets))
        await asyncio.gather(*(ws.close() for ws in sockets))
        print(f"{label:>5}: {len(calm) / connect_s:6.1f} connects/s (handshake + boot, 10 at a time); "
              f"Heartbeat RTT p50 {_pct(rtts, 0.5):.1f} ms, p99 {_pct(rtts, 0.99):.1f} ms over {len(rtts)} calls")

    for label, flooding in (("calm alone", False), ("calm + flood", True)):
        sockets = [await _connect(plain_url, s, None) for s in calm]
        rtts = []
        counts = {"connections": 0, "answered": 0, "refused": 0}
        until = time.monotonic() + args.seconds
        tasks = [_heartbeats(ws, until, rtts, 0.05) for ws in sockets]
        flood = None
        if flooding:
            # Another process, so the flood's own CPU does not slow this one's calm stations.
            flood = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "scripts.bench_edges", "--flood", plain_url, "--seconds", str(args.seconds),
                *flooders, stdout=asyncio.subprocess.PIPE)
        await asyncio.gather(*tasks)
        await asyncio.gather(*(ws.close() for ws in sockets))
        if flood is not None:
            counts = json.loads((await flood.communicate())[0])
        extra = f"; flooders: {counts}" if flooding else ""
        print(f"{label:>13}: Heartbeat RTT p50 {_pct(rtts, 0.5):.1f} ms, p99 {_pct(rtts, 0.99):.1f} ms, "
              f"mean {statistics.fmean(rtts) * 1000:.1f} ms over {len(rtts)} calls{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calm", type=int, default=50)
    parser.add_argument("--flooders", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood", metavar="WS_URL", help="(internal) flood as the given stations, print counts")
    parser.add_argument("stations", nargs="*", help="(internal) the flooding stations' ids")
    args = parser.parse_args()
    if args.flood:
        print(json.dumps(asyncio.run(_flood_all(args.flood, args.stations, args.seconds))))
        return

    import ray

    from actors.config import Config
    from serve_app import app
    from tests.pki import TestPki

    work = Path(tempfile.mkdtemp(prefix="csms-bench-edges-"))
    pki = TestPki.create(work)
    tls_port, plain_port = _free_port(), _free_port()
    config = app.resolve(Config(
        data_root=str(work / "data"), port=tls_port, plain_port=plain_port, serve_proxy_port=_free_port(),
        tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key), tls_client_ca_file=str(pki.ca.cert_file),
        station_hosts=2, api_tokens=[TOKEN],
    ))
    app.prepare_environment(config)
    ray.init(address="local", namespace="csms", include_dashboard=False, logging_level="WARNING")
    try:
        app.start_backend(config)
        app.deploy(config)
        print(f"rate limit {config.station_rate_per_s:g}/s, burst {config.station_rate_burst}, "
              f"strikes {config.station_rate_strikes}; {args.calm} calm stations, {args.flooders} flooders")
        asyncio.run(_run(args, f"ws://127.0.0.1:{plain_port}/ocpp", f"wss://127.0.0.1:{tls_port}/ocpp",
                         f"http://127.0.0.1:{plain_port}", pki.client_context()))
    finally:
        app.stop(config)
        ray.shutdown()


if __name__ == "__main__":
    main()
