"""Where a StationHost's memory per station goes: state, recent events, session objects, the index.

Builds one real StationHost in this process (no Ray) and drives --stations stations through
the frames of `scripts/bench_host_stalls.py` (connect, Boot, StatusNotification, a
StartTransaction for half, then --rounds rounds of Heartbeat + MeterValues), then sizes
every object reachable from each session, once (`sys.getsizeof`, shared objects such as
interned strings and Literal values counted for the first station that reaches them only),
by part:

- state: the StationState tree (what a snapshot holds);
- recent: the recent-event history (the deque and its events with their strings);
- session: the StationSession object, its mailbox and the rest it holds;
- index: the host's `sessions` dict entry and the station id key.

    python -m scripts.host_memory --stations 5000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
from collections import deque

import msgspec

from actors.config import Config
from scripts.bench_host_stalls import FleetOnHost, _rss_mib, plain_host

_LEAVES = (str, bytes, int, float, bool, type(None))


def deep_size(obj: object, seen: set[int]) -> int:
    """Bytes of `obj` and everything it reaches that `seen` does not hold yet (then added)."""
    total, stack = 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, type) or callable(o) and not isinstance(o, msgspec.Struct):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, _LEAVES):
            continue
        if isinstance(o, dict):
            stack += o.keys()
            stack += o.values()
        elif isinstance(o, (list, tuple, deque, set, frozenset)):
            stack += o
        elif isinstance(o, msgspec.Struct):  # gc=False Structs have no referents for gc
            stack += (getattr(o, f) for f in o.__struct_fields__)
        else:
            stack += gc.get_referents(o)
    return total


def breakdown(host) -> dict[str, float]:
    """Bytes per station by part, over every session of the host."""
    seen: set[int] = {id(host.policy), id(host.config)}
    parts = {"state": 0, "recent": 0, "session": 0}
    for session in host.sessions.values():
        parts["state"] += deep_size(session.state, seen)
        parts["recent"] += deep_size(session.recent, seen)
        parts["session"] += deep_size(session, seen)  # what is left: the object, mailbox, ...
    n = len(host.sessions)
    parts["index"] = sys.getsizeof(host.sessions) + sum(sys.getsizeof(k) for k in host.sessions)
    out = {k: round(v / n, 1) for k, v in parts.items()}
    out["total"] = round(sum(parts.values()) / n, 1)
    return out


async def measure(stations: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="host-memory-") as root:
        host = plain_host(msgspec.structs.replace(Config(), data_root=root))
        rss0 = _rss_mib()
        fleet = FleetOnHost(host, stations)
        await fleet.bring_up()
        for k in range(rounds):
            await fleet.round(k)
        rss = _rss_mib()
        recent = [len(s.recent) for s in host.sessions.values()]
        result = {
            "stations": stations, "rounds": rounds,
            "recent_events_per_station": round(sum(recent) / len(recent), 1),
            "bytes_per_station": breakdown(host),
            "rss_kib_per_station": round((rss - rss0) * 1024 / stations, 1),
        }
        host.log.close()
        return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.host_memory", description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=16, help="Heartbeat (+ MeterValues) rounds (44 recent events)")
    a = p.parse_args(argv)
    print(msgspec.json.encode(asyncio.run(measure(a.stations, a.rounds))).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
