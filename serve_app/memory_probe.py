"""Measurement only: a gateway replica's Python memory seen from inside it (scripts/gateway_memory.py).

A station's idle connection lives in objects of several libraries (uvicorn, websockets, Serve,
Starlette, asyncio, ours); which of them cost what is found by comparing two moments of one
replica holding N and 2N connections: tracemalloc snapshots (every allocation made since
`start`, with its traceback) and counts of the collector's objects by type. Nothing runs
unless `scripts/gateway_memory.py` asks, through the gateway's `memory_probe` method.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
from collections import Counter


def probe(action: str, path: str = "", frames: int = 30) -> dict:
    """`start` tracing; `snapshot` (collect, dump the traced allocations to `path` if given,
    count objects by type); `stop` tracing. Answers the process id and its counts."""
    if action == "start":
        tracemalloc.start(frames)
        return {"pid": os.getpid()}
    if action == "stop":
        tracemalloc.stop()
        return {"pid": os.getpid()}
    if action != "snapshot":
        raise ValueError(f"unknown probe action {action!r}")
    gc.collect()
    if path:
        tracemalloc.take_snapshot().dump(path)
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return {"pid": os.getpid(), "traced_bytes": tracemalloc.get_traced_memory()[0],
            "counts": dict(counts), "sizes": dict(sizes)}
