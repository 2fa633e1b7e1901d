"""Keeps a host's long-lived objects out of the cyclic garbage collector's reach (`gc.freeze`).

A full collection traverses every tracked object and holds the GIL throughout: 190-210 ms
at 20,000 stations a host and about 400 ms at 50,000 (BENCHMARKS.md section 8), a stall of
every frame on the host, whenever CPython decides or Ray's PythonGCThread asks. Frozen
objects are skipped by every collection, so after `freeze_survivors()` a full collection
costs what was allocated since (milliseconds).

What freezing gives up: a frozen object is never freed *by the cyclic collector*. Reference
counting still frees it the moment it is unreachable, so acyclic garbage (a replaced
connector status, a forgotten transaction, an event leaving the recent history, the state of
a station dropped from the host) goes as before. Station states are Structs, dicts and lists
of scalars and Structs with no back references (actors/station_state.py): they cannot form
cycles. What can leak is an object that was alive at a freeze and later became part of
unreachable cycles (a task or future in flight, say: tens of objects a freeze); so a host
freezes once after its restore and then only when enough has survived unfrozen to make a full
collection a stall again (`freeze_if_grown`, checked after each snapshot), not every time.
`scripts/bench_host_stalls.py` measures both.
"""

from __future__ import annotations

import gc
import time


def freeze_survivors() -> float:
    """Collect what is not frozen yet, then freeze what survived; the thread CPU seconds taken.

    Call it where the host holds no garbage worth a full pass and nothing waits on it for
    long: after a restore (before the first frame) and after each snapshot, when what is
    unfrozen is only what was allocated since the previous call.
    """
    started = time.thread_time()
    gc.collect()
    gc.freeze()
    return time.thread_time() - started


# Unfrozen survivors worth a freeze: a full collection traverses about 1.5 million objects a
# second here (BENCHMARKS.md section 11), so this many cost it about 20 ms.
FREEZE_ABOVE = 30_000


def freeze_if_grown() -> float | None:
    """freeze_survivors() if more than FREEZE_ABOVE objects are tracked and not frozen (new
    stations, replaced state parts), else nothing (None): a freeze in steady state would only
    take the tasks in flight out of the collector's reach."""
    if len(gc.get_objects()) <= FREEZE_ABOVE:
        return None
    return freeze_survivors()
