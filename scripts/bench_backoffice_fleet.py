"""The back office's fleet list at scale: register N stations, sign in, time list requests.

Against a running CSMS (`csms serve`). Registers `--stations` stations through
POST /api/bulk/stations (skipped with `--no-register` for a fleet already there), signs in
to the back office with the token through its form (as a browser does), and times the fleet
list as the page asks for it (htmx: only the list): the first page, pages deep in the fleet
(keyset cursors), a search, a filter. Every figure is the whole request as the browser sees
it: the replica asks every host for its part (each scans its stations in slices), merges the
parts and renders 50 rows.

    python -m scripts.bench_backoffice_fleet --api-url http://127.0.0.1:8000 --token "$TOKEN" \\
        --stations 100000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time

import httpx

PREFIX = "FLEET"


async def register(api: httpx.AsyncClient, n: int, chunk: int = 5_000) -> float:
    started = time.perf_counter()
    for start in range(0, n, chunk):
        batch = [{"station_id": f"{PREFIX}-{k:06d}", "password": f"fleet-bench-secret-{k:06d}",
                  "site": f"site-{k % 100}"} for k in range(start, min(n, start + chunk))]
        (await api.post("/api/bulk/stations", json=batch)).raise_for_status()
    return time.perf_counter() - started


async def signed_in(base: str, token: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=120)
    form = await client.get("/signin")
    signin_token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
    answer = await client.post("/signin", data={"signin_token": signin_token, "token": token})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in refused: {answer.status_code}")
    return client


async def timed(client: httpx.AsyncClient, params: dict, rounds: int) -> list[float]:
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.get("/fleet", params=params, headers={"HX-Request": "true"})
        took.append(time.perf_counter() - started)
        response.raise_for_status()
        assert 'table class="fleet"' in response.text
    return took


async def main(args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=args.api_url, timeout=600,
                                 headers={"Authorization": f"Bearer {args.token}"}) as api:
        if not args.no_register:
            took = await register(api, args.stations)
            print(f"registered {args.stations:,} stations in {took:.1f} s")
    client = await signed_in(args.api_url, args.token)
    try:
        first = await client.get("/fleet", headers={"HX-Request": "true"})
        print("fleet:", re.search(r"Stations [^<]* matching", first.text).group(0))
        deep = [f"{PREFIX}-{k:06d}" for k in range(0, args.stations, max(1, args.stations // args.rounds))]
        cases = {
            "first page": [{}] * args.rounds,
            "deep pages (after=...)": [{"after": cursor} for cursor in deep[:args.rounds]],
            "search one station": [{"search": f"{PREFIX}-{args.stations // 2:06d}"}] * args.rounds,
            "filter: not connected, one site": [{"connected": "no", "site": "site-7"}] * args.rounds,
        }
        for name, queries in cases.items():
            took = []
            for params in queries:
                took += await timed(client, params, 1)
            print(f"{name:<34} median {statistics.median(took) * 1000:6.0f} ms   max {max(took) * 1000:6.0f} ms"
                  f"   ({len(took)} requests)")
    finally:
        await client.aclose()

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api-url", required=True)
    p.add_argument("--token", required=True, help="an admin token (registers the stations and signs in)")
    p.add_argument("--stations", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--no-register", action="store_true")
    asyncio.run(main(p.parse_args()))
