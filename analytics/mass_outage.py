"""Mass-outage incidents (gold): many stations of one site or region going down together.

Grain: one incident per scope (site or region), merged over consecutive windows.

A station "goes down" at the moment it
  - disconnects and does not reconnect (connect or boot) within `reconnect_grace_s`
    (silver connectivity): a network blip is not an outage; or
  - reports Faulted or Unavailable on any connector (silver status_changes).
Time is cut into steps of half a window; window w covers steps w and w+1, so a burst
that straddles a step boundary still falls whole into one window. For every scope key and
window we count the distinct stations that went down, and compare the count with the
scope's normal rate over the baseline period (`baseline_days` before the first day scored,
through the last): median and MAD of the per-window counts, every quiet window counted as
0. The robust z is (count - median) / max(1.4826 * MAD, `min_scale`); the floor matters
because most windows are 0 and MAD is 0 too. A window is an incident when all of
  - z >= `z_threshold` (unusual for this scope),
  - count >= `min_stations` and count >= `min_fraction` of the scope's stations ("many");
so one flaky station, or a region's normal churn, is not an incident. Overlapping or
adjacent incident windows of one scope key are merged into one incident.

Shards (analytics.distributed) extract the down moments of their stations; the driver
counts and scores. Output: MASS_OUTAGES, partition of each scored day (by window_start),
replaced whole, so re-running a day is idempotent.

    python -m analytics.mass_outage [--day YYYY-MM-DD] [--through YYYY-MM-DD] [--data-root DIR] [--ray]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

import msgspec
import numpy as np
import polars as pl

from analytics import distributed
from analytics.query import DAY_US, US, connect, day_start_us, frame, has_files, time_range_filter
from analytics.tables import CONNECTIVITY, MASS_OUTAGES, STATIONS, STATUS_CHANGES, conform, day_dir, read_sql, write_partition

log = logging.getLogger("csms.analytics.mass_outage")



class OutageParams(msgspec.Struct, kw_only=True, frozen=True):
    window_s: int = 600
    reconnect_grace_s: int = 300
    baseline_days: int = 28
    min_stations: int = 3
    min_fraction: float = 0.3
    z_threshold: float = 4.0
    min_scale: float = 1.0

    @property
    def step_us(self) -> int:
        return self.window_s * US // 2


_NO_MOMENTS = pl.DataFrame(schema={"station_id": pl.String, "t_us": pl.Int64, "cause": pl.String})


def down_moments(data_root: str, start_us: int, end_us: int, grace_s: int, shard: int, shards: int) -> pl.DataFrame:
    """station_id, t_us, cause: when each station of the shard went down in [start, end)."""
    con = connect()
    in_shard = f"hash(station_id) % {shards} = {shard}"
    parts = []
    if has_files(CONNECTIVITY, data_root):
        # Reconnects after `end` still clear a disconnect just before it.
        events = frame(con, f"""
            SELECT station_id, epoch_us(event_ts) AS t_us, kind FROM {read_sql(CONNECTIVITY, Path(data_root))}
            WHERE kind IN ('disconnect', 'connect', 'boot') AND {in_shard}
              AND {time_range_filter(start_us, end_us + grace_s * US, 'event_ts')}""",
                       schema={"station_id": pl.String, "t_us": pl.Int64, "kind": pl.String})
        disconnects = events.filter(pl.col("kind") == "disconnect", pl.col("t_us") < end_us).sort("t_us")
        back = (events.filter(pl.col("kind") != "disconnect").select("station_id", pl.col("t_us").alias("back_us"))
                .sort("back_us"))
        offline = (disconnects.join_asof(back, left_on="t_us", right_on="back_us", by="station_id", strategy="forward",
                              check_sortedness=False)  # sorted by time overall, so within each station too
                   .filter(pl.col("back_us").is_null() | (pl.col("back_us") - pl.col("t_us") > grace_s * US))
                   .select("station_id", "t_us", pl.lit("offline").alias("cause")))
        parts.append(offline)
    if has_files(STATUS_CHANGES, data_root):
        parts.append(frame(con, f"""
            SELECT station_id, epoch_us(event_ts) AS t_us, lower(status) AS cause
            FROM {read_sql(STATUS_CHANGES, Path(data_root))}
            WHERE status IN ('Faulted', 'Unavailable') AND {in_shard} AND {time_range_filter(start_us, end_us, 'event_ts')}""",
                           schema={"station_id": pl.String, "t_us": pl.Int64, "cause": pl.String}))
    return pl.concat(parts) if parts else _NO_MOMENTS


def _scopes(data_root: Path) -> pl.DataFrame:
    if not has_files(STATIONS, data_root):
        return pl.DataFrame(schema={"station_id": pl.String, "site": pl.String, "region": pl.String})
    return frame(connect(), f"SELECT station_id, site, region FROM {read_sql(STATIONS, data_root)} WHERE NOT deleted",
                 schema={"station_id": pl.String, "site": pl.String, "region": pl.String})


def _robust_baseline(nonzero_counts: np.ndarray, windows: int) -> tuple[float, float]:
    """Median and MAD of per-window counts where all but `nonzero_counts` windows are 0."""
    counts = np.zeros(max(windows, len(nonzero_counts)), dtype=np.float64)
    counts[: len(nonzero_counts)] = nonzero_counts
    median = float(np.median(counts))
    return median, float(np.median(np.abs(counts - median)))


def score_windows(down: pl.DataFrame, scopes: pl.DataFrame, start_us: int, end_us: int,
                  days: list[dt.date], params: OutageParams) -> pl.DataFrame:
    """MASS_OUTAGES rows for `days` from the down moments of the whole period [start, end)."""
    step = params.step_us
    windows_in_period = (end_us - start_us) // step
    down = down.join(scopes, on="station_id", how="inner").with_columns((pl.col("t_us") // step).alias("bucket"))
    # A moment in step b belongs to windows b-1 and b (each window spans two steps).
    exploded = pl.concat([down.with_columns((pl.col("bucket") - lag).alias("window")) for lag in (0, 1)])
    scored_days = {day_start_us(d) // DAY_US for d in days}
    incidents = []
    for scope in ("site", "region"):
        in_scope = scopes.drop_nulls(scope).group_by(scope).agg(pl.len().alias("stations_in_scope"))
        counts = (exploded.drop_nulls(scope)
                  .group_by(scope, "window").agg(pl.col("station_id").unique().sort().alias("stations"))
                  .with_columns(pl.col("stations").list.len().alias("affected"))
                  .join(in_scope, on=scope))
        for (key,), group in counts.group_by(scope):
            median, mad = _robust_baseline(group["affected"].to_numpy(), windows_in_period)
            scale = max(1.4826 * mad, params.min_scale)
            group = group.with_columns(((pl.col("affected") - median) / scale).alias("z"))
            hits = group.filter(
                pl.col("z") >= params.z_threshold,
                pl.col("affected") >= params.min_stations,
                pl.col("affected") >= params.min_fraction * pl.col("stations_in_scope"),
                ((pl.col("window") * step) // DAY_US).is_in(list(scored_days)),
            ).sort("window")
            incidents += _merge(scope, key, hits, median, params)
    frame_ = pl.DataFrame(incidents, schema={
        "incident_id": pl.String, "scope": pl.String, "scope_key": pl.String, "window_start": pl.Int64,
        "window_end": pl.Int64, "stations_affected": pl.Int32, "stations_in_scope": pl.Int32,
        "expected": pl.Float64, "score": pl.Float64, "station_ids": pl.String})
    return conform(MASS_OUTAGES, frame_.with_columns(
        pl.from_epoch("window_start", "us").dt.replace_time_zone("UTC"),
        pl.from_epoch("window_end", "us").dt.replace_time_zone("UTC"),
    ).sort("window_start", "scope", "scope_key"))


def _merge(scope: str, key: str, hits: pl.DataFrame, expected: float, params: OutageParams) -> list[dict]:
    """Windows of one scope key that overlap or touch become one incident."""
    step = params.step_us
    merged: list[dict] = []
    for row in hits.iter_rows(named=True):
        start, end = row["window"] * step, row["window"] * step + params.window_s * US
        if merged and start <= merged[-1]["window_end"]:
            last = merged[-1]
            last["window_end"] = max(last["window_end"], end)
            last["_stations"].update(row["stations"])
            last["score"] = max(last["score"], row["z"])
        else:
            merged.append({"scope": scope, "scope_key": key, "window_start": start, "window_end": end,
                           "stations_in_scope": row["stations_in_scope"], "expected": expected,
                           "score": row["z"], "_stations": set(row["stations"])})
    for incident in merged:
        stations = sorted(incident.pop("_stations"))
        incident["stations_affected"] = len(stations)
        incident["station_ids"] = json.dumps(stations)
        started = dt.datetime.fromtimestamp(incident["window_start"] / US, dt.timezone.utc)
        incident["incident_id"] = f"{scope}:{key}:{started:%Y-%m-%dT%H:%M:%SZ}"
    return merged


def detect(data_root: str | Path, days: list[dt.date], params: OutageParams = OutageParams(),
           shards: int = distributed.DEFAULT_SHARDS, use_ray: bool | None = None) -> pl.DataFrame:
    """Incidents of `days` (not written)."""
    data_root = Path(data_root)
    days = sorted(set(days))
    start_us = day_start_us(days[0]) - params.baseline_days * DAY_US
    end_us = day_start_us(days[-1]) + DAY_US
    if not (has_files(CONNECTIVITY, data_root) or has_files(STATUS_CHANGES, data_root)):
        parts = [_NO_MOMENTS]  # nothing curated yet: no tasks to start
    else:
        parts = distributed.map_shards("mass_outage", down_moments, shards,
                                       (str(data_root), start_us, end_us, params.reconnect_grace_s), use_ray=use_ray)
    return score_windows(pl.concat(parts), _scopes(data_root), start_us, end_us, days, params)


def run(data_root: str | Path, days: list[dt.date], params: OutageParams = OutageParams(),
        shards: int = distributed.DEFAULT_SHARDS, use_ray: bool | None = None) -> pl.DataFrame:
    """Detect and write each day's partition (empty days too: "scored, nothing found")."""
    started = time.monotonic()
    incidents = detect(data_root, days, params, shards, use_ray)
    for day in sorted(set(days)):
        of_day = incidents.filter(pl.col("window_start").dt.date() == day)
        write_partition(MASS_OUTAGES, day_dir(MASS_OUTAGES, Path(data_root), day), of_day)
    log.info("mass outages scored", extra={"days": len(set(days)), "incidents": incidents.height,
                                           "seconds": round(time.monotonic() - started, 3)})
    return incidents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.mass_outage", description=__doc__.splitlines()[0])
    distributed.add_job_arguments(parser)
    for name, field in ((f.name, f) for f in msgspec.structs.fields(OutageParams)):
        parser.add_argument("--" + name.replace("_", "-"), type=type(field.default), default=field.default)
    args = parser.parse_args(argv)
    days, data_root = distributed.job_days_and_root(parser, args)
    params = OutageParams(**{f.name: getattr(args, f.name) for f in msgspec.structs.fields(OutageParams)})
    incidents = run(data_root, days, params, args.shards, distributed.want_ray(args.ray))
    print(f"{incidents.height} incident(s) on {days[0]}..{days[-1]}", flush=True)
    for row in incidents.iter_rows(named=True):
        print(f"  {row['incident_id']}: {row['stations_affected']}/{row['stations_in_scope']} stations "
              f"until {row['window_end']:%H:%M:%S} (z {row['score']:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
