"""The stall probe of a StationHost: a real in-process host, grown by copies, timed."""

from __future__ import annotations

import gc

import pytest

from scripts.bench_host_stalls import GcTimer, measure

pytestmark = pytest.mark.timeout(120)


def test_gc_timer_sees_each_collection_by_generation():
    with GcTimer() as timer:
        gc.collect()
        gc.collect(0)
    assert len(timer.pauses[2]) == 1 and len(timer.pauses[0]) == 1
    assert timer.summary()["gen2"]["n"] == 1
    assert timer not in gc.callbacks


async def test_host_grown_by_copies_snapshots_every_station_and_freeze_empties_full_collections():
    r = await measure(stations=90, real=20, rounds=2, steady_rounds=1)
    assert r["stations"] == 90 and r["built_from_frames"] == 20
    # Connect, Boot and StatusNotification (+ StartTransaction for half), then Heartbeat
    # (+ MeterValues) per round: each CALL is logged with its answer.
    assert r["recent_events_per_station"] >= 8
    assert r["snapshot_mib"] > 0 and len(r["snapshot_encode_ms"]) == 5
    assert r["gc_objects"] > r["gc_objects_empty_host"]
    # After gc.freeze() a full collection has almost nothing left to traverse.
    assert max(r["full_collect_after_freeze_ms"]) <= min(r["full_collect_ms"])
