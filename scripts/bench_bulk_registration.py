"""Onboarding throughput: register N stations through POST /api/bulk/stations and print stations/s.

Against a running CSMS (`csms serve`). Each station gets a random 24-character password (a
machine secret, as OCPP's AuthorizationKey should be), a site and one metadata field. The
batch is sent in requests of `--chunk` rows, one after another; then the same rows are sent
again (idempotent: every row unchanged), and, for comparison, `--puts` more stations are
registered with one PUT each (`--concurrency` at a time).

    python -m scripts.bench_bulk_registration --api-url http://127.0.0.1:8000 --token "$TOKEN" \\
        --stations 20000 --puts 2000
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid

import httpx


def rows(prefix: str, n: int) -> list[dict]:
    return [{"station_id": f"{prefix}-{k:06d}", "password": secrets.token_urlsafe(18),
             "site": f"site-{k % 100}", "metadata": {"batch": prefix}} for k in range(n)]


async def bulk(api: httpx.AsyncClient, batch: list[dict], chunk: int) -> tuple[float, dict[str, int]]:
    totals = {"rows": 0, "created": 0, "updated": 0, "unchanged": 0}
    started = time.perf_counter()
    for start in range(0, len(batch), chunk):
        response = await api.post("/api/bulk/stations", json=batch[start:start + chunk])
        response.raise_for_status()
        for key, value in response.json().items():
            totals[key] += value
    return time.perf_counter() - started, totals


async def one_put_each(api: httpx.AsyncClient, batch: list[dict], concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def put(row: dict) -> None:
        async with limit:
            body = {k: v for k, v in row.items() if k != "station_id"}
            (await api.put(f"/api/stations/{row['station_id']}", json=body)).raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(put(row) for row in batch))
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    prefix = f"BULK{uuid.uuid4().hex[:6]}"
    batch = rows(prefix, args.stations)
    async with httpx.AsyncClient(base_url=args.api_url, timeout=300,
                                 headers={"Authorization": f"Bearer {args.token}"}) as api:
        took, totals = await bulk(api, batch, args.chunk)
        print(f"bulk: {args.stations} stations in {took:.2f} s = {args.stations / took:,.0f} stations/s "
              f"({args.chunk} rows per request) {totals}")
        took, totals = await bulk(api, batch, args.chunk)
        print(f"bulk again (idempotent): {took:.2f} s = {args.stations / took:,.0f} stations/s {totals}")
        if args.puts:
            took = await one_put_each(api, rows(f"{prefix}P", args.puts), args.concurrency)
            print(f"one PUT each: {args.puts} stations in {took:.2f} s = {args.puts / took:,.0f} stations/s "
                  f"({args.concurrency} at a time)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="an admin token (e.g. $(cat data/operator-token))")
    parser.add_argument("--stations", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=5_000, help="rows per request")
    parser.add_argument("--puts", type=int, default=0, help="also register this many with one PUT each")
    parser.add_argument("--concurrency", type=int, default=16, help="PUTs in flight at once")
    asyncio.run(main(parser.parse_args()))
