"""Predictive-maintenance scores (gold): per station and day, how likely the station is to fail soon.

Grain: one station per scored day, ranked (1 = most at risk).

Features per station and UTC day, from silver:
  faults          Faulted statuses (status_changes)
  reboots         boots (connectivity kind=boot)
  disconnects     websocket disconnects (connectivity)
  failed_starts   refused starts (silver.authorizations): Authorize and StartTransaction
                  answered with anything but Accepted, and RemoteStartTransactions (2.0.1:
                  RequestStartTransactions) the station Rejected. A charger whose
                  reader or contactor is failing shows up here before it faults; a
                  RemoteStart that got no answer or a CALLERROR is not counted (it is
                  connectivity, seen in disconnects).
  meter_cadence_cv  coefficient of variation of the intervals between a transaction's
                  energy-register samples: a healthy charger samples on a steady clock, a
                  failing one (resets, stalls, queued sends) does not.
  energy_per_session_wh  mean energy of the day's completed sessions (low is bad).

Two scorers; the robust baseline ships as the ranking (`--model robust`, the default):

  robust  per feature, a robust z-score against the fleet that day and against the
          station's own previous `history_days` days (median and MAD, with a floor on the
          scale so that a feature that is usually 0 does not explode on its first event).
          Only the harmful direction counts (more faults, less energy). A feature's
          evidence is the mean of the two z's, clipped to [0, 5]; the score is the sum.
          The clip is what tells wear from a bad day: one symptom alone, however loud
          (a healthy charger's one-day fault burst, which the fault report is for), scores
          at most 5, while a wearing charger shows several at once (faults, reboots,
          disconnects, an irregular meter clock) and an alert (score >= 6) needs two.
          Why it ships: each score explains itself (the top features and their z's go into
          `top_features`), it uses the station's own history, it needs no training set and
          it is deterministic and fast (one pass, no trees).
          Only the harmful direction counts, which a generic outlier model cannot know.
  iforest an Isolation Forest (Liu, Ting, Zhou 2008) in numpy over the same signed robust
          z's, fitted on the whole history window. It finds the unusual, not the harmful
          in particular (a station suddenly much *better* than usual is as isolated as one
          much worse), its score explains nothing by itself, and it is about 4x slower;
          kept as a comparison. On the planted-degradation fleet of tests/test_anomalies.py
          both find every degrading charger (the test prints precision and recall of both).

Shards (analytics.distributed) compute their stations' features; the driver scores.
Output: MAINTENANCE_SCORES, one partition per scored day, replaced whole.

    python -m analytics.maintenance [--day YYYY-MM-DD] [--through YYYY-MM-DD] [--model robust|iforest] [--ray]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from analytics import distributed
from analytics.query import DAY_US, connect, day_start_us, frame, has_files, time_range_filter
from analytics.tables import (
    AUTHORIZATIONS, CONNECTIVITY, MAINTENANCE_SCORES, METER_VALUES, STATIONS, STATUS_CHANGES, TRANSACTIONS, conform,
    day_dir, read_sql, write_partition,
)

log = logging.getLogger("csms.analytics.maintenance")

# A refused start (silver.authorizations), as a whole parenthesised SQL condition; 2.0.1 asks in
# Authorize and in the TransactionEvent that carries the token (E01-E05).
REFUSED = ("((action IN ('Authorize', 'StartTransaction', 'TransactionEvent') AND status <> 'Accepted') "
           "OR (action IN ('RemoteStartTransaction', 'RequestStartTransaction') AND status = 'Rejected'))")
HISTORY_DAYS = 14
# feature -> (harmful direction, smallest robust scale): the floor is one event for
# counts, 0.05 for a CV, 1 kWh for energy, so a quiet feature's first blip is not a crisis.
FEATURES: dict[str, tuple[float, float]] = {
    "faults": (1.0, 1.0),
    "reboots": (1.0, 1.0),
    "disconnects": (1.0, 1.0),
    "failed_starts": (1.0, 1.0),
    "meter_cadence_cv": (1.0, 0.05),
    "energy_per_session_wh": (-1.0, 1000.0),
}
COUNTS = ("faults", "reboots", "disconnects", "failed_starts")
MAX_EVIDENCE = 5.0
TOP_FEATURES = 3


def station_features(data_root: str, first_day: str, last_day: str, shard: int, shards: int) -> pl.DataFrame:
    """One row per station of the shard and day in [first_day, last_day] with every feature."""
    root = Path(data_root)
    first, last = dt.date.fromisoformat(first_day), dt.date.fromisoformat(last_day)
    start_us, end_us = day_start_us(first), day_start_us(last) + DAY_US
    con = connect()
    in_shard = f"hash(station_id) % {shards} = {shard}"
    key = {"station_id": pl.String, "day": pl.Date}
    parts: list[pl.DataFrame] = []

    def counts(table, where: str, name: str, column: str = "event_ts") -> None:
        if has_files(table, root):
            parts.append(frame(con, f"""
                SELECT station_id, CAST({column} AS DATE) AS day, count(*) AS {name} FROM {read_sql(table, root)}
                WHERE {where} AND {in_shard} AND {time_range_filter(start_us, end_us, column)} GROUP BY ALL""",
                               schema={**key, name: pl.Int64}))

    counts(STATUS_CHANGES, "status = 'Faulted'", "faults")
    counts(CONNECTIVITY, "kind = 'boot'", "reboots")
    counts(CONNECTIVITY, "kind = 'disconnect'", "disconnects")
    counts(AUTHORIZATIONS, REFUSED, "failed_starts")
    if has_files(TRANSACTIONS, root):
        parts.append(frame(con, f"""
            SELECT station_id, CAST(stop_ts AS DATE) AS day,
                   avg(energy_wh) FILTER (WHERE energy_wh > 0) AS energy_per_session_wh
            FROM {read_sql(TRANSACTIONS, root)}
            WHERE NOT is_orphan AND {in_shard} AND {time_range_filter(start_us, end_us, 'stop_ts')} GROUP BY ALL""",
                           schema={**key, "energy_per_session_wh": pl.Float64}))
    if has_files(METER_VALUES, root):
        parts.append(frame(con, f"""
            WITH samples AS (
                -- A transaction's own register readings, 1.6 (the CSMS's id) or 2.0.1 (the station's).
                SELECT DISTINCT station_id, connector_id,
                       coalesce(CAST(transaction_id AS VARCHAR), station_transaction_id) AS transaction_id,
                       epoch_us(sampled_at) AS t_us, CAST(sampled_at AS DATE) AS day
                FROM {read_sql(METER_VALUES, root)}
                WHERE measurand = 'Energy.Active.Import.Register'
                  AND (transaction_id IS NOT NULL OR station_transaction_id IS NOT NULL)
                  AND {in_shard} AND {time_range_filter(start_us, end_us, 'sampled_at')}),
            gaps AS (
                SELECT station_id, day, (t_us - lag(t_us) OVER (
                    PARTITION BY station_id, connector_id, transaction_id ORDER BY t_us)) / 1e6 AS gap_s
                FROM samples)
            SELECT station_id, day,
                   CASE WHEN count(gap_s) >= 3 AND avg(gap_s) > 0 THEN stddev_pop(gap_s) / avg(gap_s) END
                       AS meter_cadence_cv
            FROM gaps WHERE gap_s IS NOT NULL GROUP BY ALL""",
                           schema={**key, "meter_cadence_cv": pl.Float64}))
    stations = []
    if has_files(STATIONS, root):
        stations.append(frame(con, f"SELECT station_id FROM {read_sql(STATIONS, root)} WHERE NOT deleted AND {in_shard}",
                              schema={"station_id": pl.String}))
    stations += [p.select("station_id") for p in parts]
    days = pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)})
    grid = (pl.concat(stations).unique() if stations else pl.DataFrame(schema={"station_id": pl.String})).join(days, how="cross")
    for part in parts:
        grid = grid.join(part, on=["station_id", "day"], how="left")
    for name in FEATURES:
        if name not in grid.columns:
            grid = grid.with_columns(pl.lit(None, pl.Float64).alias(name))
    # Counts of a day with no such event are 0, not unknown; CV and energy stay unknown.
    return grid.with_columns(*(pl.col(c).fill_null(0).cast(pl.Int64) for c in COUNTS)).select(
        "station_id", "day", *FEATURES)


def _robust_z(values: pl.Expr, median: pl.Expr, mad: pl.Expr, sign: float, floor: float) -> pl.Expr:
    scale = pl.max_horizontal(1.4826 * mad, pl.lit(floor))
    return (sign * (values - median) / scale).fill_null(0.0).fill_nan(0.0)


def robust_z_scores(features: pl.DataFrame, day: dt.date, history_days: int) -> pl.DataFrame:
    """The day's rows with z_fleet_<f> and z_self_<f> for every feature (harmful direction positive)."""
    today = features.filter(pl.col("day") == day)
    history = features.filter(pl.col("day") < day, pl.col("day") >= day - dt.timedelta(days=history_days))
    exprs = []
    for name, (sign, floor) in FEATURES.items():
        fleet_median = pl.col(name).median()
        today = today.with_columns(
            fleet_median.alias(f"_fm_{name}"),
            (pl.col(name) - fleet_median).abs().median().alias(f"_fmad_{name}"),
        )
        own = history.group_by("station_id").agg(
            pl.col(name).median().alias(f"_sm_{name}"),
            (pl.col(name) - pl.col(name).median()).abs().median().alias(f"_smad_{name}"),
        )
        today = today.join(own, on="station_id", how="left")
        exprs += [
            _robust_z(pl.col(name), pl.col(f"_fm_{name}"), pl.col(f"_fmad_{name}"), sign, floor).alias(f"z_fleet_{name}"),
            # With no history of its own a station is judged against the fleet only.
            _robust_z(pl.col(name), pl.coalesce(pl.col(f"_sm_{name}"), pl.col(f"_fm_{name}")),
                      pl.coalesce(pl.col(f"_smad_{name}"), pl.col(f"_fmad_{name}")), sign, floor).alias(f"z_self_{name}"),
        ]
    return today.with_columns(exprs).select(pl.exclude("^_.*$"))


def robust_scores(z: pl.DataFrame) -> pl.DataFrame:
    evidence = [((pl.col(f"z_fleet_{n}") + pl.col(f"z_self_{n}")) / 2).clip(0.0, MAX_EVIDENCE).alias(f"e_{n}")
                for n in FEATURES]
    z = z.with_columns(evidence)
    return z.with_columns(pl.sum_horizontal(*(pl.col(f"e_{n}") for n in FEATURES)).alias("score"))


def _top_features(row: dict) -> str:
    drivers = sorted(((row[f"e_{n}"], n) for n in FEATURES if row[f"e_{n}"] >= 1.0), reverse=True)[:TOP_FEATURES]
    return json.dumps([{"feature": n, "value": None if row[n] is None else round(float(row[n]), 3),
                        "z_fleet": round(row[f"z_fleet_{n}"], 2), "z_self": round(row[f"z_self_{n}"], 2)}
                       for _, n in drivers])


# --- the Isolation Forest comparison ------------------------------------------------------


def _c(n: float) -> float:
    """Average path length of an unsuccessful BST search over n points (the paper's c(n))."""
    if n <= 1:
        return 0.0
    return 2.0 * (np.log(n - 1) + 0.5772156649) - 2.0 * (n - 1) / n


class IsolationForest:
    """Random axis-parallel splits; anomalies are isolated in fewer splits."""

    def __init__(self, trees: int = 100, sample_size: int = 256, seed: int = 0) -> None:
        self.trees, self.sample_size = trees, sample_size
        self.rng = np.random.default_rng(seed)
        self.forest: list[list[tuple]] = []

    def fit(self, x: np.ndarray) -> IsolationForest:
        psi = min(self.sample_size, len(x))
        self.psi = psi
        limit = int(np.ceil(np.log2(max(psi, 2))))
        self.forest = [self._grow(x[self.rng.choice(len(x), psi, replace=False)], 0, limit) for _ in range(self.trees)]
        return self

    def _grow(self, x: np.ndarray, depth: int, limit: int):
        if depth >= limit or len(x) <= 1:
            return ("leaf", len(x))
        spread = x.max(axis=0) - x.min(axis=0)
        candidates = np.flatnonzero(spread > 0)
        if not len(candidates):
            return ("leaf", len(x))
        feature = int(self.rng.choice(candidates))
        split = self.rng.uniform(x[:, feature].min(), x[:, feature].max())
        left = x[:, feature] < split
        return ("node", feature, split, self._grow(x[left], depth + 1, limit), self._grow(x[~left], depth + 1, limit))

    def _path(self, point: np.ndarray, node, depth: int = 0) -> float:
        while node[0] == "node":
            node = node[3] if point[node[1]] < node[2] else node[4]
            depth += 1
        return depth + _c(node[1])

    def score(self, x: np.ndarray) -> np.ndarray:
        """Anomaly score in (0, 1]; near 1 is anomalous, about 0.5 and below is ordinary."""
        mean_path = np.array([np.mean([self._path(p, tree) for tree in self.forest]) for p in x])
        return np.power(2.0, -mean_path / _c(self.psi))


def iforest_scores(features: pl.DataFrame, z: pl.DataFrame, day: dt.date, history_days: int, seed: int = 0) -> pl.DataFrame:
    names = [f"z_{kind}_{n}" for n in FEATURES for kind in ("fleet", "self")]
    training = pl.concat([robust_z_scores(features, d, history_days).select(names)
                          for d in sorted(set(features["day"])) if d <= day])
    forest = IsolationForest(seed=seed).fit(training.to_numpy())
    return z.with_columns(pl.Series("score", forest.score(z.select(names).to_numpy())))


# --- the job -------------------------------------------------------------------------------


def score_day(features: pl.DataFrame, day: dt.date, model: str = "robust", history_days: int = HISTORY_DAYS) -> pl.DataFrame:
    """MAINTENANCE_SCORES rows of `day` from the features of `day` and the days before it."""
    z = robust_scores(robust_z_scores(features, day, history_days))
    if model == "iforest":
        z = iforest_scores(features, z, day, history_days)
    elif model != "robust":
        raise ValueError(f"model must be robust or iforest, not {model!r}")
    z = z.sort(["score", "station_id"], descending=[True, False]).with_row_index("rank", offset=1)
    ranked = z.with_columns(
        pl.struct(z.columns).map_elements(_top_features, return_dtype=pl.String).alias("top_features"),
        pl.lit(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)).alias("day_ts"),
    ) if z.height else z.with_columns(pl.lit(None, pl.String).alias("top_features"), pl.lit(None).alias("day_ts"))
    return conform(MAINTENANCE_SCORES, ranked)


def compute_features(data_root: str | Path, days: list[dt.date], history_days: int = HISTORY_DAYS,
                     shards: int = distributed.DEFAULT_SHARDS, use_ray: bool | None = None) -> pl.DataFrame:
    days = sorted(set(days))
    first = days[0] - dt.timedelta(days=history_days)
    if not any(has_files(t, data_root)
               for t in (STATUS_CHANGES, CONNECTIVITY, TRANSACTIONS, METER_VALUES, STATIONS, AUTHORIZATIONS)):
        shards, use_ray = 1, False  # nothing curated yet: no tasks to start, the result is empty
    parts = distributed.map_shards("maintenance", station_features, shards,
                                   (str(data_root), first.isoformat(), days[-1].isoformat()), use_ray=use_ray)
    return pl.concat(parts)


def run(data_root: str | Path, days: list[dt.date], model: str = "robust", history_days: int = HISTORY_DAYS,
        shards: int = distributed.DEFAULT_SHARDS, use_ray: bool | None = None) -> dict[dt.date, pl.DataFrame]:
    """Score and write each day's partition."""
    started = time.monotonic()
    features = compute_features(data_root, days, history_days, shards, use_ray)
    results = {}
    for day in sorted(set(days)):
        results[day] = scored = score_day(features, day, model, history_days)
        write_partition(MAINTENANCE_SCORES, day_dir(MAINTENANCE_SCORES, Path(data_root), day), scored)
        print(f"[maintenance] {day}: {scored.height} stations scored", file=sys.stderr, flush=True)
    log.info("maintenance scored", extra={"days": len(results), "model": model,
                                          "seconds": round(time.monotonic() - started, 3)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.maintenance", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("robust", "iforest"), default="robust")
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS)
    distributed.add_job_arguments(parser)
    parser.add_argument("--top", type=int, default=10, help="stations to print per day")
    args = parser.parse_args(argv)
    days, data_root = distributed.job_days_and_root(parser, args)
    results = run(data_root, days, args.model, args.history_days, args.shards, distributed.want_ray(args.ray))
    for day, scored in results.items():
        print(f"{day}: top {min(args.top, scored.height)} of {scored.height}", flush=True)
        for row in scored.head(args.top).iter_rows(named=True):
            drivers = ", ".join(f["feature"] for f in json.loads(row["top_features"])) or "-"
            print(f"  {row['rank']:>3} {row['station_id']:<24} {row['score']:7.2f}  {drivers}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

