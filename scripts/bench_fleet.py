"""Light fleet load client: thousands of OCPP 1.6J stations per event loop, per-second latency, the server's CPU and PSS from /proc.

Light enough that on 2 cores the server, not the client, is measured: one asyncio loop
(uvloop when installed) holds many stations, each a socket, a protocol object of three slots
and a few ints in shared arrays; frames are built by string formatting (scripts.fleet_frames),
periodic sends come from one cursor per schedule instead of a timer per station, and
`--processes N` splits the fleet over N loops. Latency is histogrammed per second and action,
so a stall shows as a second with a large max; CALLERRORs and disconnects are counted with
their codes; the server's CPU and PSS are sampled from /proc every second over the window for
the process trees given (`--server-pids`: the `csms serve` pid takes every Ray process it
started; the baseline's pid) or for the baseline it starts itself (`--start-baseline`).

Modes:
- idle: every station sends a Heartbeat every --heartbeat-interval (300 s) while --probes
  (20) probe stations send one every --probe-interval (1 s): the probes' latency is the figure.
- realistic: idle plus half of the non-probe stations charging: one StartTransaction, then
  MeterValues with 4 sampled values every --meter-interval (60 s).
- storm: every station connects + BootNotification + StatusNotification as fast as
  --connect-rate / --connect-concurrency allow; the figure is the time until all are Accepted.
- throughput: (200) stations send Heartbeats back to back for the window: CALLs/s.

    python -m scripts.bench_fleet --start-baseline --url ws://127.0.0.1:9100 --mode idle --stations 2000
    python -m scripts.bench_fleet --url ws://127.0.0.1:8000 --data-root /tmp/csms --register \\
        --server-pids "$(pgrep -f 'csms serve')" --mode idle --stations 2000 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import resource
import sys
import threading
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import msgspec

from scripts import fleet_frames as ff
from scripts.bench_stations import Baseline, ProcSample, ServerProcesses, sample

MODES = ("idle", "realistic", "storm", "throughput")
# What each mode means when --stations / --duration are not given.
MODE_DEFAULTS = {"idle": (2000, 60.0), "realistic": (2000, 60.0), "storm": (2000, 0.0), "throughput": (200, 20.0)}

# Actions, by the small int a station's pending call is recorded with.
ACTIONS = ("Handshake", "BootNotification", "StatusNotification", "StartTransaction", "Heartbeat", "MeterValues")
HANDSHAKE, BOOT, STATUS, START, HEARTBEAT, METER = range(len(ACTIONS))
NO_CALL = -1

# A station's stage.
NEW, OPENING, BOOTING, READY, CLOSED = range(5)
# The histogram key of everything answered before the window's start is known.
RAMP_SECOND = -1_000_000


class FleetConfig(msgspec.Struct, kw_only=True, frozen=True):
    url: str = "ws://127.0.0.1:8000"
    path_prefix: str = "/ocpp/"
    station_prefix: str = "FLT"
    mode: str = "idle"
    stations: int = 2000
    probes: int = 20
    connectors: int = 1
    duration: float = 60.0
    warmup: float = 5.0
    heartbeat_interval: float = 300.0
    meter_interval: float = 60.0
    probe_interval: float = 1.0
    connect_rate: float = 500.0
    connect_concurrency: int = 500
    connect_timeout: float = 30.0
    ready_timeout: float = 600.0
    drain_timeout: float = 10.0
    password: str = "fleet-station-password"
    id_tag: str = "FLEETTAG"
    processes: int = 1

    def station_id(self, index: int) -> str:
        return f"{self.station_prefix}{index:06d}"

    @property
    def total(self) -> int:
        """Stations plus probes (probes only in the modes that have them)."""
        return self.stations + (self.probes if self.mode in ("idle", "realistic") else 0)

    def is_probe(self, index: int) -> bool:
        return index >= self.stations

    def is_charging(self, index: int) -> bool:
        return self.mode == "realistic" and index < self.stations and index % 2 == 0


class WorkerResult(msgspec.Struct, kw_only=True):
    """What one event loop measured; the parent adds these up."""

    stations: int = 0
    ready: int = 0
    held: int = 0
    not_accepted: int = 0
    connect_failures: dict[str, int] = {}
    handshake_statuses: dict[int, int] = {}
    callerrors: dict[str, int] = {}
    close_codes: dict[int, int] = {}
    disconnects_in_window: int = 0
    busy_skips: int = 0
    unanswered: int = 0
    stray_replies: int = 0
    server_calls: int = 0
    sent: int = 0
    t_start: float = 0.0
    t_all_ready: float | None = None
    window_start: float = 0.0
    window_end: float = 0.0
    # action -> second of the window (negative: before it) -> latencies
    histograms: dict[str, dict[int, ff.Histogram]] = {}


class StationProtocol(asyncio.Protocol):
    """One station's socket: reassembles the server's bytes and hands frames to its fleet."""

    __slots__ = ("fleet", "slot", "buf")

    def __init__(self, fleet: Fleet, slot: int) -> None:
        self.fleet, self.slot, self.buf = fleet, slot, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.fleet.on_connected(self.slot, transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        fleet, slot = self.fleet, self.slot
        if self.buf:
            data = self.buf + data
        if fleet.stage[slot] == OPENING:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if not fleet.on_handshake(slot, ff.handshake_status(data[:end])):
                return
            data = data[end + 4:]
        frames, used = ff.parse_ws_frames(data)
        self.buf = data[used:] if used < len(data) else b""
        for _fin, opcode, payload in frames:
            fleet.on_frame(slot, opcode, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fleet.on_lost(self.slot)


class Fleet:
    """The stations of one event loop: per-station ints in arrays indexed by slot."""

    def __init__(self, cfg: FleetConfig, indices: list[int]) -> None:
        self.cfg = cfg
        self.indices = array("l", indices)
        n = len(indices)
        self.stage = array("b", [NEW]) * n
        self.pending_action = array("b", [NO_CALL]) * n
        self.pending_id = array("q", [0]) * n
        self.sent_ns = array("q", [0]) * n
        self.tx_id = array("q", [0]) * n
        self.statuses_sent = array("b", [0]) * n
        self.energy_wh = array("q", [0]) * n
        self.closed_by_server = array("b", [0]) * n
        self.transports: list[asyncio.Transport | None] = [None] * n
        u = urlsplit(cfg.url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.host_header = u.netloc
        self.next_id = 1
        self.timestamp = ""
        self.result = WorkerResult(stations=n)
        self.window_start = self.window_end = float("inf")
        self.in_window = False
        self.closing = False
        self.all_ready = asyncio.Event()
        self.drained = asyncio.Event()
        self.connect_slots = asyncio.Semaphore(cfg.connect_concurrency)
        self._refresh_timestamp()

    # --- sending -------------------------------------------------------------------------

    def _refresh_timestamp(self) -> None:
        self.timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def send(self, slot: int, action: int, payload_json: str) -> None:
        mid = self.next_id
        self.next_id += 1
        self.pending_id[slot] = mid
        self.pending_action[slot] = action
        self.sent_ns[slot] = time.perf_counter_ns()
        self.result.sent += 1
        self.transports[slot].write(ff.call(mid, ACTIONS[action], payload_json))  # type: ignore[union-attr]

    def send_status(self, slot: int) -> None:
        connector = self.statuses_sent[slot] + 1
        status = "Charging" if self.cfg.is_charging(self.indices[slot]) else "Available"
        self.send(slot, STATUS, ff.status_notification(connector, status, self.timestamp))

    def send_heartbeat(self, slot: int) -> None:
        self.send(slot, HEARTBEAT, ff.HEARTBEAT)

    def send_meter_values(self, slot: int) -> None:
        self.energy_wh[slot] += 120  # 7.2 kW for a minute
        self.send(slot, METER, ff.meter_values(1, self.tx_id[slot], self.timestamp, self.energy_wh[slot]))

    # --- receiving -----------------------------------------------------------------------

    def record(self, action: int, latency_ns: int) -> None:
        # Seconds of the window from 0; negative ones are the warm-up; the ramp before the
        # window is known is one bucket of its own.
        ws = self.window_start
        second = math.floor(time.monotonic() - ws) if ws != float("inf") else RAMP_SECOND
        per_second = self.result.histograms.setdefault(ACTIONS[action], {})
        h = per_second.get(second)
        if h is None:
            h = per_second[second] = ff.Histogram(counts={})
        h.record(max(1, latency_ns // 1000))

    def on_connected(self, slot: int, transport: asyncio.Transport) -> None:
        self.transports[slot] = transport
        host = self.host_header
        transport.write(ff.handshake_request(host, self.cfg.path_prefix, self.cfg.station_id(self.indices[slot]),
                                             self.cfg.password))

    def on_handshake(self, slot: int, status: int) -> bool:
        r = self.result
        r.handshake_statuses[status] = r.handshake_statuses.get(status, 0) + 1
        if status != 101:
            self.fail(slot, f"HTTP {status}")
            return False
        self.record(HANDSHAKE, time.perf_counter_ns() - self.sent_ns[slot])
        self.stage[slot] = BOOTING
        self.send(slot, BOOT, ff.boot_notification())
        return True

    def on_frame(self, slot: int, opcode: int, payload: bytes) -> None:
        if opcode == ff.OP_TEXT:
            self.on_message(slot, payload)
        elif opcode == ff.OP_PING:
            self.transports[slot].write(ff.ws_frame(payload, ff.OP_PONG))  # type: ignore[union-attr]
        elif opcode == ff.OP_CLOSE:
            code = ff.close_code(payload)
            r = self.result
            r.close_codes[code] = r.close_codes.get(code, 0) + 1
            self.closed_by_server[slot] = 1
            t = self.transports[slot]
            if t is not None and not t.is_closing():
                t.write(ff.close_frame(code if code != 1005 else 1000))
                t.close()

    def on_message(self, slot: int, text: bytes) -> None:
        now = time.perf_counter_ns()
        r = self.result
        try:
            kind, mid, rest = ff.parse_message(text)
        except ValueError:
            r.stray_replies += 1
            return
        if kind == ff.CALL:
            # The CSMS asked something of the station; this client implements no command.
            r.server_calls += 1
            self.transports[slot].write(ff.call_error(mid, "NotImplemented", "load client"))  # type: ignore[union-attr]
            return
        action = self.pending_action[slot]
        if action == NO_CALL or mid != str(self.pending_id[slot]):
            r.stray_replies += 1
            return
        self.pending_action[slot] = NO_CALL
        self.record(action, now - self.sent_ns[slot])
        if kind == ff.CALLERROR:
            key = f"{ACTIONS[action]}:{ff.first_string(rest)}"
            r.callerrors[key] = r.callerrors.get(key, 0) + 1
            if self.stage[slot] == BOOTING:
                self.fail(slot, "CALLERROR while booting")
            return
        if action == BOOT:
            answer = msgspec.json.decode(rest[:rest.rindex(b"]")])
            if answer.get("status") != "Accepted":
                r.not_accepted += 1
                self.fail(slot, f"Boot {answer.get('status')}")
                return
            self.send_status(slot)
        elif action == STATUS:
            self.statuses_sent[slot] += 1
            if self.statuses_sent[slot] < self.cfg.connectors:
                self.send_status(slot)
            elif self.cfg.is_charging(self.indices[slot]):
                self.send(slot, START, ff.start_transaction(1, self.cfg.id_tag, 0, self.timestamp))
            else:
                self.ready(slot)
        elif action == START:
            answer = msgspec.json.decode(rest[:rest.rindex(b"]")])
            self.tx_id[slot] = answer["transactionId"]
            self.ready(slot)
        elif action == HEARTBEAT and self.cfg.mode == "throughput" and self.in_window:
            self.send_heartbeat(slot)  # back to back
        if self.closing and self.pending_action[slot] == NO_CALL:
            self._check_drained()

    def ready(self, slot: int) -> None:
        self.stage[slot] = READY
        self.connect_slots.release()
        self.result.ready += 1
        self._check_all_ready()

    def fail(self, slot: int, why: str) -> None:
        r = self.result
        r.connect_failures[why] = r.connect_failures.get(why, 0) + 1
        if self.stage[slot] in (NEW, OPENING, BOOTING):
            self.connect_slots.release()
        self.stage[slot] = CLOSED
        t = self.transports[slot]
        if t is not None:
            t.close()
        self._check_all_ready()

    def on_lost(self, slot: int) -> None:
        self.transports[slot] = None
        if self.stage[slot] == CLOSED or self.closing:
            return
        r = self.result
        if not self.closed_by_server[slot]:
            r.close_codes[1006] = r.close_codes.get(1006, 0) + 1  # no close frame (RFC 6455 7.1.5)
        if self.stage[slot] == READY:
            if self.in_window:
                r.disconnects_in_window += 1
            self.stage[slot] = CLOSED
        else:
            self.fail(slot, "closed before ready")

    def _check_all_ready(self) -> None:
        r = self.result
        if r.ready + sum(r.connect_failures.values()) >= r.stations and not self.all_ready.is_set():
            r.t_all_ready = time.monotonic()
            self.all_ready.set()

    def _check_drained(self) -> None:
        if not any(a != NO_CALL for a in self.pending_action):
            self.drained.set()

    # --- the run -------------------------------------------------------------------------

    async def open(self, slot: int) -> None:
        loop = asyncio.get_running_loop()
        self.stage[slot] = OPENING
        self.sent_ns[slot] = time.perf_counter_ns()
        try:
            await asyncio.wait_for(loop.create_connection(lambda: StationProtocol(self, slot), self.host, self.port),
                                   self.cfg.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.fail(slot, type(exc).__name__)

    async def connect_all(self) -> None:
        """Opens every station's socket: at most --connect-rate per second and
        --connect-concurrency between the first SYN and the last answered status."""
        tasks = set()
        rate, t0 = self.cfg.connect_rate, time.monotonic()
        for slot in range(len(self.indices)):
            if rate > 0:
                wait = t0 + slot / rate - time.monotonic()
                if wait > 0.002:
                    await asyncio.sleep(wait)
            await self.connect_slots.acquire()
            task = asyncio.ensure_future(self.open(slot))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def run_schedules(self) -> None:
        """Periodic sends from the moment every station is ready until the window ends."""
        cfg = self.cfg
        schedules: list[tuple[array, float, int]] = []
        regular = array("l", [s for s in range(len(self.indices)) if not cfg.is_probe(self.indices[s])])
        probes = array("l", [s for s in range(len(self.indices)) if cfg.is_probe(self.indices[s])])
        charging = array("l", [s for s in regular if cfg.is_charging(self.indices[s])])
        if cfg.mode in ("idle", "realistic"):
            schedules += [(regular, cfg.heartbeat_interval, HEARTBEAT), (probes, cfg.probe_interval, HEARTBEAT)]
        if cfg.mode == "realistic":
            schedules.append((charging, cfg.meter_interval, METER))
        cursors = [0] * len(schedules)
        origin = time.monotonic()
        last_second = int(time.time())
        while time.monotonic() < self.window_end:
            await asyncio.sleep(0.02)
            if int(time.time()) != last_second:
                last_second = int(time.time())
                self._refresh_timestamp()
            now = time.monotonic()
            self.in_window = self.window_start <= now < self.window_end
            for i, (members, period, action) in enumerate(schedules):
                due = ff.due_count(now - origin, len(members), period)
                while cursors[i] < due:
                    slot = members[cursors[i] % len(members)]
                    cursors[i] += 1
                    if self.stage[slot] != READY or self.pending_action[slot] != NO_CALL:
                        self.result.busy_skips += 1
                    elif action == METER:
                        self.send_meter_values(slot)
                    else:
                        self.send_heartbeat(slot)
        self.in_window = False

    async def run(self, all_processes_ready: Callable[[], object] | None = None) -> WorkerResult:
        cfg, r = self.cfg, self.result
        r.t_start = time.monotonic()
        if cfg.mode == "storm":
            self.window_start = r.t_start
        connecting = asyncio.ensure_future(self.connect_all())
        try:
            await asyncio.wait_for(self.all_ready.wait(), cfg.ready_timeout)
        except TimeoutError:
            pass
        if cfg.mode == "storm":
            self.window_end = r.t_all_ready or time.monotonic()
        else:
            if all_processes_ready is not None:
                await asyncio.to_thread(all_processes_ready)  # the windows of all processes coincide
            self.window_start = time.monotonic() + cfg.warmup
            self.window_end = self.window_start + cfg.duration
            if cfg.mode == "throughput":
                await asyncio.sleep(max(0.0, self.window_start - time.monotonic()))
                self.in_window = True
                for slot in range(len(self.indices)):
                    if self.stage[slot] == READY and self.pending_action[slot] == NO_CALL:
                        self.send_heartbeat(slot)
            await self.run_schedules()
        r.window_start, r.window_end = self.window_start, self.window_end
        r.held = sum(1 for s in self.stage if s == READY)
        self.closing = True
        self._check_drained()
        try:
            await asyncio.wait_for(self.drained.wait(), cfg.drain_timeout)
        except TimeoutError:
            pass
        r.unanswered = sum(1 for a in self.pending_action if a != NO_CALL)
        connecting.cancel()
        for t in self.transports:
            if t is not None and not t.is_closing():
                t.write(ff.close_frame(1000))
                t.close()
        await asyncio.sleep(0.5)  # let the close frames leave before the loop ends
        return r


# ---------------------------------------------------------------------------------------
# Processes: the client's workers and the server's /proc samples


class ProcSeries:
    """Samples a process set from /proc in a thread, off the stations' loop: CPU every
    `interval` s, memory (PSS, costly) every `memory_every`-th time."""

    def __init__(self, pids_of: Callable[[], list[int]], interval: float = 1.0, memory_every: int = 5) -> None:
        self.pids_of = pids_of
        self.interval = interval
        self.memory_every = memory_every
        self.cpu: list[tuple[float, ProcSample]] = []
        self.memory: list[tuple[float, ProcSample]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _take(self, memory: bool) -> None:
        s = sample(self.pids_of(), memory)
        t = time.monotonic()
        self.cpu.append((t, s))
        if memory:
            self.memory.append((t, s))

    def _loop(self) -> None:
        n = 0
        while True:
            self._take(n % self.memory_every == 0)
            n += 1
            if self._stop.wait(self.interval):
                return

    def start(self) -> ProcSeries:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._take(True)

    def cpu_over(self, t0: float, t1: float) -> list[tuple[float, ProcSample]]:
        """The CPU samples that bracket [t0, t1]: the last one at or before t0 to the first at or after t1."""
        before = [i for i, (t, _) in enumerate(self.cpu) if t <= t0]
        after = [i for i, (t, _) in enumerate(self.cpu) if t >= t1]
        first = before[-1] if before else 0
        last = after[0] if after else len(self.cpu) - 1
        return self.cpu[first:last + 1]

    def memory_over(self, t0: float, t1: float) -> list[int]:
        return [s.pss_kib for t, s in self.memory if t0 <= t <= t1]


def cores_between(samples: list[tuple[float, ProcSample]]) -> float | None:
    """Average cores used between the first and the last sample (utime + stime)."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return None
    return (samples[-1][1].cpu_s - samples[0][1].cpu_s) / (samples[-1][0] - samples[0][0])


def split_indices(total: int, processes: int) -> list[list[int]]:
    """Round-robin, so every process holds its share of probes and charging stations."""
    return [list(range(p, total, processes)) for p in range(processes)]


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if needed + 64 > hard:
        raise ValueError(f"{needed} sockets in one process exceed the open-file limit {hard}: use --processes")


def _run_loop(coro):
    try:
        import uvloop  # optional: not a Ray dependency, but usually installed with uvicorn[standard]
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _worker_main(cfg: FleetConfig, indices: list[int], go, ready_barrier, out) -> None:
    """A client process: waits for the parent's go, runs its fleet, sends back its result."""
    go.wait()

    async def main() -> WorkerResult:
        return await Fleet(cfg, indices).run(lambda: ready_barrier.wait(cfg.ready_timeout + 60))

    out.put(msgspec.msgpack.encode(_run_loop(main())))


def merge_results(results: list[WorkerResult]) -> WorkerResult:
    out = WorkerResult(histograms={})
    for r in results:
        for name in ("stations", "ready", "held", "not_accepted", "disconnects_in_window", "busy_skips",
                     "unanswered", "stray_replies", "server_calls", "sent"):
            setattr(out, name, getattr(out, name) + getattr(r, name))
        for name in ("connect_failures", "handshake_statuses", "callerrors", "close_codes"):
            setattr(out, name, dict(Counter(getattr(out, name)) + Counter(getattr(r, name))))
        for action, seconds in r.histograms.items():
            mine = out.histograms.setdefault(action, {})
            for second, h in seconds.items():
                mine.setdefault(second, ff.Histogram(counts={})).merge(h)
    out.t_start = min(r.t_start for r in results)
    readies = [r.t_all_ready for r in results]
    out.t_all_ready = None if None in readies else max(readies)  # type: ignore[type-var]
    out.window_start = min(r.window_start for r in results)
    out.window_end = max(r.window_end for r in results)
    return out


# ---------------------------------------------------------------------------------------
# The report


def window_histogram(r: WorkerResult, actions: tuple[str, ...], first: int, last: int) -> ff.Histogram:
    return ff.merged([h for a in actions for s, h in r.histograms.get(a, {}).items() if first <= s <= last])


def report(cfg: FleetConfig, target: str, r: WorkerResult, server: ProcSeries | None, client: ProcSeries,
           base_pss_kib: int | None) -> dict:
    storm = cfg.mode == "storm"
    span = r.window_end - r.window_start
    # A storm's window ends when its last station is ready: its last second is a partial one.
    seconds = max(1, math.ceil(span) if storm else round(span))
    measured = ("BootNotification", "StatusNotification") if storm else ("Heartbeat", "MeterValues")
    per_second = []
    for s in range(seconds):
        h = window_histogram(r, measured, s, s)
        row = {"s": s, "answered": h.n, **{k: v for k, v in h.summary_ms().items() if k != "n"}}
        if server is not None:
            t0 = r.window_start + s
            row["server_cores"] = cores_between(server.cpu_over(t0, t0 + 1))
            near = server.memory_over(t0, t0 + 1)
            row["server_pss_mib"] = round(near[0] / 1024) if near else None
        per_second.append(row)
    window = server.cpu_over(r.window_start, r.window_end) if server else []
    pss = server.memory_over(r.window_start, r.window_end + 2) if server else []
    in_window = {a: window_histogram(r, (a,), 0 if not storm else RAMP_SECOND, seconds - 1) for a in ACTIONS}
    by_action = {a: h.summary_ms() for a, h in in_window.items() if h.n}
    if not storm:
        # The probes' Heartbeats are the idle figure; in realistic mode the MeterValues too.
        by_action.update({f"{a} (whole run)": window_histogram(r, (a,), RAMP_SECOND, seconds).summary_ms()
                          for a in ("Handshake", "BootNotification")})
    answered_in_window = window_histogram(r, measured, 0, seconds - 1).n
    held = r.held
    end_pss = pss[-1] if pss else None
    out = {
        "target": target, "mode": cfg.mode, "stations": cfg.stations,
        "probes": cfg.probes if cfg.mode in ("idle", "realistic") else 0,
        "held": held, "ready_s": round(r.t_all_ready - r.t_start, 1) if r.t_all_ready else None,
        "connects_per_s": round(r.ready / (r.t_all_ready - r.t_start), 1) if r.t_all_ready else None,
        "window_s": round(r.window_end - r.window_start, 1),
        "calls_per_s": round(answered_in_window / max(1e-9, r.window_end - r.window_start), 1),
        "latency": by_action,
        "server_cores": round(c, 3) if (c := cores_between(window)) is not None else None,
        "server_pss_mib": round(max(pss) / 1024) if pss else None,
        "server_base_pss_mib": round(base_pss_kib / 1024) if base_pss_kib else None,
        "kib_per_station": (round((end_pss - base_pss_kib) / held, 1)
                            if end_pss and base_pss_kib and held else None),
        "server_processes": max((s.pids for _, s in window), default=None),
        "client_cores": round(c, 3) if (c := cores_between(client.cpu_over(r.window_start, r.window_end))) else None,
        "client_pss_mib": round(client.memory[-1][1].pss_kib / 1024) if client.memory else None,
        "callerrors": r.callerrors, "close_codes": r.close_codes,
        "disconnects_in_window": r.disconnects_in_window, "connect_failures": r.connect_failures,
        "not_accepted": r.not_accepted, "unanswered": r.unanswered, "busy_skips": r.busy_skips,
        "stray_replies": r.stray_replies, "server_calls": r.server_calls,
        "client_processes": cfg.processes, "uvloop": _has_uvloop(), "loadavg_1m_end": _loadavg(),
        "per_second": per_second,
    }
    return out


def _loadavg() -> float:
    """The machine's 1-minute load average: on a shared machine, how much else ran."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _f(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def table(out: dict) -> str:
    lines = ["| s | answered | p50 ms | p99 ms | max ms | server cores | server PSS MiB |", "|---|---|---|---|---|---|---|"]
    for row in out["per_second"]:
        lines.append(f"| {row['s']} | {row['answered']} | {_f(row['p50_ms'])} | {_f(row['p99_ms'])} | "
                     f"{_f(row['max_ms'])} | {_f(row.get('server_cores'))} | {_f(row.get('server_pss_mib'))} |")
    lines += ["", "| action | n | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for action, s in out["latency"].items():
        lines.append(f"| {action} | {s['n']} | {_f(s['p50_ms'])} | {_f(s['p99_ms'])} | {_f(s['max_ms'])} |")
    lines += ["", "| target | mode | held | ready s | connects/s | CALLs/s | server cores | server PSS MiB "
              "| base PSS MiB | KiB/station | client cores | client PSS MiB | CALLERRORs | disconnects |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
              f"| {out['target']} | {out['mode']} | {out['held']:,} | {_f(out['ready_s'])} | "
              f"{_f(out['connects_per_s'])} | {_f(out['calls_per_s'])} | {_f(out['server_cores'])} | "
              f"{_f(out['server_pss_mib'])} | {_f(out['server_base_pss_mib'])} | {_f(out['kib_per_station'])} | "
              f"{_f(out['client_cores'])} | {_f(out['client_pss_mib'])} | {sum(out['callerrors'].values())} | "
              f"{out['disconnects_in_window']} |"]
    notes = {k: out[k] for k in ("callerrors", "close_codes", "connect_failures", "not_accepted", "unanswered",
                                 "busy_skips", "stray_replies", "server_calls") if out[k]}
    if notes:
        lines.append(f"notes: {notes}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------


def operator_token(a: argparse.Namespace) -> str | None:
    if a.token:
        return a.token
    if a.data_root:
        path = Path(a.data_root) / "operator-token"
        return path.read_text().strip()
    return None


async def register(cfg: FleetConfig, api_url: str, token: str | None, bulk: bool = False) -> None:
    """PUT every station (password) and the id tag through the operator API; with `bulk`, one
    POST /api/bulk/stations and one /api/bulk/id-tags instead (what a large fleet's run uses)."""
    if bulk:
        import httpx

        t0 = time.monotonic()
        rows = [{"station_id": cfg.station_id(i), "password": cfg.password, "site": "fleet"} for i in range(cfg.total)]
        async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=600, trust_env=False) as api:
            (await api.post("/api/bulk/stations", json=rows)).raise_for_status()
            (await api.post("/api/bulk/id-tags", json=[{"id_tag": cfg.id_tag, "status": "Accepted"}])).raise_for_status()
        print(f"registered {len(rows)} stations + id tag in bulk in {time.monotonic() - t0:.1f} s", flush=True)
        return
    from scripts.simulator import SimulationConfig, register_stations

    reg = SimulationConfig(url=cfg.url, station_prefix=cfg.station_prefix, stations=cfg.total,
                           password=cfg.password, id_tag=cfg.id_tag, api_url=api_url, token=token,
                           site="fleet", register=True)
    t0 = time.monotonic()
    ok, _ = await register_stations(reg)
    print(f"registered {ok} (stations + id tag) in {time.monotonic() - t0:.1f} s", flush=True)


async def amain(a: argparse.Namespace, cfg: FleetConfig, workers: list | None, go, barrier, results_q) -> dict:
    u = urlsplit(cfg.url)
    api_url = a.api_url or f"http://{u.netloc}"
    baseline = None
    if a.start_baseline:
        baseline = Baseline(u.port or 9100, int(cfg.heartbeat_interval))
        await baseline.__aenter__()
    try:
        if a.register:
            await register(cfg, api_url, operator_token(a), bulk=a.register_bulk)
        roots = [baseline.proc.pid] if baseline else [int(p) for p in a.server_pids.split(",") if p.strip()]
        server = ServerProcesses(roots) if roots else None
        # The server's memory before the first station: what each station adds is measured from it.
        base_pss = sample(server.pids()).pss_kib if server else None
        server_series = ProcSeries(server.pids).start() if server else None
        client_pids = [os.getpid()] + [w.pid for w in workers or []]
        client_series = ProcSeries(lambda: client_pids, memory_every=10**9).start()
        if workers:
            go.set()
            parts = [msgspec.msgpack.decode(await asyncio.to_thread(results_q.get), type=WorkerResult)
                     for _ in workers]
            result = merge_results(parts)
        else:
            result = await Fleet(cfg, list(range(cfg.total))).run()
        client_series.stop()
        if server_series:
            server_series.stop()
    finally:
        if baseline is not None:
            await baseline.__aexit__(None, None, None)
    target = a.target or ("baseline" if a.start_baseline else "csms")
    return report(cfg, target, result, server_series, client_series, base_pss)


def build_parser() -> argparse.ArgumentParser:
    d = FleetConfig()
    p = argparse.ArgumentParser(prog="python -m scripts.bench_fleet", description=__doc__.splitlines()[0])
    p.add_argument("--url", default=d.url, help="station base URL (ws://host:port)")
    p.add_argument("--mode", choices=MODES, default=d.mode)
    p.add_argument("--stations", type=int, default=None, help="stations besides the probes (per mode)")
    p.add_argument("--duration", type=float, default=None, help="measured window, s (per mode)")
    for name in ("probes", "connectors", "processes", "connect_concurrency"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    for name in ("warmup", "heartbeat_interval", "meter_interval", "probe_interval",
                 "connect_timeout", "ready_timeout", "drain_timeout"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(d, name))
    p.add_argument("--connect-rate", type=float, default=None,
                   help="new connections per second, 0 = unlimited (default 500; storm: 0)")
    p.add_argument("--station-prefix", default=d.station_prefix)
    p.add_argument("--password", default=d.password)
    p.add_argument("--id-tag", default=d.id_tag)
    p.add_argument("--target", default=None, help="name of the server in the output (default: baseline/csms)")
    p.add_argument("--start-baseline", action="store_true",
                   help="run scripts.baseline_central_system on --url's port for this run and measure it")
    p.add_argument("--server-pids", default="", help="comma-separated root pids of the server's process trees")
    p.add_argument("--register", action="store_true", help="register stations and id tag through the API first")
    p.add_argument("--register-bulk", action="store_true", help="with --register: one bulk request, not a PUT each")
    p.add_argument("--api-url", default=None, help="operator API (default: http:// + --url's host:port)")
    p.add_argument("--token", default=os.environ.get("CSMS_API_TOKEN"), help="operator bearer token")
    p.add_argument("--data-root", default=None, help="read the token from <data-root>/operator-token")
    p.add_argument("--json-out", default=None, help="append the full result as one JSON line to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    stations, duration = MODE_DEFAULTS[a.mode]
    fields = {f: getattr(a, f) for f in FleetConfig.__struct_fields__ if hasattr(a, f) and getattr(a, f) is not None}
    storm = a.mode == "storm"  # a storm connects as fast as it can unless told otherwise
    cfg = FleetConfig(**{**fields, "stations": a.stations or stations,
                         "duration": duration if a.duration is None else a.duration,
                         "connect_rate": (0.0 if storm else 500.0) if a.connect_rate is None else a.connect_rate})
    try:
        _raise_fd_limit(-(-cfg.total // cfg.processes))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = go = barrier = results_q = None
    if cfg.processes > 1:
        # Forked before any event loop or thread exists in this process.
        ctx = multiprocessing.get_context("fork")
        go, barrier, results_q = ctx.Event(), ctx.Barrier(cfg.processes), ctx.Queue()
        workers = [ctx.Process(target=_worker_main, args=(cfg, part, go, barrier, results_q), daemon=True)
                   for part in split_indices(cfg.total, cfg.processes)]
        for w in workers:
            w.start()
    try:
        out = _run_loop(amain(a, cfg, workers, go, barrier, results_q))
    finally:
        for w in workers or []:
            w.join(5)
            if w.is_alive():
                w.terminate()
    print()
    print(f"bench_fleet {cfg.mode}: {cfg.stations} stations + {out['probes']} probes against {cfg.url}, "
          f"{cfg.duration:g} s window after {cfg.warmup:g} s warm-up; {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {out['loadavg_1m_end']}")
    print(table(out))
    line = msgspec.json.encode({k: v for k, v in out.items() if k != "per_second"}).decode()
    print(f"BENCH_FLEET {line}")
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(msgspec.json.encode(out).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
