"""Daily curation: bronze -> the silver tables, one whole UTC day partition at a time.

    python -m analytics.curate [--day YYYY-MM-DD] [--data-root DIR] [--ray]
    ray job submit --working-dir . -- python -m analytics.curate --ray

Without --day it curates yesterday (UTC) plus every day that bronze received since the
last run touches: an offline-queued event received today that happened three days ago
makes that day's partitions be rewritten whole, so late data lands in the day it
happened (analytics.tables). Which days those are comes from a small durable state file
(`silver/_curation/state.json`): a watermark on bronze file times and, per event day, the
receive-day partitions holding its rows, so a day is rebuilt from exactly the bronze it
needs. Re-running a day rewrites the same rows (the builders sort them; analytics.silver).
Several days run as parallel Ray tasks when Ray is connected (--ray or RAY_ADDRESS);
otherwise in this process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from actors import events as ev
from actors import lake
from actors.durable_file import write_atomically
from analytics import silver
from analytics import tables as t

log = logging.getLogger("csms.analytics.curate")  # csms.*: JSON in the scheduler actor (actors/logs.py)

STATE_VERSION = 1
# Files written within this long before the previous run began are read again: a writer
# may have stamped a file before that run listed the directory and renamed it in after.
# Re-reading is harmless (every step is idempotent).
WATERMARK_OVERLAP_S = 600
DAY_TABLES = (t.STATUS_CHANGES, t.TRANSACTIONS, t.METER_VALUES, t.CONNECTIVITY, t.QUARANTINE, t.AUTHORIZATIONS,
              t.SECURITY_EVENTS, t.COMPONENT_EVENTS)


@dataclass(frozen=True)
class Settings:
    transaction_lookback_days: int = 7
    heartbeat_gap_s: float = 1800.0
    # A day's stations are curated in groups of about this many bronze rows: every silver
    # row belongs to one station, so groups are independent, and memory stays bounded.
    rows_per_group: int = 750_000

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(config.curate_transaction_lookback_days, config.curate_heartbeat_gap_s)


# --- the durable state --------------------------------------------------------------------


@dataclass
class State:
    """What the curation knows about bronze between runs."""

    watermark_ns: int = 0  # files with an mtime from this (minus the overlap) on are new
    # event day -> receive days whose bronze holds rows of it ("YYYY-MM-DD" both)
    event_days: dict[str, list[str]] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # touched days not curated yet
    retired_through: str | None = None  # retention deleted bronze received up to this day
    # Files inside the overlap already indexed, "path mtime_ns size": re-reading them would
    # only make a run within minutes of the last rewrite days for nothing.
    recent: list[str] = field(default_factory=list)

    @staticmethod
    def path(data_root: Path) -> Path:
        return Path(data_root) / "silver" / "_curation" / "state.json"

    @classmethod
    def load(cls, data_root: Path) -> State:
        path = cls.path(data_root)
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: unknown curation state version {raw.get('version')!r}")
        return cls(raw["watermark_ns"], raw["event_days"], raw["pending"], raw.get("retired_through"),
                   raw.get("recent", []))

    def save(self, data_root: Path) -> None:
        path = self.path(data_root)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"version": STATE_VERSION, "watermark_ns": self.watermark_ns,
                "event_days": {k: sorted(v) for k, v in sorted(self.event_days.items())},
                "pending": sorted(set(self.pending)), "retired_through": self.retired_through,
                "recent": sorted(self.recent)}
        write_atomically(path, json.dumps(body, indent=1).encode())

    def receive_days(self, event_days: Iterable[dt.date]) -> set[dt.date]:
        out: set[dt.date] = set()
        for d in event_days:
            out.update(dt.date.fromisoformat(r) for r in self.event_days.get(d.isoformat(), ()))
        return out


def bronze_day_of(path: Path) -> dt.date:
    # .../year=YYYY/month=MM/day=DD/<file>.parquet
    y, mo, d = (int(p.name.split("=", 1)[1]) for p in (path.parent.parent.parent, path.parent.parent, path.parent))
    return dt.date(y, mo, d)


def bronze_files(data_root: Path, day: dt.date | None = None) -> list[Path]:
    base = lake.bronze_dir(data_root)
    if day is not None:
        return sorted(lake.bronze_path(data_root, day, "x").parent.glob("*.parquet"))
    return sorted(base.glob("year=*/month=*/day=*/*.parquet"))


def scan_new_bronze(data_root: Path, state: State, started_ns: int) -> tuple[list[Path], set[dt.date]]:
    """Index the bronze written since the last run; return those files and the days they touch.

    A touched day is one that a new row happened on (station clock) or was received on.
    """
    overlap_ns = WATERMARK_OVERLAP_S * 1_000_000_000
    since = state.watermark_ns - overlap_ns if state.watermark_ns else None
    seen = set(state.recent)
    new, recent = [], []
    for path in bronze_files(data_root):
        st = path.stat()
        stamp = f"{path.relative_to(data_root)} {st.st_mtime_ns} {st.st_size}"
        if st.st_mtime_ns >= started_ns - overlap_ns:
            recent.append(stamp)
        if (since is None or st.st_mtime_ns >= since) and stamp not in seen:
            new.append(path)
    touched: set[dt.date] = set()
    if new:
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in new)
        pairs = duckdb.sql(
            "select distinct cast(received_at as date) as r, "
            "cast(coalesce(station_ts, received_at) as date) as e "
            f"from read_parquet([{files}])"
        ).fetchall()
        for received, happened in pairs:
            receive_days = state.event_days.setdefault(happened.isoformat(), [])
            if received.isoformat() not in receive_days:
                receive_days.append(received.isoformat())
            touched.update((received, happened))
    state.watermark_ns = started_ns
    state.recent = recent
    state.pending = sorted(set(state.pending) | {d.isoformat() for d in touched})
    return new, touched


# --- one day --------------------------------------------------------------------------------


def _day_expr(column: str) -> pl.Expr:
    return pl.col(column).dt.date()


def read_window(
    data_root: Path, state: State, day: dt.date, settings: Settings,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The bronze rows the day's silver can come from, the StartTransactions, authorization
    decisions and settlements of its lookback, and each station's last CALL received the day before (see
    silver.curate_day_frames)."""
    one = dt.timedelta(days=1)
    receive = state.receive_days([day - one, day, day + one]) | {day - one, day}
    files = [f for r in sorted(receive) for f in bronze_files(data_root, r)]
    event_day = _day_expr("station_ts").fill_null(_day_expr("received_at"))
    received_day = _day_expr("received_at")
    samples = pl.col("action").is_in(silver.SAMPLED_ACTIONS)
    # A sample on `day` (UTC) inside a message of the day before is written with `day`'s or the
    # next day's date (Z or a positive offset), or with a negative offset: only those can matter.
    may_sample_day = pl.col("payload").str.contains(day.isoformat(), literal=True) \
        | pl.col("payload").str.contains((day + one).isoformat(), literal=True) \
        | pl.col("payload").str.contains(r"T\d\d:\d\d(:\d\d(\.\d+)?)?-\d\d")
    window, last_calls = pl.DataFrame(schema=lake.BRONZE_SCHEMA), pl.DataFrame(
        schema={"station_id": pl.String, "received_at": lake.BRONZE_SCHEMA["received_at"]})
    midnight = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
    # A CALL received again just after midnight is recognised by its first copy (analytics.silver.staging).
    resent_from = (pl.col("received_at") >= midnight - dt.timedelta(seconds=t.RETRANSMISSION_WINDOW_S)) \
        & (received_day == day - one) & pl.col("action").is_in(silver.INTERPRETED_ACTIONS) \
        & pl.col("message_type").is_in(["CALL", "CALLRESULT", "CALLERROR"])
    if files:
        spill = samples & (event_day == day - one) & (received_day != day)
        window = pl.scan_parquet(files, schema=lake.BRONZE_SCHEMA, hive_partitioning=False).filter(
            (event_day == day) | (received_day == day) | spill | resent_from
            | (pl.col("action").is_in(silver.STOP_ACTIONS) & (event_day == day + one))
            # A station's answer to a RemoteStartTransaction sent just before midnight.
            | (pl.col("action").is_in(silver.REMOTE_START_ACTIONS) & (pl.col("direction") == "in")
               & (received_day == day + one))
        ).collect()
        # Text search only over the few candidates (in the scan it would run on every row).
        window = window.filter(~spill | may_sample_day | resent_from)
        before = bronze_files(data_root, day - one)
        if before:
            last_calls = pl.scan_parquet(before, schema=lake.BRONZE_SCHEMA, hive_partitioning=False).filter(
                (pl.col("direction") == "in") & (pl.col("message_type") == "CALL")
            ).group_by("station_id").agg(pl.col("received_at").max()).sort("station_id").collect()
    lookback = [day - dt.timedelta(days=k) for k in range(settings.transaction_lookback_days + 1)]
    start_files = [f for r in sorted(state.receive_days(lookback)) for f in bronze_files(data_root, r)]
    starts = (
        pl.scan_parquet(start_files, schema=lake.BRONZE_SCHEMA, hive_partitioning=False).filter(
            (pl.col("action").is_in(silver.START_ACTIONS)
             & pl.col("message_type").is_in(["CALL", "CALLRESULT", "CALLERROR"])
             & (event_day.is_between(lookback[-1], day) | pl.col("station_ts").is_null()))
            # How a start was authorized is logged when it was received, which may be days later;
            # a settlement may come days before the station's late stop.
            | pl.col("action").is_in([ev.AUTHORIZATION_DECIDED, ev.TRANSACTION_SETTLED])
        ).collect()
        if start_files else pl.DataFrame(schema=lake.BRONZE_SCHEMA)
    )
    return window, starts, last_calls


def curate_day(data_root: Path, state: State, day: dt.date, settings: Settings) -> dict[str, int]:
    """Rewrite every day-partitioned silver table's partition for `day`; rows written per table."""
    window, starts, last_calls = read_window(data_root, state, day, settings)
    # Millions of short-lived payload objects: the cyclic collector would rescan them over and
    # over (a third of the run time) and finds no cycles in them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        frames = _curate_in_station_groups(day, window, starts, last_calls, settings)
    finally:
        if gc_was_enabled:
            gc.enable()
    counts = {}
    for table in DAY_TABLES:
        t.write_partition(table, t.day_dir(table, data_root, day), frames[table.name])
        counts[table.name] = frames[table.name].height
    return counts


# Each table's row order (analytics.silver sorts the same way): groups are put back in it.
_ORDER = {
    t.STATUS_CHANGES.name: ["station_id", "connector_id", "event_ts", "source", "seq"],
    t.TRANSACTIONS.name: ["station_id", "stop_ts", "transaction_id"],
    t.METER_VALUES.name: ["station_id", "evse_id", "connector_id", "sampled_at", "measurand", "phase", "location"],
    t.CONNECTIVITY.name: ["station_id", "event_ts", "kind"],
    t.QUARANTINE.name: ["received_at", "source", "seq"],
    t.AUTHORIZATIONS.name: ["station_id", "event_ts", "source", "seq"],
    t.SECURITY_EVENTS.name: ["station_id", "station_ts", "source", "seq"],
    t.COMPONENT_EVENTS.name: ["station_id", "event_ts", "event_id", "source", "seq"],
}


def _curate_in_station_groups(day: dt.date, window: pl.DataFrame, starts: pl.DataFrame, last_calls: pl.DataFrame,
                              settings: Settings) -> dict[str, pl.DataFrame]:
    groups = max(1, -(-window.height // settings.rows_per_group))
    if groups == 1:
        return silver.curate_day_frames(day, window, starts, settings.heartbeat_gap_s, last_calls)
    group = pl.col("station_id").hash(seed=0) % groups
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in _ORDER}
    for g in range(groups):
        frames = silver.curate_day_frames(day, window.filter(group == g), starts.filter(group == g),
                                          settings.heartbeat_gap_s, last_calls.filter(group == g))
        for name, frame in frames.items():
            parts[name].append(frame)
    # A station's rows are all in one group, in order: a stable sort restores the whole order.
    return {name: pl.concat(frames).sort(_ORDER[name], nulls_last=False, maintain_order=True)
            for name, frames in parts.items()}


def update_stations(data_root: Path, new_files: list[Path]) -> int:
    """Fold the registrations, deletions and boots of newly received bronze into silver.stations."""
    path = t.STATIONS.path(data_root) / t.PART_FILE
    previous = pl.read_parquet(path) if path.exists() else pl.DataFrame(schema=t.STATIONS.schema)
    if new_files:
        new_rows = pl.scan_parquet(new_files, schema=lake.BRONZE_SCHEMA, hive_partitioning=False).filter(
            pl.col("action").is_in([ev.STATION_REGISTERED, ev.STATION_DELETED, *silver.BOOT_ACTIONS])
        ).collect()
    else:
        new_rows = pl.DataFrame(schema=lake.BRONZE_SCHEMA)
    frame = silver.stations(previous, new_rows)
    t.write_partition(t.STATIONS, t.STATIONS.path(data_root), frame)
    return frame.height


# --- the job --------------------------------------------------------------------------------


def _blocked_by_retention(state: State, day: dt.date) -> bool:
    # A day whose bronze retention has (partly) deleted cannot be rebuilt whole: keep its
    # silver as it is rather than rewrite it from what is left.
    if state.retired_through is None:
        return False
    retired = dt.date.fromisoformat(state.retired_through)
    one = dt.timedelta(days=1)
    needed = state.receive_days([day - one, day, day + one]) | {day - one, day}
    return any(r <= retired for r in needed)


def run(
    data_root: Path, day: dt.date | None = None, settings: Settings | None = None,
    use_ray: bool = False, today: dt.date | None = None, echo=print,
) -> dict[str, dict[str, int]]:
    """Curate `day`, or yesterday plus every day touched since the last run; {day: counts}."""
    data_root = Path(data_root)
    settings = settings or Settings()
    started_ns = time.time_ns()
    state = State.load(data_root)
    new_files, touched = scan_new_bronze(data_root, state, started_ns)
    log.info("bronze indexed", extra={"new_files": len(new_files), "touched_days": sorted(d.isoformat() for d in touched)})
    echo(f"bronze: {len(new_files)} new files touching {len(touched)} days")
    stations = update_stations(data_root, new_files)
    echo(f"silver.stations: {stations} stations")
    if day is not None:
        days = [day]
    else:
        yesterday = (today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=1)
        days = sorted({dt.date.fromisoformat(d) for d in state.pending} | {yesterday})
    blocked = [d for d in days if _blocked_by_retention(state, d)]
    for d in blocked:
        log.warning("day not curated: retention deleted bronze it needs", extra={"day": d.isoformat()})
        echo(f"{d}: skipped, retention deleted bronze it needs (its silver is kept as is)")
    days = [d for d in days if d not in blocked]
    results = _curate_days_ray(data_root, state, days, settings, echo) if use_ray and len(days) > 1 \
        else _curate_days_here(data_root, state, days, settings, echo)
    done = {d.isoformat() for d in results} | {d.isoformat() for d in blocked}
    state.pending = [p for p in state.pending if p not in done]
    state.save(data_root)
    return {d.isoformat(): c for d, c in sorted(results.items())}


def _progress(echo, day: dt.date, counts: dict[str, int], seconds: float, i: int, n: int) -> None:
    log.info("curated day", extra={"day": day.isoformat(), "seconds": round(seconds, 3), "rows": counts})
    echo(f"[{i}/{n}] {day}: " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f" ({seconds:.1f} s)")


def _curate_days_here(data_root, state, days, settings, echo) -> dict[dt.date, dict[str, int]]:
    results = {}
    for i, d in enumerate(days, 1):
        began = time.perf_counter()
        results[d] = curate_day(data_root, state, d, settings)
        _progress(echo, d, results[d], time.perf_counter() - began, i, len(days))
    return results


def _curate_days_ray(data_root, state, days, settings, echo) -> dict[dt.date, dict[str, int]]:
    import ray

    from analytics.distributed import task_max_calls

    @ray.remote(num_cpus=1, max_calls=task_max_calls())
    def curate_remote(day: dt.date) -> tuple[dt.date, dict[str, int], float]:
        began = time.perf_counter()
        return day, curate_day(data_root, state, day, settings), time.perf_counter() - began

    pending = [curate_remote.remote(d) for d in days]
    results = {}
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        d, counts, seconds = ray.get(ready[0])
        results[d] = counts
        _progress(echo, d, counts, seconds, len(results), len(days))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.curate", description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=dt.date.fromisoformat, help="curate only this UTC day (YYYY-MM-DD)")
    parser.add_argument("--data-root", help="data root (default: the CSMS config's data_root)")
    parser.add_argument("--config", help="CSMS TOML config (default: $CSMS_CONFIG or built-in defaults)")
    parser.add_argument("--ray", action="store_true", help="curate days as Ray tasks (also when RAY_ADDRESS is set)")
    args = parser.parse_args(argv)
    from actors.config import load_config

    config = load_config(args.config)
    data_root = Path(args.data_root) if args.data_root else config.data_path
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    use_ray = args.ray or bool(os.environ.get("RAY_ADDRESS"))
    if use_ray:
        import ray

        # Joins the cluster a `ray job submit` runs us in; never starts a Ray of its own.
        try:
            ray.init(address="auto", logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise SystemExit(f"--ray: no running Ray cluster to join ({exc}); start one or drop --ray") from None
    began = time.perf_counter()
    results = run(data_root, day=args.day, settings=Settings.from_config(config), use_ray=use_ray)
    print(f"curated {len(results)} days in {time.perf_counter() - began:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
