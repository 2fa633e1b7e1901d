"""Synthetic station history: realistic bronze for N stations over a date range, with planted anomalies.

    python -m scripts.gen_history --stations 1000 --start 2026-10-01 --days 30 --seed 7 \
        --data-root ./data [--truth truth.json]

Writes exactly the live bronze schema (actors.lake.write_bronze_frame), the way the CSMS logs
frames: each station CALL with the CSMS's CALLRESULT/CALLERROR (same message id and receive
time), SESSION events for registrations and connections. Columns are built with Polars and
NumPy per day, not event by event, so 10,000 stations x 30 days takes minutes.

Normal life (densities are flags): a registration per station (sites of 10-50 stations, a
region per site), a boot on the first day, a Heartbeat every --heartbeat-s, about
--sessions-per-day charging sessions per station (Preparing, StartTransaction, Charging,
MeterValues every --meter-interval-s with energy/power/current per phase/voltage/temperature in
each station's own units, StopTransaction, Finishing, Available), rare faults and disconnects.

Planted (all listed in the --truth JSON):
- fault bursts: station-days with >= 5 Faulted statuses (the truth lists every station-day that
  ends up with >= 5, planted or not);
- mass outages: most stations of a site or region disconnect, or report Unavailable/Faulted on
  connector 0, within --outage-window-s, for 30-120 minutes;
- degrading chargers: faults, reboots, disconnects and meter-cadence jitter rising over the 7
  days before a failure day, after which the station is Faulted and offline;
- offline-queued events: a station loses its link in the afternoon, keeps charging, and
  delivers its queued events on a later day (happened day D, received D+1 or later);
- duplicate transaction messages and StatusNotifications (retransmissions), and orphan
  StopTransactions (transactionId -1);
- malformed frames, schema-violating payloads (answered with a CALLERROR) and non-numeric
  meter values.

The truth JSON: `fault_burst_days` [{station_id, day, faults}] every station-day with >= 5
distinct Faulted statuses (`planted_fault_bursts` the planted subset); `outages` [{incident,
scope: site|region, scope_key, mode: disconnect|Unavailable|Faulted, day, window_start,
window_end (first and last station going down), stations, in_scope}]; `degrading`
[{station_id, degrading_from, failure_day}]; `late` [{station_id, happened_day, received_day,
events}]; `duplicates`, `malformed` (quarantine-worthy events), `orphan_stops` (counts);
`sites` {site: region}; `rows` (bronze rows written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from actors import lake

US = 1_000_000
DAY_US = 86_400 * US
TS = pl.Datetime("us", "UTC")
ERROR_CODES = ["GroundFailure", "HighTemperature", "InternalError", "OverCurrentFailure", "PowerMeterFailure",
               "PowerSwitchFailure", "ReaderFailure", "UnderVoltage", "OverVoltage", "EVCommunicationError"]
VENDORS = [("Alfen", "Eve Double"), ("ABB", "Terra AC"), ("Wallbox", "Commander 2"), ("Kempower", "S-Series")]
# Each station's meter speaks its own units: (energy, power, temperature).
UNIT_PROFILES = [("Wh", "W", "Celsius"), ("kWh", "kW", "Celsius"), ("kWh", "W", "K"), ("Wh", "kW", "Fahrenheit")]
DEGRADE_DAYS = 7


@dataclass(frozen=True)
class Options:
    stations: int
    start: dt.date
    days: int
    seed: int
    data_root: Path
    truth: Path | None = None
    heartbeat_s: int = 900
    sessions_per_day: float = 2.0
    meter_interval_s: int = 300
    hosts: int = 4
    fault_rate: float = 0.05  # baseline Faulted statuses per station and day
    disconnect_rate: float = 0.05  # baseline short disconnects per station and day
    burst_rate: float = 0.002  # share of station-days with a planted fault burst
    outages: int = -1  # mass-outage incidents over the range; -1: about two a week
    outage_window_s: int = 300
    degrading_share: float = 0.005
    late_share: float = 0.01  # share of station-days that queue events offline
    duplicate_share: float = 0.02  # share of transaction messages and statuses sent twice
    malformed_per_day: int = 3  # of each kind of uninterpretable input
    orphan_stops_per_day: int = 2  # StopTransactions with transactionId -1 (no known start)
    chunk_stations: int = 2000  # stations built together: bounds memory, not the output


# --- the fleet -------------------------------------------------------------------------------


@dataclass
class Fleet:
    ids: np.ndarray  # station id strings
    site: np.ndarray  # site index per station
    region_of_site: np.ndarray
    power_w: np.ndarray
    profile: np.ndarray
    vendor: np.ndarray
    host: np.ndarray
    failure_day: np.ndarray  # day index of failure, -1 if healthy

    @property
    def n(self) -> int:
        return len(self.ids)


def make_fleet(o: Options, rng: np.random.Generator) -> Fleet:
    n = o.stations
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(10, 51)))
    site = np.repeat(np.arange(len(sizes)), sizes)[:n]
    n_regions = max(1, len(sizes) // 8)
    region_of_site = rng.integers(0, n_regions, len(sizes))
    failure_day = np.full(n, -1)
    n_degrading = int(round(n * o.degrading_share)) if o.days >= 3 else 0
    if n_degrading:
        chosen = rng.choice(n, n_degrading, replace=False)
        first = min(DEGRADE_DAYS, o.days - 1)
        failure_day[chosen] = rng.integers(first, o.days, n_degrading)
    return Fleet(
        ids=np.array([f"CP-{i:06d}" for i in range(n)]), site=site, region_of_site=region_of_site,
        power_w=rng.choice([7_400, 11_000, 22_000, 50_000], n, p=[0.4, 0.3, 0.2, 0.1]),
        profile=rng.integers(0, len(UNIT_PROFILES), n), vendor=rng.integers(0, len(VENDORS), n),
        host=np.arange(n) % o.hosts, failure_day=failure_day,
    )


# --- building rows -----------------------------------------------------------------------------

# Inbound CALLs are built as frames of these columns, then turned into the CALL + answer pair.
CALL_COLS = {"st": pl.Int32, "at_us": pl.Int64, "has_ts": pl.Boolean, "action": pl.String,
             "payload": pl.String, "answer_type": pl.String, "answer": pl.String}
SESSION_COLS = {"st": pl.Int32, "at_us": pl.Int64, "action": pl.String, "payload": pl.String, "message_id": pl.String}


def fmt(template: str, *args) -> pl.Expr:
    """pl.format with "{}" as the only placeholder, so JSON braces need no escaping."""
    escaped = template.replace("{}", "\0").replace("{", "{{").replace("}", "}}").replace("\0", "{}")
    return pl.format(escaped, *args)


def pick(col: str, values: list[str]) -> pl.Expr:
    """values[col] for an integer column."""
    return pl.col(col).replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def iso(col: str | pl.Expr) -> pl.Expr:
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.cast(TS).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def calls(frame: pl.DataFrame, action: str, payload: pl.Expr, has_ts: bool, answer: pl.Expr | str = "{}",
          answer_type: str = "CALLRESULT") -> pl.DataFrame:
    return frame.select(
        pl.col("st").cast(pl.Int32), pl.col("at_us").cast(pl.Int64), pl.lit(has_ts).alias("has_ts"),
        pl.lit(action).alias("action"), payload.alias("payload"), pl.lit(answer_type).alias("answer_type"),
        (pl.lit(answer) if isinstance(answer, str) else answer).alias("answer"),
    )


def status_calls(frame: pl.DataFrame) -> pl.DataFrame:
    """StatusNotifications from columns st, at_us (whole seconds), connector, status, error."""
    payload = fmt('{"connectorId":{},"errorCode":"{}","status":"{}","timestamp":"{}"}',
                        "connector", "error", "status", iso("at_us"))
    return calls(frame, "StatusNotification", payload, True)


def seconds(x: np.ndarray) -> np.ndarray:
    return (x // US) * US


class Day:
    """One day's bronze for the whole fleet."""

    def __init__(self, o: Options, fleet: Fleet, k: int, rng: np.random.Generator, carry: dict, truth: dict,
                 members: np.ndarray, first_chunk: bool):
        self.o, self.fleet, self.k, self.rng, self.carry, self.truth = o, fleet, k, rng, carry, truth
        # The stations of this chunk: a day is built a chunk at a time to bound memory.
        self.members, self.first_chunk = members, first_chunk
        self.day = o.start + dt.timedelta(days=k)
        self.t0 = int(dt.datetime(self.day.year, self.day.month, self.day.day, tzinfo=dt.timezone.utc).timestamp()) * US
        self.calls: list[pl.DataFrame] = []
        self.sessions: list[pl.DataFrame] = []
        self.offline: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (st, from, to): no link
        self.statuses: list[pl.DataFrame] = []
        self.queued = (np.zeros(0, dtype=np.int64),) * 3  # (st, lost, back): link lost, events queued
        self.connections = 0

    def rand_times(self, count: int, lo_s: float = 0, hi_s: float = 86_400) -> np.ndarray:
        return seconds(self.t0 + (self.rng.uniform(lo_s, hi_s, count) * US).astype(np.int64))

    # --- station life ---

    def alive(self) -> np.ndarray:
        f = self.fleet.failure_day[self.members]
        return self.members[(f < 0) | (f >= self.k)]

    def registrations_and_boots(self) -> None:
        fl = self.fleet
        st = self.members
        at = self.t0 + st.astype(np.int64) * 1000  # a millisecond apart, just after midnight
        regs = pl.DataFrame({"st": st, "at_us": at, "site": fl.site[st], "region": fl.region_of_site[fl.site[st]]}).select(
            "st", "at_us", pl.lit("StationRegistered").alias("action"),
            fmt('{"password_hash":"","site":"site-{}","metadata":{"region":"region-{}"},'
                      '"boot_status":"Accepted","registered_at_us":{}}',
                      pl.col("site").cast(pl.String).str.zfill(4), "region", "at_us").alias("payload"),
            pl.lit("").alias("message_id"))
        self.sessions.append(regs)
        self.reconnect(st, at + 60 * US, reason="first")

    def reconnect(self, st: np.ndarray, at: np.ndarray, reason: str) -> None:
        """Connected, BootNotification and connector 0 Available (a station coming back)."""
        if len(st) == 0:
            return
        at = seconds(at)
        fl = self.fleet
        conn = pl.DataFrame({"st": st, "at_us": at}).with_columns(
            message_id=fmt("c-{}-{}", pl.lit(self.k), pl.int_range(pl.len()) + self.connections))
        self.connections += len(st)
        self.sessions.append(conn.select(
            "st", "at_us", pl.lit("Connected").alias("action"),
            fmt('{"connection_id":"{}","connected_at_us":{}}', "message_id", "at_us").alias("payload"),
            "message_id"))
        boots = pl.DataFrame({"st": st, "at_us": at + US, "v": fl.vendor[st],
                              "fw": np.where(fl.failure_day[st] >= 0, "4.1.0-rc", "4.2.1")})
        boots = boots.with_columns(vendor=pick("v", [v for v, _ in VENDORS]), model=pick("v", [m for _, m in VENDORS]))
        self.calls.append(calls(
            boots, "BootNotification",
            fmt('{"chargePointVendor":"{}","chargePointModel":"{}","firmwareVersion":"{}"}', "vendor", "model", "fw"),
            False, fmt('{"status":"Accepted","currentTime":"{}","interval":{}}', iso("at_us"),
                             pl.lit(self.o.heartbeat_s))))
        self.status(st, at + 2 * US, 0, "Available", "NoError")

    def disconnect(self, st: np.ndarray, at: np.ndarray, until: np.ndarray, close_code: int = 1006) -> None:
        if len(st) == 0:
            return
        at = seconds(at)
        self.offline.append((st, at, until))
        self.sessions.append(pl.DataFrame({"st": st, "at_us": at}).select(
            pl.col("st").cast(pl.Int32), "at_us", pl.lit("Disconnected").alias("action"),
            fmt('{"connection_id":"c-{}","close_code":{}}', pl.col("st"), pl.lit(close_code)).alias("payload"),
            fmt("c-{}", pl.col("st")).alias("message_id")))

    def status(self, st, at, connector, status, error) -> None:
        n = len(st)
        frame = pl.DataFrame({"st": st, "at_us": seconds(np.asarray(at, dtype=np.int64)),
                              "connector": np.broadcast_to(connector, n), "status": np.broadcast_to(status, n),
                              "error": np.broadcast_to(error, n)})
        self.statuses.append(frame)

    def faults(self, st: np.ndarray, at: np.ndarray, connector: np.ndarray | int = 1) -> None:
        n = len(st)
        errors = np.array(ERROR_CODES)[self.rng.integers(0, len(ERROR_CODES), n)]
        self.status(st, at, connector, "Faulted", errors)
        back = at + self.rng.integers(60, 900, n) * US
        self.status(st, back, connector, "Available", "NoError")

    def heartbeats(self, alive: np.ndarray) -> None:
        hb = self.o.heartbeat_s
        per = 86_400 // hb
        phase = (self.fleet.host[alive] * 37 + alive * 13) % hb  # a steady phase per station
        st = np.repeat(alive, per)
        at = self.t0 + (np.tile(np.arange(per) * hb, len(alive)) + np.repeat(phase, per)) * US
        at = at + self.rng.integers(0, 3 * US, len(at))
        self.calls.append(calls(pl.DataFrame({"st": st, "at_us": at}), "Heartbeat", pl.lit("{}"), False,
                                fmt('{"currentTime":"{}"}', iso("at_us"))))

    def charging_sessions(self, alive: np.ndarray, jitter_s: np.ndarray) -> pl.DataFrame:
        o, fl, rng = self.o, self.fleet, self.rng
        counts = rng.poisson(o.sessions_per_day, len(alive))
        st = np.repeat(alive, counts)
        rank = np.concatenate([np.arange(c) for c in counts]) if len(st) else np.zeros(0, dtype=np.int64)
        slot = 86_400 / np.maximum(np.repeat(counts, counts), 1)
        start = seconds(self.t0 + ((rank * slot + rng.uniform(60, 0.4 * slot)) * US).astype(np.int64))
        duration = np.minimum(rng.uniform(20 * 60, 150 * 60, len(st)), 0.5 * slot)
        stop = seconds(start + (duration * US).astype(np.int64))
        energy = np.round(fl.power_w[st] * rng.uniform(0.6, 1.0, len(st)) * duration / 3600).astype(np.int64)
        base_tx, register = self.carry["tx"], self.carry["register"]
        tx = base_tx[st] + rank + 1
        cum = np.zeros(len(st), dtype=np.int64)
        if len(st):
            order_start = np.minimum(np.concatenate([[0], np.cumsum(counts)[:-1]]), len(st) - 1)
            cum_all = np.cumsum(energy)
            cum = cum_all - energy - np.repeat(cum_all[order_start] - energy[order_start], counts)
        meter_start = register[st] + cum
        np.add.at(base_tx, st, 1)
        np.add.at(register, st, energy)
        return pl.DataFrame({
            "st": st, "tx": tx, "connector": 1 + rank % 2, "start": start, "stop": stop,
            "meter_start": meter_start, "meter_stop": meter_start + energy, "power": fl.power_w[st],
            "profile": fl.profile[st], "jitter_s": jitter_s[st],
        })

    def session_rows(self, s: pl.DataFrame) -> None:
        o = self.o
        if s.height == 0:
            return
        for status, offset_s, col in (("Preparing", -60, "start"), ("Charging", 5, "start"),
                                      ("Finishing", 2, "stop"), ("Available", 60, "stop")):
            self.statuses.append(s.select("st", (pl.col(col) + offset_s * US).alias("at_us"), "connector",
                                          pl.lit(status).alias("status"), pl.lit("NoError").alias("error")))
        tag = fmt("TAG{}", (pl.col("st") % 500).cast(pl.String).str.zfill(5))
        self.calls.append(calls(
            s.with_columns(at_us=pl.col("start")), "StartTransaction",
            fmt('{"connectorId":{},"idTag":"{}","meterStart":{},"timestamp":"{}"}',
                      "connector", tag, "meter_start", iso("start")),
            True, fmt('{"transactionId":{},"idTagInfo":{"status":"Accepted"}}', "tx")))
        self.calls.append(calls(
            s.with_columns(at_us=pl.col("stop"), _r=pl.col("tx") % 3,
                           ).with_columns(reason=pick("_r", ["EVDisconnected", "Local", "Remote"])), "StopTransaction",
            fmt('{"transactionId":{},"meterStop":{},"timestamp":"{}","reason":"{}"}',
                      "tx", "meter_stop", iso("stop"), "reason"), True))
        # MeterValues every meter_interval_s while charging; cadence jitter grows on degrading chargers.
        iv = o.meter_interval_s
        mv = (s.with_columns(n=((pl.col("stop") - pl.col("start")) // (iv * US)).cast(pl.Int64))
              .filter(pl.col("n") > 0)
              .with_columns(j=pl.int_ranges(1, pl.col("n") + 1)).explode("j"))
        noise = self.rng.normal(0, 1, mv.height) * mv["jitter_s"].to_numpy()
        mv = mv.with_columns(at_us=(pl.col("start") + pl.col("j") * iv * US + pl.Series(noise * US).cast(pl.Int64))
                             .clip(pl.col("start") + US, pl.col("stop") - US) // US * US)
        mv = mv.with_columns(
            wh=pl.col("meter_start") + (pl.col("meter_stop") - pl.col("meter_start"))
            * (pl.col("at_us") - pl.col("start")) / (pl.col("stop") - pl.col("start")),
            amps=(pl.col("power") / 3 / 230.0),
        )
        e_unit = pick("profile", [p[0] for p in UNIT_PROFILES])
        p_unit = pick("profile", [p[1] for p in UNIT_PROFILES])
        t_unit = pick("profile", [p[2] for p in UNIT_PROFILES])
        celsius = 25.0 + (pl.col("j") % 7).cast(pl.Float64)
        mv = mv.with_columns(
            e=pl.when(e_unit == "kWh").then((pl.col("wh") / 1000).round(3)).otherwise(pl.col("wh").round(0)).cast(pl.String),
            p=pl.when(p_unit == "kW").then((pl.col("power") / 1000).round(2)).otherwise(pl.col("power")).cast(pl.String),
            t=pl.when(t_unit == "K").then(celsius + 273.15).when(t_unit == "Fahrenheit").then(celsius * 9 / 5 + 32)
            .otherwise(celsius).round(1).cast(pl.String),
            a1=pl.col("amps").round(1).cast(pl.String), a2=(pl.col("amps") * 0.98).round(1).cast(pl.String),
            a3=(pl.col("amps") * 1.01).round(1).cast(pl.String), eu=e_unit, pu=p_unit, tu=t_unit,
        )
        payload = fmt(
            '{"connectorId":{},"transactionId":{},"meterValue":[{"timestamp":"{}","sampledValue":['
            '{"value":"{}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"{}"},'
            '{"value":"{}","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"{}"},'
            '{"value":"{}","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1","unit":"A"},'
            '{"value":"{}","context":"Sample.Periodic","measurand":"Current.Import","phase":"L2","unit":"A"},'
            '{"value":"{}","context":"Sample.Periodic","measurand":"Current.Import","phase":"L3","unit":"A"},'
            '{"value":"230.0","context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N","unit":"V"},'
            '{"value":"{}","context":"Sample.Periodic","measurand":"Temperature","location":"Body","unit":"{}"}]}]}',
            "connector", "tx", iso("at_us"), "e", "eu", "p", "pu", "a1", "a2", "a3", "t", "tu")
        self.calls.append(calls(mv, "MeterValues", payload, True))

    # --- planted anomalies ---

    def plant_outages(self, incidents: list[dict]) -> None:
        for inc in incidents:
            mine = np.isin(inc["_hit"], self.members)
            hit, at, back = inc["_hit"][mine], inc["_at"][mine], inc["_back"][mine]
            if len(hit) == 0:
                continue
            if inc["mode"] == "disconnect":
                self.disconnect(hit, at, back)
                self.reconnect(hit, back, reason="outage")
            else:
                self.status(hit, at, 0, inc["mode"], np.where(inc["mode"] == "Faulted", "InternalError", "NoError"))
                self.status(hit, back, 0, "Available", "NoError")

    def plant_degradation(self, alive: np.ndarray) -> np.ndarray:
        """Faults, reboots and disconnects of the degrading chargers; returns meter jitter (s) per station."""
        fl, rng, o = self.fleet, self.rng, self.o
        jitter = np.full(fl.n, 2.0)
        f = fl.failure_day
        mf = f[self.members]
        ramp = self.members[(mf >= 0) & (mf > self.k) & (mf - self.k <= DEGRADE_DAYS)]
        x = (DEGRADE_DAYS + 1 - (f[ramp] - self.k)) / DEGRADE_DAYS  # 1/7 .. 1 on the day before failure
        jitter[ramp] = 2.0 + 0.35 * o.meter_interval_s * x
        for rate, kind in ((0.3 + 3.5 * x, "fault"), (0.1 + 1.5 * x, "reboot"), (0.2 + 2.5 * x, "disconnect")):
            counts = rng.poisson(rate)
            st = np.repeat(ramp, counts)
            at = self.rand_times(len(st), 600, 84_000)
            if kind == "fault":
                self.faults(st, at, rng.integers(0, 3, len(st)))
            elif kind == "reboot":
                self.disconnect(st, at, at + 90 * US, close_code=1001)
                self.reconnect(st, at + 90 * US, reason="reboot")
            else:
                down = at + rng.integers(120, 1800, len(st)) * US
                self.disconnect(st, at, down)
                self.reconnect(st, down, reason="link")
        failing = self.members[mf == self.k]
        if len(failing):
            at = self.rand_times(len(failing), 3600, 43_200)
            self.status(failing, at, 0, "Faulted", "InternalError")
            self.disconnect(failing, at + 30 * US, np.full(len(failing), self.t0 + 2 * DAY_US))
        dead = self.members[(mf >= 0) & (mf < self.k)]
        if len(dead):
            self.offline.append((dead, np.full(len(dead), self.t0), np.full(len(dead), self.t0 + DAY_US)))
        return jitter

    def plant_bursts(self, alive: np.ndarray) -> None:
        n = int(self.rng.binomial(len(alive), self.o.burst_rate))
        st = self.rng.choice(alive, n, replace=False) if n else np.zeros(0, dtype=np.int64)
        counts = self.rng.integers(5, 10, n)
        st_rep = np.repeat(st, counts)
        # Spread over the day so the Available after each fault comes before the next fault.
        at = self.t0 + (np.concatenate([np.sort(self.rng.choice(np.arange(1, 86_000 // 1200), c, replace=False))
                                        for c in counts]) * 1200 * US if n else np.zeros(0, dtype=np.int64))
        self.faults(st_rep, at, 1)
        self.truth["planted_fault_bursts"].extend(
            {"station_id": str(self.fleet.ids[s]), "day": self.day.isoformat(), "faults": int(c)}
            for s, c in zip(st, counts))

    # --- assembling ---

    def build(self, incidents: list[dict]) -> pl.DataFrame:
        o, rng = self.o, self.rng
        if self.k == 0:
            self.registrations_and_boots()
        alive = self.alive()
        jitter = self.plant_degradation(alive)
        self.heartbeats(alive)
        base = rng.poisson(o.fault_rate, len(alive))
        st = np.repeat(alive, base)
        self.faults(st, self.rand_times(len(st), 600, 85_000), rng.integers(1, 3, len(st)))
        self.plant_bursts(alive)
        self.plant_outages(incidents)
        drops = rng.poisson(o.disconnect_rate, len(alive))
        st = np.repeat(alive, drops)
        at = self.rand_times(len(st), 600, 84_000)
        back = at + rng.integers(30, 900, len(st)) * US
        self.disconnect(st, at, back)
        self.reconnect(st, back, reason="link")
        self.plan_queued(alive)
        sessions = self.charging_sessions(alive, jitter)
        sessions = self._without_offline_sessions(sessions)
        self.session_rows(sessions)
        frame = pl.concat(self.calls + [status_calls(pl.concat(self.statuses, how="vertical_relaxed"))],
                          how="vertical_relaxed")
        frame = self._drop_offline(frame)
        frame, late = self._queue_offline(frame)
        frame = self._duplicate(frame)
        frame = pl.concat([frame, self._malformed(alive)], how="vertical_relaxed")
        return self._to_bronze(frame, pl.concat(self.sessions, how="vertical_relaxed") if self.sessions else None, late)

    def _offline_frame(self) -> pl.DataFrame:
        if not self.offline:
            return pl.DataFrame(schema={"st": pl.Int32, "off_from": pl.Int64, "off_to": pl.Int64})
        return pl.DataFrame({
            "st": np.concatenate([s for s, _, _ in self.offline]).astype(np.int32),
            "off_from": np.concatenate([a for _, a, _ in self.offline]).astype(np.int64),
            "off_to": np.concatenate([b for _, _, b in self.offline]).astype(np.int64),
        })

    def _without_offline_sessions(self, s: pl.DataFrame) -> pl.DataFrame:
        off = self._offline_frame()
        s = s.with_columns(pl.col("st").cast(pl.Int32), _row=pl.int_range(pl.len()))
        hit = s.join(off, on="st").filter(
            (pl.col("start") - 120 * US < pl.col("off_to")) & (pl.col("stop") + 120 * US > pl.col("off_from")))["_row"]
        return s.filter(~pl.col("_row").is_in(hit.implode())).drop("_row")

    def _drop_offline(self, frame: pl.DataFrame) -> pl.DataFrame:
        """No CALL reaches the CSMS while a station has no link (the Available of a reconnect
        comes right at its end, so the interval is half-open)."""
        off = self._offline_frame()
        frame = frame.with_columns(_row=pl.int_range(pl.len()))
        hit = frame.join(off, on="st").filter(
            (pl.col("at_us") >= pl.col("off_from")) & (pl.col("at_us") < pl.col("off_to")))["_row"]
        return frame.filter(~pl.col("_row").is_in(hit.implode())).drop("_row")

    def plan_queued(self, alive: np.ndarray) -> None:
        """Stations that lose their link in the afternoon and come back on a later day; while
        away they keep charging and queue what has a timestamp (OCPP 1.6 section 4.10)."""
        rng = self.rng
        healthy = alive[self.fleet.failure_day[alive] < 0]
        n = int(rng.binomial(len(healthy), self.o.late_share))
        st = np.sort(rng.choice(healthy, n, replace=False)) if n else np.zeros(0, dtype=np.int64)
        lost = self.rand_times(n, 12 * 3600, 22 * 3600)
        back = seconds(self.t0 + DAY_US + (rng.uniform(1, 30, n) * 3600 * US).astype(np.int64))
        self.queued = (st, lost, back)
        if n:
            self.sessions.append(pl.DataFrame({"st": st, "at_us": lost}).select(
                pl.col("st").cast(pl.Int32), "at_us", pl.lit("Disconnected").alias("action"),
                fmt('{"connection_id":"c-{}","close_code":1006}', pl.col("st")).alias("payload"),
                fmt("c-{}", pl.col("st")).alias("message_id")))
            self.reconnect(st, back, reason="queued")

    def _queue_offline(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Queued events are received, in order, right after the link is back; heartbeats of
        the time away were never sent."""
        frame = frame.with_columns(received_at=pl.col("at_us") + (pl.int_range(pl.len()) % 400 + 20) * 1000)
        st, lost, back = self.queued
        if len(st) == 0:
            return frame, pl.DataFrame()
        win = pl.DataFrame({"st": st.astype(np.int32), "lost": lost, "back": back})
        frame = frame.with_columns(_row=pl.int_range(pl.len()))
        inside = frame.join(win, on="st", maintain_order="left").filter(
            (pl.col("at_us") >= pl.col("lost")) & (pl.col("at_us") < pl.col("back")))
        queued = inside.filter(pl.col("has_ts")).sort("st", "at_us", maintain_order=True).with_columns(
            received_at=pl.col("back") + 5 * US + pl.int_range(pl.len()).over("st") * 100_000)
        frame = pl.concat([frame.filter(~pl.col("_row").is_in(inside["_row"].implode())), queued.select(frame.columns)])
        late = queued.group_by("st").agg(n=pl.len(), first=pl.col("at_us").min(),
                                         received=pl.col("received_at").min()).sort("st")
        return frame.drop("_row"), late

    def _duplicate(self, frame: pl.DataFrame) -> pl.DataFrame:
        kinds = ["StartTransaction", "StopTransaction", "MeterValues", "StatusNotification"]
        pick = frame.filter(pl.col("action").is_in(kinds))
        mask = self.rng.random(pick.height) < self.o.duplicate_share
        dup = pick.filter(pl.Series(mask)).with_columns(received_at=pl.col("received_at") + 30 * US)
        self.truth["duplicates"] += dup.height
        return pl.concat([frame, dup])

    def _malformed(self, alive: np.ndarray) -> pl.DataFrame:
        m = self.o.malformed_per_day if self.first_chunk else 0
        st = self.rng.choice(alive, 3 * m) if m and len(alive) else np.zeros(0, dtype=np.int64)
        at = self.rand_times(len(st), 600, 85_000)
        f = pl.DataFrame({"st": st[:m], "at_us": at[:m]})
        garbage = calls(f, "Malformed", pl.lit('[2, "broken'), False,
                        pl.lit('["FormationViolation","frame is not valid JSON",{}]'), "CALLERROR")
        f = pl.DataFrame({"st": st[m:2 * m], "at_us": at[m:2 * m]})
        bad_type = calls(f, "StatusNotification", pl.lit('{"connectorId":"one","errorCode":"NoError","status":"Available"}'),
                         False, pl.lit('["TypeConstraintViolation","Expected `int`, got `str`",{}]'), "CALLERROR")
        f = pl.DataFrame({"st": st[2 * m:], "at_us": at[2 * m:]})
        nan = calls(f, "MeterValues", fmt('{"connectorId":1,"meterValue":[{"timestamp":"{}","sampledValue":'
                                                '[{"value":"NaN","measurand":"Voltage","unit":"V"}]}]}', iso("at_us")), True)
        self.truth["malformed"] += 3 * len(st[:m])
        k = self.o.orphan_stops_per_day if self.first_chunk else 0
        f = pl.DataFrame({"st": self.rng.choice(alive, k), "at_us": self.rand_times(k, 600, 85_000)}) if k and len(alive) \
            else pl.DataFrame(schema={"st": pl.Int64, "at_us": pl.Int64})
        orphans = calls(f, "StopTransaction", fmt('{"transactionId":-1,"meterStop":{},"timestamp":"{}"}',
                                                    pl.col("st") * 10, iso("at_us")), True)
        self.truth["orphan_stops"] += f.height
        return pl.concat([garbage, bad_type, nan, orphans]).with_columns(received_at=pl.col("at_us") + 50_000)

    def _to_bronze(self, frame: pl.DataFrame, sessions: pl.DataFrame | None, late: pl.DataFrame) -> pl.DataFrame:
        frame = frame.with_columns(message_id=fmt("{}-{}", pl.lit(self.k), pl.int_range(pl.len())))
        cols = dict(station_ts=pl.when(pl.col("has_ts")).then(pl.col("at_us")).otherwise(None))
        inbound = frame.select(
            "st", "received_at", **cols, direction=pl.lit("in"), message_type=pl.lit("CALL"), message_id="message_id",
            action="action", payload="payload", _order=pl.lit(0))
        outbound = frame.select(
            "st", "received_at", station_ts=pl.lit(None, pl.Int64), direction=pl.lit("out"),
            message_type="answer_type", message_id="message_id", action="action", payload="answer", _order=pl.lit(1))
        parts = [inbound, outbound]
        if sessions is not None and sessions.height:
            parts.append(sessions.select(
                "st", received_at="at_us", station_ts=pl.lit(None, pl.Int64), direction=pl.lit("system"),
                message_type=pl.lit("SESSION"), message_id="message_id", action="action", payload="payload",
                _order=pl.lit(0)))
        rows = pl.concat(parts, how="vertical_relaxed").sort("received_at", "st", "message_id", "_order",
                                                              maintain_order=True)
        if late.height:
            for st, n, first, received in late.iter_rows():
                self.truth["late"].append({"station_id": str(self.fleet.ids[st]), "happened_day": self.day.isoformat(),
                                           "received_day": _iso_us(received)[:10], "events": int(n)})
        return rows.with_columns(
            source=fmt("station-host-{}", (pl.col("st") % self.o.hosts)),
            station_id=pl.col("st").replace_strict(dict(enumerate(self.fleet.ids.tolist())), return_dtype=pl.String),
        )


def _iso_us(us: int) -> str:
    return dt.datetime.fromtimestamp(us / US, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def plan_outages(o: Options, fleet: Fleet, rng: np.random.Generator) -> dict[int, list[dict]]:
    count = o.outages if o.outages >= 0 else max(1, round(o.days * 2 / 7))
    plan: dict[int, list[dict]] = {}
    n_sites = int(fleet.site.max()) + 1
    for i in range(count):
        k = int(rng.integers(0, o.days))
        scope = "site" if rng.random() < 0.7 or n_sites < 3 else "region"
        site = int(rng.integers(0, n_sites))
        region = int(fleet.region_of_site[site])
        start = int(dt.datetime.combine(o.start + dt.timedelta(days=k), dt.time(), dt.timezone.utc).timestamp()) * US
        start += int(rng.uniform(2 * 3600, 20 * 3600)) * US
        mode = str(rng.choice(["disconnect", "disconnect", "Unavailable", "Faulted"]))
        plan.setdefault(k, []).append({
            "incident": i, "scope": scope, "scope_key": f"site-{site:04d}" if scope == "site" else f"region-{region}",
            "mode": mode, "_site": site, "_region": region, "_start_us": start, "day": (o.start + dt.timedelta(days=k)).isoformat()})
    return plan


def hit_outages(o: Options, fleet: Fleet, k: int, incidents: list[dict], rng: np.random.Generator) -> None:
    """Which stations each of the day's incidents takes down, and when (fleet-wide, before chunking)."""
    fl = fleet
    for inc in incidents:
        members = np.flatnonzero(fl.site == inc["_site"]) if inc["scope"] == "site" else \
            np.flatnonzero(fl.region_of_site[fl.site] == inc["_region"])
        members = members[(fl.failure_day[members] < 0) | (fl.failure_day[members] > k)]
        share = rng.uniform(0.8, 1.0)
        hit = np.sort(rng.choice(members, max(1, int(round(share * len(members)))), replace=False))
        at = seconds(inc["_start_us"] + rng.integers(0, o.outage_window_s * US, len(hit)))
        back = at + rng.integers(30 * 60, 120 * 60, len(hit)) * US
        inc.update(_hit=hit, _at=at, _back=back, stations=[str(s) for s in fl.ids[hit]], in_scope=int(len(members)),
                   window_start=_iso_us(int(at.min())), window_end=_iso_us(int(at.max())))


def generate(o: Options, echo=print) -> dict:
    """Write the history; return the ground truth (also written to o.truth if set)."""
    rng = np.random.default_rng(o.seed)
    fleet = make_fleet(o, rng)
    outages = plan_outages(o, fleet, rng)
    carry = {"tx": np.zeros(fleet.n, dtype=np.int64), "register": rng.integers(0, 5_000_000, fleet.n)}
    truth: dict = {"stations": o.stations, "start": o.start.isoformat(), "days": o.days, "seed": o.seed,
                   "planted_fault_bursts": [], "duplicates": 0, "malformed": 0, "orphan_stops": 0, "late": []}
    seq = np.zeros(o.hosts, dtype=np.int64)
    fault_days: list[pl.DataFrame] = []
    began, rows_total = time.perf_counter(), 0
    chunks = [np.arange(i, min(i + o.chunk_stations, fleet.n)) for i in range(0, fleet.n, o.chunk_stations)]
    for k in range(o.days):
        incidents = outages.get(k, [])
        hit_outages(o, fleet, k, incidents, rng)
        day_rows = 0
        for c, members in enumerate(chunks):
            day = Day(o, fleet, k, rng, carry, truth, members, first_chunk=c == 0)
            rows = day.build(incidents)
            faulted = rows.filter((pl.col("action") == "StatusNotification") & (pl.col("direction") == "in")
                                  & pl.col("payload").str.contains('"status":"Faulted"'))
            # Numbers only: a string column filtered from `rows` would keep the day's buffers alive.
            # "st" is Int32 or Int64 depending on whether the chunk had session rows that day.
            fault_days.append(faulted.select(pl.col("st").cast(pl.Int64), "station_ts", pl.col("payload").hash()).unique())
            for (h,), part in sorted(rows.with_columns(_h=pl.col("st") % o.hosts).partition_by("_h", as_dict=True).items()):
                first = int(seq[h]) + 1
                frame = part.select(
                    "source", seq=pl.int_range(first, first + pl.len(), dtype=pl.Int64), station_id="station_id",
                    received_at=pl.col("received_at").cast(TS), station_ts=pl.col("station_ts").cast(TS),
                    ocpp_version=pl.lit("1.6"), direction="direction", message_type="message_type",
                    message_id="message_id", action="action", payload="payload")
                seq[h] += part.height
                lake.write_bronze_frame(o.data_root, frame, f"station-host-{h}-{first}")
            day_rows += rows.height
            del rows
        rows_total += day_rows
        echo(f"{day.day}: {day_rows:,} bronze rows ({rows_total:,} in all, {time.perf_counter() - began:.1f} s)",
             flush=True)
    faults = pl.concat(fault_days).unique().with_columns(
        day=pl.col("station_ts").cast(TS).dt.date().cast(pl.String),
        station_id=pl.col("st").replace_strict(dict(enumerate(fleet.ids.tolist())), return_dtype=pl.String))
    bursts = faults.group_by("station_id", "day").len().filter(pl.col("len") >= 5).sort("station_id", "day")
    truth["fault_burst_days"] = [{"station_id": s, "day": d, "faults": int(n)} for s, d, n in bursts.iter_rows()]
    truth["outages"] = [{k: v for k, v in inc.items() if not k.startswith("_")}
                        for day_incidents in outages.values() for inc in day_incidents]
    truth["degrading"] = [
        {"station_id": str(fleet.ids[i]), "failure_day": (o.start + dt.timedelta(days=int(fleet.failure_day[i]))).isoformat(),
         "degrading_from": (o.start + dt.timedelta(days=max(0, int(fleet.failure_day[i]) - DEGRADE_DAYS))).isoformat()}
        for i in np.flatnonzero(fleet.failure_day >= 0)]
    truth["sites"] = {f"site-{s:04d}": f"region-{int(fleet.region_of_site[s])}" for s in range(int(fleet.site.max()) + 1)}
    truth["rows"] = rows_total
    if o.truth:
        Path(o.truth).write_text(json.dumps(truth, indent=1))
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.gen_history", description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, required=True)
    p.add_argument("--start", type=dt.date.fromisoformat, required=True)
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--truth", type=Path, help="write the planted anomalies as JSON here")
    defaults = Options(0, dt.date.today(), 0, 0, Path("."))
    for name in ("heartbeat_s", "sessions_per_day", "meter_interval_s", "hosts", "fault_rate", "disconnect_rate",
                 "burst_rate", "outages", "outage_window_s", "degrading_share", "late_share", "duplicate_share",
                 "malformed_per_day", "orphan_stops_per_day", "chunk_stations"):
        value = getattr(defaults, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value, help=f"default {value}")
    args = vars(p.parse_args(argv))
    o = Options(**args)
    began = time.perf_counter()
    truth = generate(o)
    print(f"wrote {truth['rows']:,} bronze rows for {o.stations} stations x {o.days} days in "
          f"{time.perf_counter() - began:.1f} s: {len(truth['fault_burst_days'])} fault-burst station-days, "
          f"{len(truth['outages'])} outages, {len(truth['degrading'])} degrading stations, "
          f"{sum(x['events'] for x in truth['late'])} late events, {truth['duplicates']} duplicates, "
          f"{truth['malformed']} malformed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
