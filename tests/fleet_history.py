"""A generated silver history of a small fleet with planted outages and degrading chargers.

8 sites x 12 stations in two regions (north: site-0..3, south: site-4..7), 21 days of
October 2026. Ordinary life: network blips (reconnect within seconds), now and then a
station offline for hours, rare faults, reboots, ~4 session attempts a day (now and then
one refused: an Authorize answered Invalid or a RemoteStart the station Rejected), energy
samples every 5 minutes. Planted (all in the last week, the days the tests score): the
incidents of PLANTED_OUTAGES, two near misses that must not be incidents, and the
degrading chargers of DEGRADING (faults, reboots, disconnects, sampling jitter rising and
energy falling over the days before their failure day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from analytics.tables import (
    AUTHORIZATIONS, CONNECTIVITY, METER_VALUES, STATUS_CHANGES, TRANSACTIONS, day_dir, write_partition,
)
from tests.silver_rows import station, write_stations

UTC = dt.timezone.utc
FIRST_DAY = dt.date(2026, 10, 1)
DAYS = 21
SCORED_DAYS = [FIRST_DAY + dt.timedelta(days=k) for k in range(14, DAYS)]  # 15..21 October
SITES = 8
PER_SITE = 12


def sid(site: int, k: int) -> str:
    return f"CP-{site}-{k:02d}"


def region(site: int) -> str:
    return "north" if site < 4 else "south"


@dataclass(frozen=True)
class PlantedOutage:
    scope: str
    key: str
    at: dt.datetime
    stations: tuple[str, ...]
    how: str  # offline | Unavailable | Faulted


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


PLANTED_OUTAGES = (
    PlantedOutage("site", "site-1", _at("2026-10-16T10:03:00"), tuple(sid(1, k) for k in range(10)), "offline"),
    # Straddles the 15:00 step boundary.
    PlantedOutage("site", "site-5", _at("2026-10-18T14:58:00"), tuple(sid(5, k) for k in range(9)), "Unavailable"),
    PlantedOutage("region", "north", _at("2026-10-20T03:00:00"),
                  tuple(sid(s, k) for s in range(4) for k in range(9)), "offline"),
    PlantedOutage("site", "site-6", _at("2026-10-21T21:30:00"), tuple(sid(6, k) for k in range(2, 8)), "Faulted"),
)
# Not incidents: a whole site's blip (everyone back within a minute), two stations together.
NEAR_MISSES = (
    ("site-7", _at("2026-10-17T12:00:00"), tuple(sid(7, k) for k in range(12)), "blip"),
    ("site-2", _at("2026-10-19T08:00:00"), (sid(2, 3), sid(2, 4)), "offline"),
)
# station -> the day it fails; it degrades over the DEGRADE_DAYS before.
DEGRADING = {sid(0, 5): dt.date(2026, 10, 17), sid(3, 7): dt.date(2026, 10, 19),
             sid(4, 2): dt.date(2026, 10, 20), sid(6, 11): dt.date(2026, 10, 21)}
DEGRADE_DAYS = 4


def at_risk(station_id: str, day: dt.date) -> bool:
    """The planted truth for maintenance: the station fails within DEGRADE_DAYS from `day`."""
    failure = DEGRADING.get(station_id)
    return failure is not None and failure - dt.timedelta(days=DEGRADE_DAYS - 1) <= day <= failure


def _degradation(station_id: str, day: dt.date) -> int:
    """0 when healthy, 1..DEGRADE_DAYS rising towards the failure day."""
    failure = DEGRADING.get(station_id)
    if failure is None or not (failure - dt.timedelta(days=DEGRADE_DAYS) < day <= failure):
        return 0
    return DEGRADE_DAYS - (failure - day).days


def generate(data_root: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    conn, status, tx, meter, auth = [], [], [], [], []
    stations = [(s, k) for s in range(SITES) for k in range(PER_SITE)]
    for day_index in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=day_index)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
        for s, k in stations:
            station_id = sid(s, k)
            d = _degradation(station_id, day)

            def at(seconds: float) -> dt.datetime:
                return midnight + dt.timedelta(seconds=float(seconds))

            for t in rng.uniform(0, 86_000, rng.poisson(0.6 + 2 * d)):
                back = rng.uniform(5, 60) if rng.random() < 0.85 else rng.uniform(3_600, 10_000)
                conn += [(station_id, at(t), "disconnect"), (station_id, at(t + back), "connect")]
            for t in rng.uniform(0, 86_000, rng.poisson(0.05 + 1.0 * d)):
                conn.append((station_id, at(t), "boot"))
            for t in rng.uniform(0, 86_000, rng.poisson(0.15 + 2.0 * d)):
                status.append((station_id, int(rng.integers(1, 3)), at(t), "Faulted", "GroundFailure"))
                status.append((station_id, 1, at(t + 600), "Available", "NoError"))
            jitter = 0.5 + 40.0 * d
            for n, t in enumerate(np.sort(rng.uniform(0, 80_000, rng.poisson(4)))):
                transaction_id = day_index * 1000 + n
                if rng.random() < 0.02 + 0.15 * d:  # refused: no transaction
                    action, refusal = ("Authorize", "Invalid") if n % 2 else ("RemoteStartTransaction", "Rejected")
                    auth.append((station_id, at(t), action, refusal, None))
                    continue
                duration = rng.uniform(1_800, 5_400)
                energy = max(500.0, rng.normal(15_000, 3_000) * (1 - 0.2 * d))
                tx.append((station_id, transaction_id, 1, at(t), at(t + duration), duration, 0, int(energy), energy))
                auth.append((station_id, at(t), "StartTransaction", "Accepted", transaction_id))
                offsets = np.arange(300.0, duration, 300.0) + rng.normal(0, jitter, len(np.arange(300.0, duration, 300.0)))
                for o in np.sort(np.clip(offsets, 1, duration - 1)):
                    meter.append((station_id, 1, transaction_id, at(t + o), float(energy * o / duration)))
    _plant(conn, status)
    _write(data_root, conn, status, tx, meter, auth)
    write_stations(data_root, [station(sid(s, k), site=f"site-{s}", region=region(s)) for s, k in stations])


def _plant(conn: list, status: list) -> None:
    rng = np.random.default_rng(99)
    for outage in PLANTED_OUTAGES:
        for station_id in outage.stations:
            t = outage.at + dt.timedelta(seconds=float(rng.uniform(0, 240)))
            if outage.how == "offline":
                conn += [(station_id, t, "disconnect"), (station_id, t + dt.timedelta(hours=2), "connect")]
            else:
                status.append((station_id, 0, t, outage.how, "OtherError" if outage.how == "Faulted" else "NoError"))
                status.append((station_id, 0, t + dt.timedelta(hours=1), "Available", "NoError"))
    for _, at, stations, how in NEAR_MISSES:
        for station_id in stations:
            t = at + dt.timedelta(seconds=float(rng.uniform(0, 120)))
            back = dt.timedelta(seconds=30) if how == "blip" else dt.timedelta(hours=2)
            conn += [(station_id, t, "disconnect"), (station_id, t + back, "connect")]


def _by_day(table, data_root: Path, frame: pl.DataFrame) -> None:
    for (day,), part in frame.group_by(pl.col(table.time_column).dt.date()):
        write_partition(table, day_dir(table, data_root, day), part)


def _write(data_root: Path, conn: list, status: list, tx: list, meter: list, auth: list) -> None:
    ts = pl.Datetime("us", "UTC")
    c = pl.DataFrame(conn, schema={"station_id": pl.String, "event_ts": ts, "kind": pl.String}, orient="row")
    _by_day(CONNECTIVITY, data_root, c.with_columns(
        pl.lit(None, pl.Float64).alias("gap_s"), pl.lit(None, pl.Int32).alias("close_code"),
        pl.lit(None, pl.String).alias("detail")))
    s = pl.DataFrame(status, schema={"station_id": pl.String, "connector_id": pl.Int32, "event_ts": ts,
                                     "status": pl.String, "error_code": pl.String}, orient="row")
    _by_day(STATUS_CHANGES, data_root, s.with_columns(
        pl.col("event_ts").alias("station_ts"), pl.col("event_ts").alias("received_at"), pl.lit(0.0).alias("lateness_s"),
        pl.lit(None, pl.String).alias("info"), pl.lit(None, pl.String).alias("vendor_id"),
        pl.lit(None, pl.String).alias("vendor_error_code"), pl.lit("gen").alias("source"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("seq"), pl.lit(None, pl.Int32).alias("evse_id")))
    t = pl.DataFrame(tx, schema={"station_id": pl.String, "transaction_id": pl.Int64, "connector_id": pl.Int32,
                                 "start_ts": ts, "stop_ts": ts, "duration_s": pl.Float64, "meter_start_wh": pl.Int64,
                                 "meter_stop_wh": pl.Int64, "energy_wh": pl.Float64}, orient="row")
    _by_day(TRANSACTIONS, data_root, t.with_columns(
        pl.lit("hash").alias("id_tag_hash"), pl.lit("Local").alias("stop_reason"), pl.lit(False).alias("is_orphan"),
        pl.lit(False).alias("is_duplicate"), pl.lit("station").alias("end_kind"),
        pl.lit(None, pl.String).alias("settled_reason"), pl.lit(False).alias("meter_stop_estimated"),
        pl.lit(None, pl.String).alias("authorization"),
        pl.lit(False).alias("authorized_offline"), pl.lit(None, pl.String).alias("station_transaction_id"),
        pl.lit(None, pl.Int32).alias("evse_id"), pl.lit(None, pl.List(pl.Int32)).alias("seq_gaps")))
    a = pl.DataFrame(auth, schema={"station_id": pl.String, "event_ts": ts, "action": pl.String, "status": pl.String,
                                   "transaction_id": pl.Int64}, orient="row")
    _by_day(AUTHORIZATIONS, data_root, a.with_columns(
        pl.col("event_ts").alias("received_at"), pl.lit(1, pl.Int32).alias("connector_id"),
        pl.lit("hash").alias("id_tag_hash"), (pl.col("status") == "Accepted").alias("accepted"),
        pl.lit(None, pl.String).alias("authorization"), pl.lit(None, pl.String).alias("downstream"),
        pl.lit("gen").alias("message_id"), pl.lit("gen").alias("source"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("seq"), pl.lit(None, pl.String).alias("station_transaction_id")))
    m = pl.DataFrame(meter, schema={"station_id": pl.String, "connector_id": pl.Int32, "transaction_id": pl.Int64,
                                    "sampled_at": ts, "value": pl.Float64}, orient="row")
    _by_day(METER_VALUES, data_root, m.with_columns(
        pl.col("sampled_at").alias("received_at"), pl.lit("Sample.Periodic").alias("context"),
        pl.lit("Energy.Active.Import.Register").alias("measurand"), pl.lit(None, pl.String).alias("phase"),
        pl.lit("Outlet").alias("location"), pl.lit("Wh").alias("unit"),
        pl.col("value").cast(pl.String).alias("raw_value"), pl.lit("Wh").alias("si_unit"),
        pl.lit(None, pl.Int32).alias("evse_id"), pl.lit(None, pl.String).alias("station_transaction_id"),
        pl.lit(None, pl.Int32).alias("unit_multiplier"), pl.lit(None, pl.String).alias("signed_meter_value")))
