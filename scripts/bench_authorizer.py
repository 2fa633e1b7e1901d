"""Benchmark: do other stations wait while some stations' id tags wait on a slow external authorizer?

Starts its own local Ray with the CSMS (data in a temporary folder, free ports) and a local
HTTP authorizer in this process, then runs three scenarios of --duration seconds each, with
--fast-stations sending Heartbeats and (in the last two) --roaming-stations sending Authorize
for tags only the downstream knows, every station in a closed loop (next CALL after the answer):

1. no roaming traffic (the reference);
2. roaming, the downstream answers after --downstream-delay seconds;
3. roaming, the downstream hangs (every decision runs into the deadline; the breaker is set
   never to open here, so every roaming CALL really waits).

It prints, per scenario, the fast stations' CALLs/s and latency percentiles and the roaming
stations' Authorize latencies, as a Markdown table.

    python -m scripts.bench_authorizer --fast-stations 50 --roaming-stations 20 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import socket
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import httpx
import websockets
from aiohttp import web

TOKEN = "bench-admin-token-0123456789"
PASSWORD = "bench-station-password-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Downstream:
    """The external authorizer: answers Accepted after `delay`, or hangs."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.hang = False
        self.requests = 0
        self._release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.json()
        if self.hang:
            await self._release.wait()
            return web.Response(status=503)
        await asyncio.sleep(self.delay)
        return web.json_response({"status": "Accepted", "id_tag": body["id_tag"]})

    def set(self, *, delay: float = 0.0, hang: bool = False) -> None:
        self.delay, self.hang = delay, hang
        if not hang:
            self._release.set()
            self._release = asyncio.Event()


@dataclass
class Latencies:
    samples: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def station_loop(ws_url: str, station_id: str, frames, until: float, out: Latencies) -> None:
    token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    async with websockets.connect(f"{ws_url}/{station_id}", subprotocols=["ocpp1.6"],
                                  additional_headers={"Authorization": f"Basic {token}"}, open_timeout=60) as ws:
        ids = itertools.count(1)
        await ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "B", "chargePointModel": "M"}]))
        await ws.recv()
        while time.monotonic() < until:
            frame = next(frames)
            started = time.monotonic()
            await ws.send(json.dumps([2, str(next(ids)), *frame]))
            await ws.recv()
            out.samples.append(time.monotonic() - started)


def heartbeats():
    while True:
        yield ["Heartbeat", {}]


def roaming_tags():
    while True:
        yield ["Authorize", {"idTag": f"R{uuid.uuid4().hex[:12].upper()}"}]


async def scenario(ws_url: str, fast: list[str], roaming: list[str], duration: float) -> tuple[Latencies, Latencies]:
    until = time.monotonic() + duration
    fast_lat, roaming_lat = Latencies(), Latencies()
    await asyncio.gather(
        *(station_loop(ws_url, s, heartbeats(), until, fast_lat) for s in fast),
        *(station_loop(ws_url, s, roaming_tags(), until, roaming_lat) for s in roaming),
    )
    return fast_lat, roaming_lat


async def run(args: argparse.Namespace) -> None:
    downstream = Downstream()
    server = web.Application()
    server.router.add_post("/authorize", downstream.handle)
    runner = web.AppRunner(server)
    await runner.setup()
    downstream_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", downstream_port).start()

    from actors.config import Config
    from serve_app import app

    port = free_port()
    config = app.resolve(Config(
        data_root=tempfile.mkdtemp(prefix="bench-authorizer-"), port=port, serve_proxy_port=free_port(),
        station_hosts=args.station_hosts, api_tokens=[TOKEN], wal_segment_max_age_s=3600,
        authorizer_url=f"http://127.0.0.1:{downstream_port}/authorize", authorizer_policy="free_vending",
        authorizer_deadline_s=args.deadline, authorizer_attempt_timeout_s=args.deadline,
        authorizer_breaker_failures=1_000_000_000,
        # Closed-loop stations run far past the per-station rate limit that protects a real
        # network (docs/security.md); with it they are closed with 1008 within seconds.
        station_rate_per_s=0,
    ))
    app.prepare_environment(config)
    import ray

    ray.init(address="local", namespace="csms", include_dashboard=False, logging_level="WARNING")
    try:
        app.start_backend(config)
        app.deploy(config)
        ws_url = f"ws://127.0.0.1:{port}/ocpp"
        fast = [f"FAST-{n}-{uuid.uuid4().hex[:6]}" for n in range(args.fast_stations)]
        roaming = [f"ROAM-{n}-{uuid.uuid4().hex[:6]}" for n in range(args.roaming_stations)]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
            for station_id in fast + roaming:
                response = await api.put(f"/api/stations/{station_id}", json={"password": PASSWORD})
                response.raise_for_status()
        rows = []
        for name, roaming_now, delay, hang in [
            ("no roaming traffic", [], 0.0, False),
            (f"roaming, downstream answers in {args.downstream_delay * 1000:.0f} ms", roaming, args.downstream_delay, False),
            ("roaming, downstream hangs", roaming, 0.0, True),
        ]:
            downstream.set(delay=delay, hang=hang)
            before = downstream.requests
            fast_lat, roaming_lat = await scenario(ws_url, fast, roaming_now, args.duration)
            rows.append((name, fast_lat, roaming_lat, downstream.requests - before))
        downstream.set()
        print(f"\nfast stations: {args.fast_stations} (Heartbeat), roaming stations: {args.roaming_stations} "
              f"(Authorize, unknown tags), {args.duration:.0f} s per scenario, deadline {args.deadline} s, "
              f"{args.station_hosts} hosts, cores: {os.cpu_count()}\n")
        print("| scenario | fast CALLs/s | fast p50 ms | fast p99 ms | fast max ms | Authorize answered | "
              "Authorize p50 ms | Authorize max ms | downstream requests |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, fast_lat, roaming_lat, requests in rows:
            print(f"| {name} | {len(fast_lat.samples) / args.duration:,.0f} | {fast_lat.pct(0.5):.1f} | "
                  f"{fast_lat.pct(0.99):.1f} | {max(fast_lat.samples) * 1000:.1f} | {len(roaming_lat.samples)} | "
                  f"{roaming_lat.pct(0.5):.1f} | "
                  f"{(max(roaming_lat.samples) * 1000 if roaming_lat.samples else float('nan')):.1f} | {requests} |")
        if rows[0][1].samples:
            print(f"\nmedian fast latency, hanging vs none: "
                  f"{statistics.median(rows[2][1].samples) / statistics.median(rows[0][1].samples):.2f}x")
    finally:
        app.stop(config)
        ray.shutdown()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast-stations", type=int, default=50)
    parser.add_argument("--roaming-stations", type=int, default=20)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--deadline", type=float, default=2.0, help="authorizer_deadline_s")
    parser.add_argument("--downstream-delay", type=float, default=0.02)
    parser.add_argument("--station-hosts", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
