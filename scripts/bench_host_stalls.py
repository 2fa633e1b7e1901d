"""What a StationHost's candidate stalls cost at fleet size: the snapshot encode and full garbage collections.

Builds one real `StationHost` in this process (no Ray: its Ray-facing parts are not used),
in a temporary data root, and feeds it real batches as a gateway would: --real stations
connect, boot, send a StatusNotification, half of them start a transaction, then --rounds
rounds of Heartbeats (and MeterValues with 4 sampled values for the charging half) fill each
station's recent-event history to its steady state. The host then grows to --stations by
copies of those sessions, decoded from msgpack as a restore decodes a snapshot (building
50,000 from frames takes many minutes on a shared 2-core machine and gives the same objects).
Then it times, with the fleet alive:

- the snapshot the host takes when it lands sealed log segments: the encode it ran in one call
  on its event loop until issue 15, and the longest loop callback (thread CPU time) while a
  whole snapshot is written, as it was then and as `_write_snapshot` does it now (a
  chunk of states at a time); then a restore of the fleet from that snapshot;
- garbage collections, through `gc.callbacks`: the ones that happen by themselves while
  the --real stations send --steady-rounds more rounds, and forced full ones (`gc.collect()`), before and
  after the host's `freeze_survivors()` (actors/gc_freeze.py), and what that call costs after a
  restore and after a snapshot, and the cyclic garbage it kept from the collector.

    python -m scripts.bench_host_stalls --stations 20000 50000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable

import msgspec

from actors import host_protocol as hp
from actors.config import Config
from actors.gc_freeze import freeze_survivors
from actors.snapshot import Snapshot
from actors.durable_file import write_atomically
from actors.station_host import SNAPSHOT_CHUNK, StationHost
from actors.station_state import IdTagRecord, Registration, StationState
from scripts import fleet_frames as ff

PASSWORD_HASH = "pbkdf2_sha256$2000$00$00"  # never checked: stations connect as certificate-authenticated
BATCH = 1000  # requests per host call, about what a busy gateway replica sends


class GcTimer:
    """Times every collection Python makes, by generation, through gc.callbacks. Thread CPU
    time, not wall time: on a shared machine the wall time of a pause includes waiting for
    a core; the CPU time is what the pause costs where the process has a core of its own."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.pauses[info["generation"]].append(time.thread_time() - self._t0)

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> dict[str, dict[str, float | int]]:
        out = {}
        for gen, pauses in self.pauses.items():
            if pauses:
                out[f"gen{gen}"] = {"n": len(pauses), "median_ms": round(statistics.median(pauses) * 1e3, 2),
                                    "max_ms": round(max(pauses) * 1e3, 2), "total_ms": round(sum(pauses) * 1e3, 1)}
        return out


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class FleetOnHost:
    """Drives one in-process StationHost with the frames of `stations` stations."""

    def __init__(self, host: StationHost, stations: int) -> None:
        self.host = host
        self.ids = [f"FLT{i:06d}" for i in range(stations)]
        self.tx: dict[str, int] = {}
        self.message = 0
        self.frames = 0

    async def send(self, requests: list[hp.HostRequest]) -> list[hp.HostReply]:
        replies: list[hp.HostReply] = []
        for i in range(0, len(requests), BATCH):
            replies += hp.decode_replies(await self.host.process(hp.encode_requests(requests[i:i + BATCH]))).replies
        self.frames += len(requests)
        return replies

    def frame(self, i: int, action: str, payload: str) -> hp.Frame:
        self.message += 1
        now = time.time_ns() // 1000
        return hp.Frame(self.ids[i], f"gw-{i}", 1, ff.call_text(self.message, action, payload), now)

    async def bring_up(self) -> None:
        for sid in self.ids:
            await self.host.register(sid, Registration(password_hash=PASSWORD_HASH, site="fleet"))
        await self.send([hp.Connect(sid, f"gw-{i}", 1, None) for i, sid in enumerate(self.ids)])
        await self.send([self.frame(i, "BootNotification", ff.boot_notification()) for i in range(len(self.ids))])
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        await self.send([self.frame(i, "StatusNotification",
                                    ff.status_notification(1, "Charging" if i % 2 == 0 else "Available", ts))
                         for i in range(len(self.ids))])
        charging = range(0, len(self.ids), 2)
        replies = await self.send([self.frame(i, "StartTransaction", ff.start_transaction(1, "FLEETTAG", 0, ts))
                                   for i in charging])
        for i, reply in zip(charging, replies):
            self.tx[self.ids[i]] = msgspec.json.decode(reply.replies[0])[2]["transactionId"]

    async def round(self, k: int) -> None:
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        frames = [self.frame(i, "Heartbeat", ff.HEARTBEAT) for i in range(len(self.ids))]
        frames += [self.frame(i, "MeterValues", ff.meter_values(1, self.tx[self.ids[i]], ts, 120 * k))
                   for i in range(0, len(self.ids), 2)]
        await self.send(frames)


def clone_fleet(host: StationHost, stations: int) -> None:
    """Grows the host to `stations` sessions by copies of the ones it built from frames: each
    copy is decoded from msgpack as a restore decodes a snapshot (fresh objects, nothing
    shared), with its own station id, and its own copy of the recent-event history."""
    real = list(host.sessions.values())
    states = msgspec.msgpack.encode([s.state for s in real])
    recent = msgspec.msgpack.encode([list(s.recent) for s in real])
    copy = 1
    while len(host.sessions) < stations:
        decoded = zip(msgspec.msgpack.decode(states, type=list[StationState]),
                      msgspec.msgpack.decode(recent, type=list[list[bytes]]))
        for state, events in decoded:
            if len(host.sessions) >= stations:
                break
            state.station_id = sid = f"{state.station_id}.{copy}"
            host.sessions[sid] = session = host._new_session(sid, state)
            session.recent.extend(events)
        copy += 1


def snapshot_encode_s(host: StationHost) -> tuple[float, int]:
    """What `_land_sealed_segments` ran on the host's loop before its first await until issue 15:
    every state in one encode (the file format 1 this writes is what old data roots hold)."""
    t = time.thread_time()
    data = msgspec.msgpack.encode(Snapshot(last_seq=host.log.last_seq, stations=[s.state for s in host.sessions.values()]))
    return time.thread_time() - t, len(data)


class LoopStretches:
    """How long each callback the event loop runs takes, in thread CPU time: while one runs, no
    frame is handled, so the longest is what a frame arriving then waits for (where the
    process has a core of its own). Wraps asyncio's Handle._run, the loop's one call site."""

    def __init__(self) -> None:
        self.stretches: list[float] = []
        self._run = asyncio.events.Handle._run

    def __enter__(self) -> LoopStretches:
        run, stretches = self._run, self.stretches

        def timed(handle: asyncio.events.Handle) -> None:
            t = time.thread_time()
            run(handle)
            stretches.append(time.thread_time() - t)

        asyncio.events.Handle._run = timed
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._run

    def longest_ms(self) -> float:
        return round(max(self.stretches, default=0.0) * 1e3, 1)


async def one_piece_snapshot(host: StationHost) -> None:
    """The snapshot as the host wrote it until issue 15: one encode on the loop, then fsync and write."""
    data = msgspec.msgpack.encode(Snapshot(last_seq=host.log.last_seq, stations=[s.state for s in host.sessions.values()]))
    await host._commit()
    await asyncio.to_thread(write_atomically, host._snapshot_path, data)


async def longest_stretch_ms(snapshot: Awaitable[object]) -> tuple[float, float]:
    """The longest loop stretch while `snapshot` runs, and its wall seconds."""
    # Its own task: the callbacks timed are the snapshot's steps, not this coroutine's caller.
    task = asyncio.ensure_future(snapshot)
    with LoopStretches() as loop_watch:
        t = time.perf_counter()
        await task
        wall = time.perf_counter() - t
    return loop_watch.longest_ms(), wall


def timed_full_collections(n: int = 3) -> list[float]:
    """Thread CPU seconds of `n` forced full collections."""
    out = []
    for _ in range(n):
        t = time.thread_time()
        gc.collect()
        out.append(time.thread_time() - t)
    return out


def plain_host(config: Config) -> StationHost:
    """A real StationHost in this process, started as Ray would start it, minus Ray."""
    host = StationHost("station-host-0", config)
    loop = asyncio.get_running_loop()
    # What _ensure_started would do through Ray: the id-tag table is "pulled" (set here),
    # and no background maintenance runs (the snapshot is timed on its own below).
    started = loop.create_future()
    started.set_result(None)
    host._started, host._flush_lock, host._background = started, asyncio.Lock(), loop.create_future()
    host.id_tags["FLEETTAG"] = IdTagRecord()
    return host


async def measure(stations: int, real: int, rounds: int, steady_rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="host-stalls-") as root:
        config = msgspec.structs.replace(Config(), data_root=root)
        host = plain_host(config)
        # The host froze what it restored (nothing): start from the collector's view of a
        # host before issue 15, and apply the host's freeze below where the host does.
        gc.unfreeze()
        rss0 = _rss_mib()
        objects0 = len(gc.get_objects())
        empty_full = timed_full_collections()
        fleet = FleetOnHost(host, min(real, stations))
        t = time.perf_counter()
        with GcTimer() as build_gc:
            await fleet.bring_up()
            for k in range(rounds):
                await fleet.round(k)
            clone_fleet(host, stations)
        build_s = time.perf_counter() - t
        recent = statistics.mean(len(s.recent) for s in host.sessions.values())
        objects = len(gc.get_objects())
        rss = _rss_mib()
        # Steady state: the same rounds again, collections timed as they come.
        with GcTimer() as steady_gc:
            t = time.perf_counter()  # wall: the frames' rate
            frames0 = fleet.frames
            for k in range(rounds, rounds + steady_rounds):
                await fleet.round(k)
            steady_s = time.perf_counter() - t
            steady_frames = fleet.frames - frames0
        snapshots = [snapshot_encode_s(host) for _ in range(5)]
        # The snapshot as a whole, its longest loop callback: as before issue 15 and now.
        one_piece = [await longest_stretch_ms(one_piece_snapshot(host)) for _ in range(3)]
        full = timed_full_collections()
        # What the host does after a restore (the copies above are one): collect, then freeze.
        freeze_after_restore = freeze_survivors()
        full_frozen = timed_full_collections()
        # (After the freeze, as in a host: each snapshot ends with collecting what is young.)
        chunked = [await longest_stretch_ms(host._write_snapshot()) for _ in range(3)]
        snapshot_file_mib = host._snapshot_path.stat().st_size / 2**20
        with GcTimer() as frozen_gc:
            for k in range(rounds + steady_rounds, rounds + 2 * steady_rounds):
                await fleet.round(k)
        # What steady traffic leaves unfrozen (a snapshot freezes it once it passes
        # gc_freeze.FREEZE_ABOVE), what that freeze costs, then what Ray's PythonGCThread costs.
        unfrozen_after_rounds = len(gc.get_objects())
        freeze_after_snapshot = freeze_survivors()
        full_frozen_later = timed_full_collections()
        # Cyclic garbage the freezes kept from the collector: what unfreezing lets it find.
        gc.unfreeze()
        frozen_cyclic_garbage = gc.collect()
        host.log.close()
        # A restore of that fleet from the snapshot just written (the log holds what follows).
        built, frames = len(fleet.ids), fleet.frames
        fleet = host = None
        gc.collect()
        t = time.perf_counter()
        restored = StationHost("station-host-0", config)
        restore_s = time.perf_counter() - t
        restored_stations = len(restored.sessions)
        restored.log.close()
        return {
            "stations": stations, "built_from_frames": built, "rounds": rounds, "steady_rounds": steady_rounds, "frames": frames,
            "build_s": round(build_s, 1), "cpu_s": round(time.process_time(), 1),
            "recent_events_per_station": round(recent, 1), "gc_objects": objects, "gc_objects_empty_host": objects0,
            "full_collect_empty_host_ms": [round(s * 1e3, 1) for s in empty_full],
            "host_rss_mib": round(rss - rss0), "kib_per_station": round((rss - rss0) * 1024 / stations, 1),
            "snapshot_encode_ms": [round(s * 1e3, 1) for s, _ in snapshots],
            "snapshot_mib": round(snapshots[0][1] / 2**20, 1),
            "one_piece_snapshot_longest_stretch_ms": [ms for ms, _ in one_piece],
            "one_piece_snapshot_wall_s": [round(s, 3) for _, s in one_piece],
            "chunked_snapshot_longest_stretch_ms": [ms for ms, _ in chunked],
            "chunked_snapshot_wall_s": [round(s, 3) for _, s in chunked],
            "chunked_snapshot_file_mib": round(snapshot_file_mib, 1),
            "snapshot_chunk": SNAPSHOT_CHUNK,
            "restore_s": round(restore_s, 2), "restored_stations": restored_stations,
            "gc_while_building": build_gc.summary(),
            "gc_steady": steady_gc.summary(), "steady_frames": steady_frames,
            "steady_wall_us_per_frame": round(steady_s / steady_frames * 1e6, 1),
            "loadavg_1m": float(open("/proc/loadavg").read().split()[0]),
            "full_collect_ms": [round(s * 1e3, 1) for s in full],
            "full_collect_after_freeze_ms": [round(s * 1e3, 1) for s in full_frozen],
            "gc_steady_after_freeze": frozen_gc.summary(),
            "freeze_after_restore_ms": round(freeze_after_restore * 1e3, 1),
            "full_collect_after_frozen_rounds_ms": [round(s * 1e3, 1) for s in full_frozen_later],
            "unfrozen_objects_after_frozen_rounds": unfrozen_after_rounds,
            "freeze_after_snapshot_ms": round(freeze_after_snapshot * 1e3, 1),
            "frozen_cyclic_garbage_objects": frozen_cyclic_garbage,
            "gc_tracked_per_station": round((objects - objects0) / stations, 2),
            "gc_thresholds": gc.get_threshold(),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_host_stalls", description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, nargs="+", default=[20_000, 50_000])
    p.add_argument("--real", type=int, default=5000,
                   help="stations built from frames; the rest are copies of them (restore's decode)")
    p.add_argument("--rounds", type=int, default=16,
                   help="Heartbeat (+ MeterValues) rounds to reach the steady recent-event history (50 kept)")
    p.add_argument("--steady-rounds", type=int, default=4, help="rounds timed in the steady state, and after gc.freeze")
    a = p.parse_args(argv)
    for n in a.stations:
        # Each size in a fresh process, so one size's garbage does not time the next.
        pid = os.fork()
        if pid == 0:
            result = asyncio.run(measure(n, a.real, a.rounds, a.steady_rounds))
            print(msgspec.json.encode(result).decode(), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
