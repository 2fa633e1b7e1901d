"""A lean OCPP 1.6J and 2.0.1 charge station simulator for load tests, benchmarks and demos.

Each simulated station is a handful of coroutines over one `websockets` client connection
that writes raw OCPP-J frames (`[2, id, action, payload]`) encoded with msgspec. It does
not use the `ocpp` library's ChargePoint: its jsonschema validation costs about 0.5 ms per
message and would make the load generator the bottleneck (DESIGN.md, measured pitfalls).

`ocpp` picks the version every station speaks ("1.6", "2.0.1", or "mixed": every other
station 2.0.1); what each version's messages look like is scripts.simulator_ocpp.

Modes:

- ``realistic``: Boot, StatusNotification for connectors 0..N, Heartbeat every
  ``heartbeat_interval`` s, and charging sessions per connector (Authorize,
  StartTransaction, StatusNotification Charging, MeterValues every ``meter_interval`` s,
  StopTransaction, StatusNotification Available; 2.0.1: one EVSE per connector, Authorize,
  TransactionEvent Started, StatusNotification Occupied, TransactionEvent Updated with the
  meter values every ``meter_interval`` s, TransactionEvent Ended, StatusNotification Available).
- ``throughput``: once accepted, each station sends CALLs back to back (still one
  outstanding CALL per connection) for the whole run, to find peak CALLs/s.
- ``storm``: every station connects as fast as allowed and does Boot + a
  StatusNotification per connector; the report gives the time until every station had
  all of them answered with a CALLRESULT. The run ends then (or at ``duration``).

Stations reconnect with exponential backoff and jitter, and resend an unanswered
transaction message (StartTransaction, StopTransaction, MeterValues; 2.0.1 TransactionEvent) after reconnecting,
as OCPP requires. Only loopback targets are allowed; every run is bounded in stations and
time and stops by itself.

    python -m scripts.simulator --stations 100 --url ws://127.0.0.1:8000 --duration 30
    python -m scripts.simulator --mode throughput --stations 200 --duration 10 --json
    python -m scripts.simulator --ocpp 2.0.1 --stations 100 --duration 30
    python -m scripts.simulator --register --api-url http://127.0.0.1:8000 --token T ...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import ipaddress
import math
import os
import random
import resource
import sys
import time
import uuid
from array import array
from collections import Counter
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from scripts.simulator_ocpp import VERSIONS, dialect_of

MODES = ("realistic", "throughput", "storm")
MIXES = ("heartbeat", "mixed")

# Hard bounds: this tool generates load only against this machine, for a bounded time.
MAX_STATIONS = 200_000
MAX_DURATION_S = 6 * 3600.0
# File descriptors kept free per worker process for everything that is not a station.
_FD_RESERVE = 512
# Completions are counted in buckets of this many seconds (for steady-state rates).
_BUCKET_S = 0.1


class SimulationConfig(msgspec.Struct, kw_only=True):
    """Every knob of a simulation run. Times are seconds."""

    url: str = "ws://127.0.0.1:8000"
    # Stations connect to {url}{path_prefix}{station_id}.
    path_prefix: str = "/ocpp/"
    station_prefix: str = "SIM"
    stations: int = 10
    # Station ids are {station_prefix}{index:06d} for index in [first_index, first_index+stations).
    first_index: int = 0
    # OCPP 1.6 security profile 1/2 passwords are 16 to 40 characters.
    password: str = "simulated-station-pw"
    connectors: int = 2
    mode: str = "realistic"
    # The OCPP version the stations speak: "1.6", "2.0.1" or "mixed" (scripts.simulator_ocpp).
    ocpp: str = "1.6"
    # Run length, from the first connection attempt; the run then stops by itself.
    duration: float = 60.0
    # New stations started per second (first connections only); 0 = all at once.
    ramp_rate: float = 200.0
    # Handshakes in flight at once per worker process (0 = unlimited).
    connect_concurrency: int = 256
    open_timeout: float = 30.0
    close_timeout: float = 2.0
    # How long a CALL waits for its CALLRESULT/CALLERROR.
    message_timeout: float = 30.0
    # A transaction message that timed out is resent after this long.
    retry_interval: float = 5.0
    heartbeat_interval: float = 300.0
    meter_interval: float = 60.0
    # Charging sessions: duration and idle time between sessions, uniform in [min, max].
    session_min: float = 600.0
    session_max: float = 2400.0
    idle_min: float = 300.0
    idle_max: float = 1800.0
    # Begin in steady state: at the start, each connector is already charging with the
    # steady-state probability mean_session / (mean_session + mean_idle): it starts its
    # transaction within the first meter interval and charges uniform(0, session_max);
    # otherwise it first idles uniform(0, idle_max).
    steady_start: bool = True
    # The "steady" figures (latency percentiles, CALLs/s) count from this many seconds
    # after the last station became ready (connected, accepted, statuses sent).
    warmup: float = 0.0
    id_tag: str = "SIMTAG"
    # Throughput mode: "heartbeat" = Heartbeats only; "mixed" = 50% Heartbeat,
    # 30% MeterValues (connector-level, no transaction), 20% StatusNotification.
    mix: str = "heartbeat"
    # Storm mode: keep the connections this long after every station completed.
    storm_hold: float = 0.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    # websockets keepalive pings; None = off (stations rely on Heartbeat, like most do).
    ping_interval: float | None = None
    max_frame_bytes: int = 1 << 20
    vendor: str = "SimVendor"
    model: str = "SimModel"
    seed: int = 0
    # Worker processes sharing the stations (0 = as few as the file descriptor limit allows).
    workers: int = 0
    # Register stations and the id tag through the operator API before the run.
    register: bool = False
    api_url: str | None = None
    token: str | None = None
    site: str | None = "simulator"
    register_concurrency: int = 32
    register_timeout: float = 10.0

    def station_id(self, index: int) -> str:
        return f"{self.station_prefix}{index:06d}"

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.mix not in MIXES:
            raise ValueError(f"mix must be one of {MIXES}, not {self.mix!r}")
        if self.ocpp not in VERSIONS:
            raise ValueError(f"ocpp must be one of {VERSIONS}, not {self.ocpp!r}")
        if not 1 <= self.stations <= MAX_STATIONS:
            raise ValueError(f"stations must be in [1, {MAX_STATIONS}]")
        if not 0 < self.duration <= MAX_DURATION_S:
            raise ValueError(f"duration must be in (0, {MAX_DURATION_S}] s")
        if self.connectors < 1:
            raise ValueError("connectors must be >= 1")
        if self.message_timeout <= 0 or self.heartbeat_interval <= 0 or self.meter_interval <= 0:
            raise ValueError("message_timeout, heartbeat_interval and meter_interval must be > 0")
        if self.session_min > self.session_max or self.idle_min > self.idle_max:
            raise ValueError("session_min/idle_min must not exceed session_max/idle_max")
        if len(self.id_tag) > 20:
            raise ValueError("id_tag is at most 20 characters (OCPP CiString20)")
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"url must be ws:// or wss://, not {self.url!r}")
        require_loopback(self.url)
        if self.register:
            if not self.api_url:
                raise ValueError("register needs api_url")
            require_loopback(self.api_url)


def require_loopback(url: str) -> None:
    """Refuse any target that is not on this machine's loopback interface."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"only loopback targets are allowed (127.0.0.0/8, ::1, localhost), not {host!r}")


# ---------------------------------------------------------------------------------------
# Statistics


class Stats:
    """Raw counters and latency samples of one worker process; merged across workers."""

    def __init__(self) -> None:
        self.latency: dict[str, array] = {}
        self.steady_latency = array("d")  # every action, after the ramp and the warmup
        self.sent: Counter[str] = Counter()
        self.results: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()  # connection closed before the answer
        self.aborted: Counter[str] = Counter()  # outstanding when the run stopped
        self.resends: Counter[str] = Counter()
        self.errors_by_code: Counter[str] = Counter()
        self.incoming: Counter[str] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.connections_opened = 0
        self.disconnects = 0
        self.late_results = 0
        self.malformed = 0
        self.stations_connected = 0
        self.stations_accepted = 0
        self.transactions_started = 0
        self.transactions_stopped = 0
        self.authorizations_rejected = 0
        self.storm_completed = 0
        self.storm_failed = 0
        self.connections_held = 0
        self.buckets = array("q")
        # Seconds since the run's start at which the last station of this worker became
        # ready (None if some never did), and at which the storm completed for it.
        self.all_ready_at: float | None = None
        self.storm_done_at: float | None = None
        self.ended_at = 0.0

    def bucket(self, t: float) -> None:
        i = int(t / _BUCKET_S)
        b = self.buckets
        if i >= len(b):
            b.extend([0] * (i + 1 - len(b) + 64))
        b[i] += 1

    def merge(self, other: Stats) -> None:
        for action, samples in other.latency.items():
            self.latency.setdefault(action, array("d")).extend(samples)
        self.steady_latency.extend(other.steady_latency)
        for name in ("sent", "results", "errors", "timeouts", "lost", "aborted", "resends",
                     "errors_by_code", "incoming", "connect_failures"):
            getattr(self, name).update(getattr(other, name))
        for name in ("connections_opened", "disconnects", "late_results", "malformed",
                     "stations_connected", "stations_accepted", "transactions_started",
                     "transactions_stopped", "authorizations_rejected", "storm_completed",
                     "storm_failed", "connections_held"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if len(other.buckets) > len(self.buckets):
            self.buckets.extend([0] * (len(other.buckets) - len(self.buckets)))
        for i, n in enumerate(other.buckets):
            self.buckets[i] += n
        for name in ("all_ready_at", "storm_done_at"):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, None if mine is None or theirs is None else max(mine, theirs))
        self.ended_at = max(self.ended_at, other.ended_at)


class ActionReport(msgspec.Struct, kw_only=True):
    sent: int
    results: int
    errors: int
    timeouts: int
    lost: int
    aborted: int
    resends: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class SimulationReport(msgspec.Struct, kw_only=True):
    mode: str
    url: str
    stations: int
    workers: int
    duration_s: float
    stations_connected: int
    stations_accepted: int
    connections_held: int
    connections_opened: int
    connections_failed: int
    connect_failures: dict[str, int]
    disconnects: int
    calls_sent: int
    callresults: int
    callerrors: int
    timeouts: int
    lost: int
    aborted: int
    resends: int
    late_results: int
    malformed: int
    errors_by_code: dict[str, int]
    calls_per_s: float
    # Seconds from the start until every station was ready (connected, accepted, statuses
    # sent); None if some never was.
    all_ready_s: float | None
    # CALLs answered per second, and latency, from `warmup` s after every station was
    # ready to the end (None if some station never was).
    steady_calls_per_s: float | None
    steady_window_s: float | None
    steady_p50_ms: float | None
    steady_p95_ms: float | None
    steady_p99_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    by_action: dict[str, ActionReport]
    transactions_started: int
    transactions_stopped: int
    authorizations_rejected: int
    incoming_calls: dict[str, int]
    storm_completed: int
    storm_failed: int
    # Storm: seconds from the run's start until every station was Accepted with all its
    # StatusNotifications answered; None if some station never got there.
    storm_time_s: float | None
    registered: int | None = None
    register_failures: int | None = None

    @property
    def all_answered(self) -> bool:
        """Every CALL sent got a CALLRESULT (none errored, timed out or was lost)."""
        return self.calls_sent == self.callresults + self.aborted and self.callerrors == 0


def _percentiles(samples: array | list[float]) -> tuple[float | None, ...]:
    if not samples:
        return (None, None, None, None)
    s = sorted(samples)
    n = len(s)

    def q(p: float) -> float:
        return round(s[min(n - 1, max(0, math.ceil(p * n) - 1))] * 1000.0, 3)

    return (q(0.50), q(0.95), q(0.99), round(s[-1] * 1000.0, 3))


def build_report(cfg: SimulationConfig, stats: Stats, workers: int) -> SimulationReport:
    actions = sorted(set(stats.sent) | set(stats.latency))
    by_action = {}
    for a in actions:
        p50, p95, p99, mx = _percentiles(stats.latency.get(a, array("d")))
        by_action[a] = ActionReport(
            sent=stats.sent[a], results=stats.results[a], errors=stats.errors[a],
            timeouts=stats.timeouts[a], lost=stats.lost[a], aborted=stats.aborted[a],
            resends=stats.resends[a], p50_ms=p50, p95_ms=p95, p99_ms=p99, max_ms=mx,
        )
    everything = array("d")
    for samples in stats.latency.values():
        everything.extend(samples)
    p50, p95, p99, mx = _percentiles(everything)
    answered = sum(stats.results.values()) + sum(stats.errors.values())
    duration = stats.ended_at
    steady = window = None
    if stats.all_ready_at is not None:
        first = math.ceil((stats.all_ready_at + cfg.warmup) / _BUCKET_S)
        last = int(duration / _BUCKET_S)  # the last, partial bucket is left out
        if last - first >= 1:
            window = (last - first) * _BUCKET_S
            steady = round(sum(stats.buckets[first:last]) / window, 1)
            window = round(window, 3)
    sp50, sp95, sp99, _ = _percentiles(stats.steady_latency) if window else (None,) * 4
    storm_time = None
    if cfg.mode == "storm" and stats.storm_done_at is not None:
        storm_time = round(stats.storm_done_at, 3)
    return SimulationReport(
        mode=cfg.mode, url=cfg.url, stations=cfg.stations, workers=workers,
        duration_s=round(duration, 3),
        stations_connected=stats.stations_connected,
        stations_accepted=stats.stations_accepted,
        connections_held=stats.connections_held,
        connections_opened=stats.connections_opened,
        connections_failed=sum(stats.connect_failures.values()),
        connect_failures=dict(stats.connect_failures),
        disconnects=stats.disconnects,
        calls_sent=sum(stats.sent.values()),
        callresults=sum(stats.results.values()),
        callerrors=sum(stats.errors.values()),
        timeouts=sum(stats.timeouts.values()),
        lost=sum(stats.lost.values()),
        aborted=sum(stats.aborted.values()),
        resends=sum(stats.resends.values()),
        late_results=stats.late_results,
        malformed=stats.malformed,
        errors_by_code=dict(stats.errors_by_code),
        calls_per_s=round(answered / duration, 1) if duration > 0 else 0.0,
        all_ready_s=None if stats.all_ready_at is None else round(stats.all_ready_at, 3),
        steady_calls_per_s=steady, steady_window_s=window,
        steady_p50_ms=sp50, steady_p95_ms=sp95, steady_p99_ms=sp99,
        p50_ms=p50, p95_ms=p95, p99_ms=p99, max_ms=mx,
        by_action=by_action,
        transactions_started=stats.transactions_started,
        transactions_stopped=stats.transactions_stopped,
        authorizations_rejected=stats.authorizations_rejected,
        incoming_calls=dict(stats.incoming),
        storm_completed=stats.storm_completed,
        storm_failed=stats.storm_failed,
        storm_time_s=storm_time,
    )


# ---------------------------------------------------------------------------------------
# One simulated station

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Outcome:
    """Why a CALL ended without a CALLRESULT."""

    ERROR = "error"
    TIMEOUT = "timeout"
    LOST = "lost"  # the connection closed after the CALL was sent
    NOT_SENT = "not sent"  # the connection was already gone


# Answers to CSMS-initiated CALLs whose response has a status other than "Accepted" or none.
_FIXED_ANSWERS: dict[str, dict[str, Any]] = {
    "UnlockConnector": {"status": "Unlocked"},
    "GetLocalListVersion": {"listVersion": 0},
    "GetDiagnostics": {},
    "UpdateFirmware": {},
}
_ACCEPTED_ACTIONS = frozenset({
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "RemoteStartTransaction",
    "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "TriggerMessage", "ExtendedTriggerMessage", "CertificateSigned", "DeleteCertificate",
    "InstallCertificate", "GetLog", "SignedUpdateFirmware",
    # 2.0.1 commands whose answer is a status (RequestStart/StopTransaction are the sessions').
    "ClearDisplayMessage", "SetDisplayMessage", "SetNetworkProfile", "CustomerInformation",
})


class _Connector:
    """A 1.6 connector, or a 2.0.1 EVSE with its one connector (scripts.simulator_ocpp.Session)."""

    __slots__ = ("id", "status", "meter_wh", "transaction_id", "seq_no", "sessions", "remote_start",
                 "remote_stop", "wake")

    def __init__(self, cid: int) -> None:
        self.id = cid
        self.status = "Available"
        self.meter_wh = 0
        self.transaction_id: int | str | None = None
        self.seq_no = 0  # 2.0.1: the next TransactionEvent's seqNo
        self.sessions = 0
        self.remote_start: str | None = None  # id tag of a pending RemoteStartTransaction
        self.remote_stop = False
        self.wake = asyncio.Event()


class SimulatedStation:
    """One charge station: a connection manager plus mode-specific behaviour coroutines."""

    def __init__(self, sim: _Simulation, index: int, slot: int) -> None:
        self.sim = sim
        self.cfg = cfg = sim.cfg
        self.index = index
        self.slot = slot  # position in the global ramp
        self.station_id = cfg.station_id(index)
        self.ocpp = dialect_of(cfg.ocpp, index)
        # Fresh for every run (unlike `rng`, seeded for reproducible behaviour).
        self.run_id = uuid.uuid4().hex[:12]
        self.rng = random.Random(cfg.seed * 1_000_003 + index)
        self.ws: ClientConnection | None = None
        self.ready = asyncio.Event()  # connected and accepted
        self.accepted = False
        self.statuses_sent = False
        self.ever_connected = False
        self.ever_ready = False
        self.lock = asyncio.Lock()  # one outstanding CALL per connection
        self.pending: tuple[str, asyncio.Future] | None = None
        self.next_id = 0
        self._closing: asyncio.Future | None = None
        self.connectors = {c: _Connector(c) for c in range(1, cfg.connectors + 1)}
        self.url = f"{cfg.url.rstrip('/')}{cfg.path_prefix}{self.station_id}"
        token = base64.b64encode(f"{self.station_id}:{cfg.password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        cfg = self.cfg
        tasks = [asyncio.create_task(self._connection_loop())]
        if cfg.mode == "realistic":
            tasks.append(asyncio.create_task(self._heartbeat_loop()))
            tasks.extend(asyncio.create_task(self._connector_loop(c)) for c in self.connectors.values())
        elif cfg.mode == "throughput":
            tasks.append(asyncio.create_task(self._burst_loop()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _backoff(self, attempt: int) -> float:
        cfg = self.cfg
        cap = min(cfg.backoff_max, cfg.backoff_initial * (2 ** min(attempt - 1, 20)))
        return self.rng.uniform(cap / 2, cap)  # "equal jitter"

    async def _connection_loop(self) -> None:
        sim, cfg, stats = self.sim, self.cfg, self.sim.stats
        await sim.wait_ramp(self.slot)
        attempt = 0
        while True:
            try:
                async with sim.connect_slot():
                    ws = await connect(
                        self.url, subprotocols=[self.ocpp.subprotocol], additional_headers=self.headers,
                        open_timeout=cfg.open_timeout, close_timeout=cfg.close_timeout,
                        ping_interval=cfg.ping_interval, compression=None, proxy=None,
                        max_size=cfg.max_frame_bytes, user_agent_header=None,
                    )
            except InvalidStatus as exc:
                stats.connect_failures[f"http {exc.response.status_code}"] += 1
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
                continue
            except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
                stats.connect_failures[type(exc).__name__] += 1
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
                continue
            except Exception as exc:  # handshake refused, invalid response, ...
                stats.connect_failures[type(exc).__name__] += 1
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
                continue
            if ws.subprotocol != self.ocpp.subprotocol:
                stats.connect_failures["no subprotocol"] += 1
                await ws.close()
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
                continue
            stats.connections_opened += 1
            if not self.ever_connected:
                self.ever_connected = True
                stats.stations_connected += 1
            self.ws = ws
            sim.open_connections.add(ws)
            reader = asyncio.create_task(self._reader(ws))
            try:
                if await self._bring_up(ws):
                    attempt = 0
                    self.ready.set()
                    if not self.ever_ready:
                        self.ever_ready = True
                        sim.station_ready()
                await reader
            finally:
                self.ready.clear()
                reader.cancel()
                self.ws = None
            # (Cancelled at the end of the run: the socket stays in open_connections,
            # which the run closes gracefully.)
            sim.open_connections.discard(ws)
            stats.disconnects += 1
            attempt += 1
            await asyncio.sleep(self._backoff(attempt))

    async def _bring_up(self, ws: ClientConnection) -> bool:
        """Boot (unless already accepted) and report every connector's status once."""
        cfg, stats = self.cfg, self.sim.stats
        if not self.accepted:
            payload = self.ocpp.boot(self.station_id, cfg.vendor, cfg.model)
            while not self.accepted:
                ok, value = await self._call_on(ws, "BootNotification", payload)
                if ok:
                    if value.get("status") == "Accepted":
                        self.accepted = True
                        stats.stations_accepted += 1
                        break
                    interval = value.get("interval") or 0
                    await asyncio.sleep(min(max(float(interval), 1.0), 60.0))
                elif value in (_Outcome.LOST, _Outcome.NOT_SENT):
                    return False
                else:
                    await asyncio.sleep(cfg.retry_interval)
        if not self.statuses_sent:
            failed = False
            for cid, status in self.ocpp.boot_statuses({c.id: c.status for c in self.connectors.values()}):
                ok, value = await self._call_on(ws, "StatusNotification", self.ocpp.status(cid, status, _now_iso()))
                if not ok:
                    if value in (_Outcome.LOST, _Outcome.NOT_SENT):
                        return False
                    failed = True
            self.statuses_sent = True
            if cfg.mode == "storm":
                if failed:
                    stats.storm_failed += 1
                self.sim.storm_station_done(ok=not failed)
        return True

    async def _reader(self, ws: ClientConnection) -> None:
        stats = self.sim.stats
        try:
            while True:
                raw = await ws.recv(decode=False)
                try:
                    msg = _decode(raw)
                    kind = msg[0]
                except Exception:
                    stats.malformed += 1
                    continue
                if kind == 3 or kind == 4:
                    p = self.pending
                    if p is not None and p[0] == msg[1] and not p[1].done():
                        p[1].set_result(msg)
                    else:
                        stats.late_results += 1
                elif kind == 2 and len(msg) >= 4:
                    await self._answer(ws, msg)
                else:
                    stats.malformed += 1
        except ConnectionClosed:
            pass
        finally:
            self._connection_gone(ws)
            p = self.pending
            if p is not None and not p[1].done():
                p[1].set_result(None)

    async def _answer(self, ws: ClientConnection, msg: list) -> None:
        _, mid, action, payload = msg[:4]
        self.sim.stats.incoming[action] += 1
        if action in _FIXED_ANSWERS:
            reply: dict[str, Any] = _FIXED_ANSWERS[action]
        elif action == "GetConfiguration":
            reply = {"configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": str(int(self.cfg.heartbeat_interval))},
                {"key": "MeterValueSampleInterval", "readonly": False, "value": str(int(self.cfg.meter_interval))},
                {"key": "NumberOfConnectors", "readonly": True, "value": str(self.cfg.connectors)},
            ]}
        elif action in ("RemoteStartTransaction", "RequestStartTransaction"):
            reply = {"status": self._remote_start(payload)}
        elif action in ("RemoteStopTransaction", "RequestStopTransaction"):
            reply = {"status": self._remote_stop(payload)}
        elif action in _ACCEPTED_ACTIONS:
            reply = {"status": "Accepted"}
        else:
            reply = {}
        try:
            await ws.send(_encode([3, mid, reply]), text=True)
        except ConnectionClosed:
            pass

    def _remote_start(self, payload: dict) -> str:
        if self.cfg.mode != "realistic" or not isinstance(payload, dict):
            return "Accepted"
        cid, id_tag = self.ocpp.remote_start_tag(payload)
        candidates = [self.connectors[cid]] if cid in self.connectors else list(self.connectors.values())
        for c in candidates:
            if c.transaction_id is None and c.remote_start is None and c.status == "Available":
                c.remote_start = str(id_tag or self.cfg.id_tag)
                c.wake.set()
                return "Accepted"
        return "Rejected"

    def _remote_stop(self, payload: dict) -> str:
        if self.cfg.mode != "realistic" or not isinstance(payload, dict):
            return "Accepted"
        for c in self.connectors.values():
            if c.transaction_id is not None and c.transaction_id == self.ocpp.remote_stop_id(payload):
                c.remote_stop = True
                c.wake.set()
                return "Accepted"
        return "Rejected"

    # -- CALLs ---------------------------------------------------------------------------

    async def _call_on(self, ws: ClientConnection, action: str, payload: dict) -> tuple[bool, Any]:
        """Send one CALL on `ws` and wait for its answer.

        Returns (True, result payload) or (False, outcome) where outcome is one of
        `_Outcome.ERROR`/`TIMEOUT`/`LOST`.
        """
        stats = self.sim.stats
        async with self.lock:
            if ws is None or ws is not self.ws:
                return False, _Outcome.NOT_SENT
            self.next_id += 1
            mid = str(self.next_id)
            fut = asyncio.get_running_loop().create_future()
            self.pending = (mid, fut)
            frame = _encode([2, mid, action, payload])
            stats.sent[action] += 1
            start = time.perf_counter()
            try:
                await ws.send(frame, text=True)
                async with asyncio.timeout(self.cfg.message_timeout):
                    msg = await fut
            except TimeoutError:
                stats.timeouts[action] += 1
                return False, _Outcome.TIMEOUT
            except ConnectionClosed:
                stats.lost[action] += 1
                self._connection_gone(ws)
                return False, _Outcome.LOST
            except asyncio.CancelledError:
                stats.aborted[action] += 1
                raise
            finally:
                self.pending = None
            now = time.perf_counter()
            if msg is None:
                stats.lost[action] += 1
                self._connection_gone(ws)
                return False, _Outcome.LOST
            stats.bucket(now - self.sim.t0)
            if msg[0] == 3:
                stats.results[action] += 1
                samples = stats.latency.get(action)
                if samples is None:
                    samples = stats.latency[action] = array("d")
                samples.append(now - start)
                if self.sim.steady:
                    stats.steady_latency.append(now - start)
                return True, msg[2] if isinstance(msg[2], dict) else {}
            stats.errors[action] += 1
            code = str(msg[2]) if len(msg) > 2 else "?"
            stats.errors_by_code[code] += 1
            if code == "SecurityError":
                # The CSMS no longer considers us accepted: boot again on a new connection.
                self.accepted = False
                self.statuses_sent = False
                self._closing = asyncio.ensure_future(ws.close())  # keep a reference
            return False, _Outcome.ERROR

    def _connection_gone(self, ws: ClientConnection) -> None:
        # Stop new CALLs at once; the connection loop notices the close and reconnects.
        if ws is self.ws:
            self.ready.clear()

    async def call(self, action: str, payload: dict) -> dict | None:
        """Send a CALL once the station is ready. Transaction messages are retried (also
        across reconnects) until answered; others give up on timeout or disconnect."""
        retry = action in self.ocpp.transaction_actions
        stats = self.sim.stats
        while True:
            await self.ready.wait()
            ok, value = await self._call_on(self.ws, action, payload)
            if ok:
                return value
            if value == _Outcome.NOT_SENT:
                continue
            if value == _Outcome.ERROR or not retry:
                return None
            stats.resends[action] += 1
            if value == _Outcome.TIMEOUT:
                await asyncio.sleep(self.cfg.retry_interval)

    # -- behaviours ----------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.cfg.heartbeat_interval
        await self.ready.wait()
        await asyncio.sleep(self.rng.uniform(0, interval))  # spread the fleet's heartbeats
        while True:
            if self.ready.is_set():
                await self.call("Heartbeat", {})
            await asyncio.sleep(interval)

    async def _status(self, c: _Connector, status: str) -> None:
        c.status = status
        await self.call("StatusNotification", self.ocpp.status(c.id, status, _now_iso()))

    async def _wait_wake(self, c: _Connector, delay: float) -> None:
        if delay <= 0:
            return
        try:
            await asyncio.wait_for(c.wake.wait(), delay)
        except TimeoutError:
            pass
        c.wake.clear()

    async def _connector_loop(self, c: _Connector) -> None:
        cfg, rng, stats = self.cfg, self.rng, self.sim.stats
        await self.ready.wait()
        first = True
        while True:
            session_s = rng.uniform(cfg.session_min, cfg.session_max)
            if first:
                first = False
                mean_session = (cfg.session_min + cfg.session_max) / 2
                mean_idle = (cfg.idle_min + cfg.idle_max) / 2
                charging = mean_session / (mean_session + mean_idle) if mean_session + mean_idle > 0 else 0
                if cfg.steady_start and rng.random() < charging:
                    idle = rng.uniform(0, min(cfg.meter_interval, cfg.idle_max))
                    session_s = rng.uniform(0, cfg.session_max)
                else:
                    idle = rng.uniform(0, cfg.idle_max)
            else:
                idle = rng.uniform(cfg.idle_min, cfg.idle_max)
            if c.remote_start is None:
                await self._wait_wake(c, idle)
            id_tag, c.remote_start = (c.remote_start or cfg.id_tag), None
            c.remote_stop = False
            auth = await self.call("Authorize", self.ocpp.authorize(id_tag))
            if auth is None:
                continue
            if not self.ocpp.authorized(auth):
                stats.authorizations_rejected += 1
                continue
            c.sessions += 1
            start = await self.call(*self.ocpp.start(c, self.run_id, c.sessions, id_tag, _now_iso()))
            accepted = self.ocpp.started(c, start) if start is not None else None
            if accepted is None:
                c.transaction_id = None
                continue
            stats.transactions_started += 1
            reason = "Local"
            if not accepted:
                reason = "DeAuthorized"
            else:
                await self._status(c, self.ocpp.charging_status)
                power_w = rng.uniform(3_700.0, 22_000.0)
                ends = time.perf_counter() + session_s
                while True:
                    left = ends - time.perf_counter()
                    if left <= 0:
                        break
                    step = min(cfg.meter_interval, left)
                    t = time.perf_counter()
                    await self._wait_wake(c, step)
                    c.meter_wh += int(power_w * (time.perf_counter() - t) / 3600.0)
                    if c.remote_stop:
                        reason = "Remote"
                        break
                    if step < cfg.meter_interval:
                        break
                    await self.call(*self.ocpp.meter(c, power_w, _now_iso()))
            await self.call(*self.ocpp.stop(c, id_tag, reason, _now_iso()))
            stats.transactions_stopped += 1
            c.transaction_id = None
            c.remote_stop = False
            await self._status(c, "Available")

    async def _burst_loop(self) -> None:
        cfg = self.cfg
        if cfg.mix == "heartbeat":
            cycle = ["Heartbeat"]
        else:  # 50% Heartbeat, 30% MeterValues, 20% StatusNotification
            cycle = ["Heartbeat", "MeterValues", "Heartbeat", "StatusNotification", "Heartbeat",
                     "MeterValues", "Heartbeat", "StatusNotification", "Heartbeat", "MeterValues"]
        c = self.connectors[1]
        i = self.rng.randrange(len(cycle))
        while True:
            await self.ready.wait()
            action = cycle[i % len(cycle)]
            i += 1
            if action == "Heartbeat":
                payload: dict = {}
            elif action == "MeterValues":
                c.meter_wh += 10
                action, payload = self.ocpp.meter(c, 11_000.0, _now_iso())  # no transaction: MeterValues
            else:
                payload = self.ocpp.status(c.id, "Available", _now_iso())
            await self._call_on(self.ws, action, payload)


# ---------------------------------------------------------------------------------------
# A run (one worker process's share of the stations)


class _Simulation:
    def __init__(self, cfg: SimulationConfig, indices: list[int], t0: float,
                 stop: asyncio.Event | None = None) -> None:
        self.cfg = cfg
        self.stop = stop
        self.indices = indices
        self.t0 = t0
        self.stats = Stats()
        self.open_connections: set[ClientConnection] = set()
        self._ready = 0
        self._storm_done = 0
        self.storm_finished = asyncio.Event()
        self.steady = False
        self._sem = asyncio.Semaphore(cfg.connect_concurrency) if cfg.connect_concurrency > 0 else None

    def connect_slot(self):
        return self._sem if self._sem is not None else _NullContext()

    async def wait_ramp(self, slot: int) -> None:
        if self.cfg.ramp_rate > 0:
            delay = self.t0 + slot / self.cfg.ramp_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    def station_ready(self) -> None:
        self._ready += 1
        if self._ready == len(self.indices):
            self.stats.all_ready_at = time.perf_counter() - self.t0
            asyncio.get_running_loop().call_later(self.cfg.warmup, self._set_steady)

    def _set_steady(self) -> None:
        self.steady = True

    def storm_station_done(self, ok: bool) -> None:
        if ok:
            self.stats.storm_completed += 1
        self._storm_done += 1
        if self._storm_done == len(self.indices):
            if self.stats.storm_failed == 0:
                self.stats.storm_done_at = time.perf_counter() - self.t0
            self.storm_finished.set()

    async def run(self) -> Stats:
        cfg = self.cfg
        stations = [SimulatedStation(self, idx, idx - cfg.first_index) for idx in self.indices]
        delay = self.t0 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks = [asyncio.create_task(s.run()) for s in stations]
        deadline = self.t0 + cfg.duration
        try:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
                    events = [self.stop] if self.stop is not None else []
                    if cfg.mode == "storm":
                        events.append(self.storm_finished)
                    if not events:
                        await asyncio.sleep(cfg.duration)  # the timeout ends it
                    await _first_set(events)
                    if self.storm_finished.is_set() and cfg.storm_hold > 0:
                        await asyncio.sleep(cfg.storm_hold)
            except TimeoutError:
                pass
            # Failures of station tasks would surface here: a bug, not a network event.
            for t in tasks:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise t.exception()
        finally:
            self.stats.ended_at = time.perf_counter() - self.t0
            self.stats.connections_held = sum(1 for s in stations if s.ready.is_set())
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_all()
        return self.stats

    async def _close_all(self) -> None:
        conns = list(self.open_connections)
        self.open_connections.clear()
        sem = asyncio.Semaphore(1000)

        async def close(ws: ClientConnection) -> None:
            async with sem:
                try:
                    await ws.close()
                except Exception:
                    pass

        await asyncio.gather(*(close(ws) for ws in conns))


async def _first_set(events: list[asyncio.Event]) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class _NullContext:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit toward `wanted`; return the resulting soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _fd_capacity() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 20
    return max(1, limit - _FD_RESERVE)


def plan_workers(cfg: SimulationConfig) -> int:
    needed = math.ceil(cfg.stations / _fd_capacity())
    return max(1, cfg.workers, needed)


async def _run_local(cfg: SimulationConfig, indices: list[int], t0: float,
                     stop: asyncio.Event | None = None) -> Stats:
    _raise_fd_limit(len(indices) + _FD_RESERVE)
    return await _Simulation(cfg, indices, t0, stop).run()


def _worker_main(cfg_json: bytes, indices: list[int], start_wall: float) -> Stats:
    cfg = msgspec.json.decode(cfg_json, type=SimulationConfig)

    async def go() -> Stats:
        # Wall clock anchors the common start across processes; perf_counter times the rest.
        t0 = time.perf_counter() + (start_wall - time.time())
        return await _run_local(cfg, indices, t0)

    return asyncio.run(go())


class RegistrationError(RuntimeError):
    pass


async def register_stations(cfg: SimulationConfig) -> tuple[int, int]:
    """PUT every station and the id tag through the operator API. Returns (ok, failed);
    raises RegistrationError, with the first failure's answer, if any failed."""
    import httpx

    assert cfg.api_url
    require_loopback(cfg.api_url)
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    limits = httpx.Limits(max_connections=cfg.register_concurrency,
                          max_keepalive_connections=cfg.register_concurrency)
    sem = asyncio.Semaphore(cfg.register_concurrency)
    ok = failed = 0
    first_error: str | None = None
    async with httpx.AsyncClient(base_url=cfg.api_url.rstrip("/"), headers=headers, limits=limits,
                                 timeout=cfg.register_timeout, trust_env=False) as client:

        async def put(path: str, body: dict) -> None:
            nonlocal ok, failed, first_error
            async with sem:
                error = "?"
                for attempt in range(3):
                    try:
                        r = await client.put(path, json=body)
                    except httpx.TransportError as exc:
                        error = repr(exc)
                        await asyncio.sleep(0.5 * (attempt + 1))
                        continue
                    if 200 <= r.status_code < 300:
                        ok += 1
                        return
                    error = f"HTTP {r.status_code} {r.text[:500]}"
                    if r.status_code < 500:
                        break
                    await asyncio.sleep(0.5 * (attempt + 1))
                failed += 1
                first_error = first_error or f"PUT {path}: {error}"

        await put(f"/api/id-tags/{cfg.id_tag}",
                  {"status": "Accepted", "expiry_date": None, "parent_id_tag": None})
        idx = range(cfg.first_index, cfg.first_index + cfg.stations)
        await asyncio.gather(*(put(f"/api/stations/{cfg.station_id(i)}", {
            "password": cfg.password, "site": cfg.site, "metadata": {"simulator": "true"},
        }) for i in idx))
    if failed:
        raise RegistrationError(f"{failed} of {ok + failed} registrations failed; first: {first_error}")
    return ok, failed


async def run_simulation(cfg: SimulationConfig, stop: asyncio.Event | None = None) -> SimulationReport:
    """Run the configured simulation to its end and return the report.

    The run ends after `cfg.duration` seconds, when a storm completed, or when `stop` is
    set (single worker process only; with several workers the run always lasts its time).
    """
    cfg.validate()
    registered = register_failures = None
    if cfg.register:
        registered, register_failures = await register_stations(cfg)
    workers = plan_workers(cfg)
    all_indices = list(range(cfg.first_index, cfg.first_index + cfg.stations))
    if workers == 1:
        stats = await _run_local(cfg, all_indices, time.perf_counter(), stop)
    else:
        import concurrent.futures
        import multiprocessing

        # Interleave stations over workers so they share the ramp evenly.
        slices = [all_indices[w::workers] for w in range(workers)]
        start_wall = time.time() + 1.0 + 0.25 * workers  # room for the workers to start
        cfg_json = msgspec.json.encode(cfg)
        ctx = multiprocessing.get_context("spawn")
        loop = asyncio.get_running_loop()
        # By module name, so that it also pickles when this file runs as __main__.
        entry = importlib.import_module("scripts.simulator")._worker_main
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            parts = await asyncio.gather(*(
                loop.run_in_executor(pool, entry, cfg_json, s, start_wall) for s in slices
            ))
        stats = Stats()
        stats.all_ready_at = 0.0
        stats.storm_done_at = 0.0
        for part in parts:
            stats.merge(part)
    report = build_report(cfg, stats, workers)
    report.registered = registered
    report.register_failures = register_failures
    return report


# ---------------------------------------------------------------------------------------
# CLI


def format_report(r: SimulationReport) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    lines = [
        f"mode {r.mode}  url {r.url}  stations {r.stations}  workers {r.workers}  run {r.duration_s:.1f} s",
        f"stations connected {r.stations_connected}  accepted {r.stations_accepted}  "
        f"held at end {r.connections_held}",
        f"connections opened {r.connections_opened}  failed {r.connections_failed} "
        f"{r.connect_failures or ''}  disconnects {r.disconnects}",
        f"CALLs sent {r.calls_sent}  CALLRESULT {r.callresults}  CALLERROR {r.callerrors} "
        f"{r.errors_by_code or ''}  timeouts {r.timeouts}  lost {r.lost}  aborted at stop {r.aborted}  "
        f"resends {r.resends}",
        f"CALLs/s {r.calls_per_s:.1f}  latency ms p50 {ms(r.p50_ms)} p95 {ms(r.p95_ms)} "
        f"p99 {ms(r.p99_ms)} max {ms(r.max_ms)}",
        f"all stations ready after {ms(r.all_ready_s)} s; steady state: "
        f"CALLs/s {ms(r.steady_calls_per_s)}  latency ms p50 {ms(r.steady_p50_ms)} "
        f"p95 {ms(r.steady_p95_ms)} p99 {ms(r.steady_p99_ms)}",
    ]
    if r.mode == "realistic":
        lines.append(f"transactions started {r.transactions_started}  stopped {r.transactions_stopped}  "
                     f"authorizations rejected {r.authorizations_rejected}")
    if r.mode == "storm":
        t = "not completed" if r.storm_time_s is None else f"{r.storm_time_s:.2f} s"
        lines.append(f"storm: {r.storm_completed}/{r.stations} stations completed, "
                     f"{r.storm_failed} with CALLERRORs; time to all accepted+statuses: {t}")
    if r.incoming_calls:
        lines.append(f"CSMS-initiated CALLs answered {r.incoming_calls}")
    if r.registered is not None:
        lines.append(f"registered {r.registered}  registration failures {r.register_failures}")
    header = f"{'action':<20}{'sent':>9}{'result':>9}{'error':>7}{'timeout':>8}{'lost':>6}" \
             f"{'resend':>7}{'p50ms':>9}{'p95ms':>9}{'p99ms':>9}{'maxms':>9}"
    lines += ["", header, "-" * len(header)]
    for action, a in r.by_action.items():
        lines.append(f"{action:<20}{a.sent:>9}{a.results:>9}{a.errors:>7}{a.timeouts:>8}{a.lost:>6}"
                     f"{a.resends:>7}{ms(a.p50_ms):>9}{ms(a.p95_ms):>9}{ms(a.p99_ms):>9}{ms(a.max_ms):>9}")
    return "\n".join(lines)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """Simulation knobs as CLI options (shared with scripts.bench_stations)."""
    d = SimulationConfig()
    p.add_argument("--stations", type=int, default=d.stations)
    p.add_argument("--connectors", type=int, default=d.connectors)
    p.add_argument("--ocpp", choices=VERSIONS, default=d.ocpp,
                   help="OCPP version the stations speak (mixed: every other station 2.0.1)")
    p.add_argument("--duration", type=float, default=d.duration, help="run length in seconds")
    p.add_argument("--ramp-rate", type=float, default=None,
                   help=f"new stations per second, 0 = all at once (default {d.ramp_rate}; storm: 0)")
    p.add_argument("--connect-concurrency", type=int, default=d.connect_concurrency,
                   help="handshakes in flight per worker (0 = unlimited)")
    p.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    p.add_argument("--meter-interval", type=float, default=d.meter_interval)
    p.add_argument("--session", type=float, nargs=2, metavar=("MIN", "MAX"),
                   default=(d.session_min, d.session_max), help="session duration range (s)")
    p.add_argument("--idle", type=float, nargs=2, metavar=("MIN", "MAX"),
                   default=(d.idle_min, d.idle_max), help="idle time between sessions (s)")
    p.add_argument("--message-timeout", type=float, default=d.message_timeout)
    p.add_argument("--retry-interval", type=float, default=d.retry_interval)
    p.add_argument("--mix", choices=MIXES, default=d.mix, help="throughput mode message mix")
    p.add_argument("--storm-hold", type=float, default=d.storm_hold)
    p.add_argument("--prefix", default=d.station_prefix, help="station id prefix")
    p.add_argument("--first-index", type=int, default=d.first_index)
    p.add_argument("--password", default=d.password)
    p.add_argument("--id-tag", default=d.id_tag)
    p.add_argument("--warmup", type=float, default=d.warmup,
                   help="steady-state figures count from this long after every station is ready")
    p.add_argument("--no-steady-start", dest="steady_start", action="store_false",
                   help="realistic mode: every connector starts idle instead of in steady state")
    p.add_argument("--backoff", type=float, nargs=2, metavar=("INITIAL", "MAX"),
                   default=(d.backoff_initial, d.backoff_max))
    p.add_argument("--workers", type=int, default=d.workers,
                   help="worker processes (0 = as few as the open-files limit allows)")
    p.add_argument("--seed", type=int, default=d.seed)


def config_from_args(a: argparse.Namespace, **overrides: Any) -> SimulationConfig:
    ramp = a.ramp_rate
    if ramp is None:
        ramp = 0.0 if a.mode == "storm" else SimulationConfig().ramp_rate
    fields = dict(
        mode=a.mode, ocpp=a.ocpp, stations=a.stations, connectors=a.connectors, duration=a.duration,
        ramp_rate=ramp, connect_concurrency=a.connect_concurrency,
        heartbeat_interval=a.heartbeat_interval, meter_interval=a.meter_interval,
        session_min=a.session[0], session_max=a.session[1], idle_min=a.idle[0], idle_max=a.idle[1],
        message_timeout=a.message_timeout, retry_interval=a.retry_interval, mix=a.mix,
        storm_hold=a.storm_hold, station_prefix=a.prefix, first_index=a.first_index,
        password=a.password, id_tag=a.id_tag, steady_start=a.steady_start, warmup=a.warmup, backoff_initial=a.backoff[0], backoff_max=a.backoff[1],
        workers=a.workers, seed=a.seed,
    )
    fields.update(overrides)
    return SimulationConfig(**fields)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scripts.simulator",
        description="OCPP 1.6J / 2.0.1 charge station simulator (loopback targets only).",
    )
    p.add_argument("--url", default=SimulationConfig().url, help="CSMS base ws:// URL")
    p.add_argument("--mode", choices=MODES, default="realistic")
    add_config_arguments(p)
    p.add_argument("--register", action="store_true",
                   help="register the stations and the id tag through the operator API first")
    p.add_argument("--api-url", default=None, help="operator API base URL (default: from --url)")
    p.add_argument("--token", default=os.environ.get("CSMS_API_TOKEN"),
                   help="operator API bearer token (default: $CSMS_API_TOKEN)")
    p.add_argument("--json", action="store_true", help="print the report as JSON only")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    api_url = a.api_url
    if a.register and not api_url:
        parts = urlsplit(a.url)
        api_url = f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
    try:
        cfg = config_from_args(a, url=a.url, register=a.register, api_url=api_url, token=a.token)
        cfg.validate()
    except (ValueError, TypeError, msgspec.ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(run_simulation(cfg))
    except RegistrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if a.json:
        print(msgspec.json.encode(report).decode())
    else:
        print(format_report(report))
    if (cfg.register and report.register_failures) or report.stations_connected == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
