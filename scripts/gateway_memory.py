"""Where an idle station's memory goes in a gateway replica: tracemalloc and object counts at N and 2N connections.

Starts a CSMS of its own in this process (local Ray, one gateway replica, one balancer, two
station hosts, a temp data root), registers the stations in bulk, asks the replica to start
tracemalloc (serve_app/memory_probe.py through the gateway's `memory_probe`), connects N idle
stations (handshake, Boot, StatusNotification: scripts/bench_fleet.py's light client), takes
a snapshot, connects N more and takes another. The difference over N is what one more idle
connection costs, by the traceback that allocated it (grouped by the library whose code made
it), by object type, and as PSS of the replica's process:

    python -m scripts.gateway_memory --stations 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

import httpx

from scripts.bench_fleet import Fleet, FleetConfig
from scripts.bench_stations import sample

TOKEN = "gateway-memory-admin-token-0123"
SITE_PACKAGES = "site-packages/"
# The libraries a connection's objects come from, by the path of the code that allocated them.
PARTS = ("uvicorn", "websockets", "ray/serve", "ray", "starlette", "fastapi", "serve_app", "actors", "uvloop")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def part_of(traceback: tracemalloc.Traceback) -> str:
    """The library whose code made this allocation: the innermost frame outside the standard
    library (what asyncio or the interpreter allocates on a library's behalf is the library's)."""
    for frame in reversed(traceback):  # most recent last
        path = frame.filename.replace("\\", "/")
        for part in PARTS:
            if f"/{part}/" in path and (SITE_PACKAGES in path or part in ("serve_app", "actors")):
                return part
    innermost = traceback[-1].filename if len(traceback) else "?"
    return f"stdlib ({Path(innermost).name})"


def where(traceback: tracemalloc.Traceback, depth: int = 4) -> str:
    frames = list(traceback)[-depth:]
    return " <- ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(frames))


def _short(path: str) -> str:
    if SITE_PACKAGES in path:
        return path.split(SITE_PACKAGES, 1)[1]
    for root in ("serve_app/", "actors/"):
        if root in path:
            return root + path.split(root, 1)[1]
    return Path(path).name


def compare(before: Path, after: Path, connections: int, top: int) -> dict:
    """Bytes per added connection by part and by traceback (only allocations still alive)."""
    old, new = tracemalloc.Snapshot.load(str(before)), tracemalloc.Snapshot.load(str(after))
    by_part: dict[str, float] = defaultdict(float)
    blocks: dict[str, float] = defaultdict(float)
    rows = []
    for diff in new.compare_to(old, "traceback"):
        part = part_of(diff.traceback)
        by_part[part] += diff.size_diff / connections
        blocks[part] += diff.count_diff / connections
        rows.append((diff.size_diff / connections, diff.count_diff / connections, part, where(diff.traceback)))
    rows.sort(key=lambda r: -r[0])
    return {
        "bytes_per_connection": round(sum(by_part.values()), 1),
        "by_part": {k: {"bytes": round(v, 1), "blocks": round(blocks[k], 2)}
                    for k, v in sorted(by_part.items(), key=lambda kv: -kv[1])},
        "top": [{"bytes": round(b, 1), "blocks": round(c, 2), "part": p, "where": w} for b, c, p, w in rows[:top]],
    }


def type_counts(before: dict, after: dict, connections: int, top: int) -> list[dict]:
    """Collector-tracked objects added per connection, by type, with their shallow sizes."""
    rows = []
    for name, count in after["counts"].items():
        added = count - before["counts"].get(name, 0)
        size = after["sizes"].get(name, 0) - before["sizes"].get(name, 0)
        if added > 0 or size > 0:
            rows.append({"type": name, "per_connection": round(added / connections, 2),
                         "bytes_per_connection": round(size / connections, 1)})
    rows.sort(key=lambda r: -r["bytes_per_connection"])
    return rows[:top]


async def register(api_url: str, stations: list[str], password: str) -> None:
    rows = [{"station_id": s, "password": password} for s in stations]
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as api:
        response = await api.post("/api/bulk/stations", json=rows)
        response.raise_for_status()


async def connect(cfg: FleetConfig, indices: list[int]) -> Fleet:
    fleet = Fleet(cfg, indices)
    await fleet.connect_all()
    await asyncio.wait_for(fleet.all_ready.wait(), cfg.ready_timeout)
    failures = fleet.result.connect_failures
    if failures or fleet.result.ready != len(indices):
        raise RuntimeError(f"not every station came up: {fleet.result.ready} ready, failures {failures}")
    return fleet


def measure(n: int, out_dir: Path, top: int, settle_s: float) -> dict:
    import ray
    from ray import serve

    from actors.config import ApiToken, Config
    from serve_app import app

    port = _free_port()
    config = app.resolve(Config(
        data_root=str(out_dir / "data"), port=port, serve_proxy_port=_free_port(), station_hosts=2,
        gateway_replicas=1, balancers=1, api_replicas=1, scheduler_enabled=False,
        api_tokens=[ApiToken(token=TOKEN, role="admin")],
    ))
    app.prepare_environment(config)
    ray.init(address="local", namespace="csms", include_dashboard=False, logging_level="WARNING")
    try:
        app.start_backend(config)
        app.deploy(config)
        cfg = FleetConfig(url=f"ws://127.0.0.1:{port}", mode="idle", stations=2 * n, probes=0,
                          connect_rate=300.0, connect_concurrency=200)
        asyncio.run(register(f"http://127.0.0.1:{port}", [cfg.station_id(i) for i in range(2 * n)], cfg.password))
        gateway = serve.get_app_handle("ocpp")

        async def probe(action: str, path: str = "") -> dict:
            return await asyncio.wait_for(gateway.memory_probe.remote(action, path), 300)

        async def run() -> dict:
            pid = (await probe("start"))["pid"]
            first = await connect(cfg, list(range(n)))
            await asyncio.sleep(settle_s)  # let the handshakes' garbage go before counting
            at_n = await probe("snapshot", str(out_dir / "at_n.snapshot"))
            pss_n = sample([pid]).pss_kib
            second = await connect(cfg, list(range(n, 2 * n)))
            await asyncio.sleep(settle_s)
            at_2n = await probe("snapshot", str(out_dir / "at_2n.snapshot"))
            pss_2n = sample([pid]).pss_kib
            await probe("stop")
            for fleet in (first, second):
                for transport in fleet.transports:
                    if transport is not None:
                        transport.close()
            return {"at_n": at_n, "at_2n": at_2n, "pss_n_kib": pss_n, "pss_2n_kib": pss_2n}

        taken = asyncio.run(run())
    finally:
        try:
            app.stop(config)
        finally:
            ray.shutdown()
    result = compare(out_dir / "at_n.snapshot", out_dir / "at_2n.snapshot", n, top)
    result["connections_added"] = n
    result["traced_bytes_per_connection"] = round(
        (taken["at_2n"]["traced_bytes"] - taken["at_n"]["traced_bytes"]) / n, 1)
    result["pss_kib_per_connection"] = round((taken["pss_2n_kib"] - taken["pss_n_kib"]) / n, 2)
    result["types"] = type_counts(taken["at_n"], taken["at_2n"], n, top)
    return result


def print_report(r: dict) -> None:
    print(f"\n{r['connections_added']} connections added: replica PSS {r['pss_kib_per_connection']} KiB each, "
          f"traced Python {r['traced_bytes_per_connection'] / 1024:.2f} KiB each")
    print("\nby part (the library whose code allocated it)    bytes   blocks")
    for part, v in r["by_part"].items():
        print(f"  {part:45s} {v['bytes']:8.0f} {v['blocks']:8.2f}")
    print("\nlargest tracebacks (bytes, blocks per connection; innermost frame first)")
    for row in r["top"]:
        print(f"  {row['bytes']:7.0f} {row['blocks']:6.2f}  [{row['part']}] {row['where']}")
    print("\ncollector-tracked objects per connection (count, shallow bytes)")
    for row in r["types"]:
        print(f"  {row['per_connection']:6.2f} {row['bytes_per_connection']:8.0f}  {row['type']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.gateway_memory", description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=2000, help="N: connections held at the first snapshot (2N at the second)")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--settle-s", type=float, default=3.0)
    p.add_argument("--json-out", type=Path)
    a = p.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with tempfile.TemporaryDirectory(prefix="gateway-memory-") as tmp:
        t0 = time.monotonic()
        result = measure(a.stations, Path(tmp), a.top, a.settle_s)
        result["elapsed_s"] = round(time.monotonic() - t0, 1)
    print_report(result)
    if a.json_out:
        a.json_out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
