"""Benchmark: how fast one client can guess one station's Basic-auth password through the real gateway.

Runs a CSMS of its own on a local Ray twice, without the backoff after failed passwords
(`guess_backoff_base_s = 0`: the behaviour before it) and with the defaults, each in a
process of its own, and prints for each: handshakes/s the guesser got answered, guesses
checked/s (401: a password was compared), refused before the check (429), and how long the
legitimate station, from its own address, took to connect at the end of the attack.

    .venv/bin/python -m scripts.bench_password_guessing --seconds 5 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

TOKEN = "bench-admin-token-0123456789"
PASSWORD = "bench-password-0123456"
STATION = "CP-GUESSED"
# The guesser and the station on two loopback addresses (Linux routes all of 127/8 to lo).
GUESSER_IP = "127.0.0.1"
STATION_IP = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _handshake(port: int, password: str, source_ip: str) -> int:
    """One websocket upgrade as STATION with `password`: the HTTP status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source_ip, 0))
    auth = base64.b64encode(f"{STATION}:{password}".encode()).decode()
    writer.write((f"GET /ocpp/{STATION} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
                  f"Authorization: Basic {auth}\r\n\r\n").encode())
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    return int(status_line.split()[1])


async def _guess(port: int, seconds: float, concurrency: int) -> dict:
    statuses: Counter[int] = Counter()
    until = time.monotonic() + seconds
    guesses = iter(range(10**9))

    async def guesser() -> None:
        while time.monotonic() < until:
            statuses[await _handshake(port, f"guess-{next(guesses):014d}", GUESSER_IP)] += 1

    started = time.monotonic()
    await asyncio.gather(*(guesser() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    connect_started = time.perf_counter()
    legitimate = await _handshake(port, PASSWORD, STATION_IP)
    return {"elapsed_s": elapsed, "statuses": dict(statuses), "legitimate_status": legitimate,
            "legitimate_ms": (time.perf_counter() - connect_started) * 1000}


def _measure(backoff: bool, seconds: float, concurrency: int) -> dict:
    """(Child process) start a CSMS, register the station, let it connect once from its own
    address, guess for `seconds`; the figures."""
    import ray

    from actors.config import Config
    from serve_app import app

    work = Path(tempfile.mkdtemp(prefix="csms-bench-guessing-"))
    port = _free_port()
    overrides = {} if backoff else {"guess_backoff_base_s": 0.0}
    config = app.resolve(Config(data_root=str(work / "data"), port=port, serve_proxy_port=_free_port(),
                                station_hosts=1, api_tokens=[TOKEN], **overrides))
    app.prepare_environment(config)
    ray.init(address="local", namespace="csms", include_dashboard=False, logging_level="WARNING")
    try:
        app.start_backend(config)
        app.deploy(config)
        response = httpx.put(f"http://127.0.0.1:{port}/api/stations/{STATION}", json={"password": PASSWORD},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        response.raise_for_status()
        assert asyncio.run(_handshake(port, PASSWORD, STATION_IP)) == 101
        return asyncio.run(_guess(port, seconds, concurrency))
    finally:
        app.stop(config)
        ray.shutdown()


def _row(label: str, figures: dict) -> str:
    s = figures["elapsed_s"]
    statuses = {int(k): v for k, v in figures["statuses"].items()}
    answered = sum(statuses.values())
    return (f"{label:>10}: {answered / s:7.1f} handshakes/s answered, {statuses.get(401, 0) / s:7.1f} guesses "
            f"checked/s (401), {statuses.get(429, 0) / s:7.1f}/s refused before the check (429); "
            f"station from its own address: {figures['legitimate_status']} in {figures['legitimate_ms']:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4, help="handshakes the guesser keeps in flight")
    parser.add_argument("--measure", choices=["off", "on"], help="(internal) one measurement, printed as JSON")
    args = parser.parse_args()
    if args.measure:
        print("RESULT " + json.dumps(_measure(args.measure == "on", args.seconds, args.concurrency)))
        return
    results = {}
    for mode in ("off", "on"):
        out = subprocess.run([sys.executable, "-m", "scripts.bench_password_guessing", "--measure", mode,
                              "--seconds", str(args.seconds), "--concurrency", str(args.concurrency)],
                             check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    print(f"one guesser, {args.concurrency} handshakes in flight, {args.seconds:g} s, one station id")
    print(_row("no backoff", results["off"]))
    print(_row("backoff", results["on"]))
    checked = {m: results[m]["statuses"].get("401", 0) / results[m]["elapsed_s"] for m in results}
    if checked["on"]:
        print(f"guesses checked per second: {checked['off'] / checked['on']:.0f}x fewer with the backoff")


if __name__ == "__main__":
    main()
