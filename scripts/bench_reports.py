"""Benchmark the gold jobs: a month of synthetic silver for N stations, then each job as its own process.

    python -m scripts.bench_reports --stations 10000 --days 30 --data-root /tmp/bench-reports

Silver is written straight through the contract (analytics/tables.py), vectorised, with
ordinary volumes per station and day (about 10 status notifications, 1 disconnect, 4
sessions sampled every --meter-interval-s) and a few fault bursts. Then the fault report
of the month, the mass outages of the last day (28-day baseline) and its maintenance
scores (14-day history) each run as `python -m analytics.<job>` in a child process, in
process (no Ray), and the script prints wall time, CPU time and peak RSS of each child.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from analytics.tables import (
    AUTHORIZATIONS, CONNECTIVITY, METER_VALUES, STATIONS, STATUS_CHANGES, TRANSACTIONS, day_dir, write_partition,
)

UTC_TS = pl.Datetime("us", "UTC")
STATUSES = np.array(["Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Faulted"])
STATUS_P = np.array([0.35, 0.15, 0.25, 0.1, 0.13, 0.02])
ERRORS = np.array(["GroundFailure", "OverCurrentFailure", "HighTemperature", "PowerMeterFailure", "OtherError"])


def _ts(day_us: int, offsets_s: np.ndarray) -> pl.Series:
    return pl.Series((day_us + (offsets_s * 1e6).astype(np.int64))).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def generate(root: Path, stations: int, first: dt.date, days: int, meter_interval_s: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ids = np.array([f"CP-{k:06d}" for k in range(stations)])
    write_partition(STATIONS, STATIONS.path(root), pl.DataFrame({
        "station_id": ids, "site": [f"site-{k // 30}" for k in range(stations)],
        "region": [f"region-{k // 300}" for k in range(stations)], "vendor": "V", "model": "M",
        "firmware_version": "1.0", "registered_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "deleted": False,
    }))
    rows = {"status_changes": 0, "connectivity": 0, "transactions": 0, "meter_values": 0, "authorizations": 0}
    for d in range(days):
        day = first + dt.timedelta(days=d)
        day_us = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
        # status notifications, plus bursts of 5-8 faults on 0.5% of stations
        n = rng.poisson(10, stations)
        who = np.repeat(np.arange(stations), n)
        status = STATUSES[rng.choice(len(STATUSES), len(who), p=STATUS_P)]
        burst = rng.choice(stations, max(1, stations // 200), replace=False)
        burst_n = rng.integers(5, 9, len(burst))
        who = np.concatenate([who, np.repeat(burst, burst_n)])
        status = np.concatenate([status, np.full(int(burst_n.sum()), "Faulted")])
        t = rng.uniform(0, 86_399, len(who))
        error = np.where(status == "Faulted", ERRORS[rng.integers(0, len(ERRORS), len(who))], "NoError")
        stamps = _ts(day_us, t)
        sc = pl.DataFrame({"station_id": ids[who], "connector_id": rng.integers(0, 3, len(who)).astype(np.int32),
                           "event_ts": stamps, "station_ts": stamps, "received_at": stamps, "lateness_s": 0.0,
                           "status": status, "error_code": error, "info": None, "vendor_id": None,
                           "vendor_error_code": None, "source": "bench", "seq": np.arange(len(who)),
                           "evse_id": None})
        write_partition(STATUS_CHANGES, day_dir(STATUS_CHANGES, root, day), sc)
        # disconnects, most followed by a reconnect within a minute
        n = rng.poisson(1.0, stations)
        who = np.repeat(np.arange(stations), n)
        t = rng.uniform(0, 80_000, len(who))
        back = np.where(rng.random(len(who)) < 0.85, rng.uniform(5, 60, len(who)), rng.uniform(3_600, 6_000, len(who)))
        kind = np.concatenate([np.full(len(who), "disconnect"), np.full(len(who), "connect")])
        cc = pl.DataFrame({"station_id": np.concatenate([ids[who], ids[who]]),
                           "event_ts": _ts(day_us, np.concatenate([t, t + back])), "kind": kind,
                           "gap_s": None, "close_code": None, "detail": None},
                          schema_overrides={"gap_s": pl.Float64, "close_code": pl.Int32, "detail": pl.String})
        write_partition(CONNECTIVITY, day_dir(CONNECTIVITY, root, day), cc)
        # sessions and their energy samples
        n = rng.poisson(4, stations)
        who = np.repeat(np.arange(stations), n)
        start = rng.uniform(0, 80_000, len(who))
        duration = rng.uniform(1_200, 5_400, len(who))
        energy = np.maximum(0, rng.normal(15_000, 3_000, len(who)))
        tx_id = np.arange(len(who)) + d * 1_000_000
        tr = pl.DataFrame({"station_id": ids[who], "transaction_id": tx_id, "connector_id": np.int32(1),
                           "id_tag_hash": "h", "start_ts": _ts(day_us, start), "stop_ts": _ts(day_us, start + duration),
                           "duration_s": duration, "meter_start_wh": 0, "meter_stop_wh": energy.astype(np.int64),
                           "energy_wh": energy, "stop_reason": "Local", "is_orphan": False, "is_duplicate": False,
                           "end_kind": "station", "settled_reason": None, "meter_stop_estimated": False,
                           "authorization": None, "authorized_offline": False, "station_transaction_id": None,
                           "evse_id": None, "seq_gaps": None},
                          schema_overrides={"authorization": pl.String, "settled_reason": pl.String,
                                            "seq_gaps": pl.List(pl.Int32)})
        write_partition(TRANSACTIONS, day_dir(TRANSACTIONS, root, day), tr)
        # every session's StartTransaction answer, plus now and then a refused Authorize
        refused = rng.choice(stations, max(1, stations // 50), replace=False)
        au = pl.DataFrame({
            "station_id": np.concatenate([ids[who], ids[refused]]),
            "event_ts": _ts(day_us, np.concatenate([start, rng.uniform(0, 80_000, len(refused))])),
            "action": np.concatenate([np.full(len(who), "StartTransaction"), np.full(len(refused), "Authorize")]),
            "connector_id": None, "id_tag_hash": "h",
            "status": np.concatenate([np.full(len(who), "Accepted"), np.full(len(refused), "Invalid")]),
            "authorization": None, "downstream": None, "transaction_id": None, "message_id": "m", "source": "bench",
            "seq": np.arange(len(who) + len(refused)), "station_transaction_id": None,
        }, schema_overrides={"connector_id": pl.Int32, "authorization": pl.String, "downstream": pl.String,
                             "transaction_id": pl.Int64, "station_transaction_id": pl.String}).with_columns(
            pl.col("event_ts").alias("received_at"), (pl.col("status") == "Accepted").alias("accepted"))
        write_partition(AUTHORIZATIONS, day_dir(AUTHORIZATIONS, root, day), au)
        samples = (duration // meter_interval_s).astype(np.int64)
        k = np.repeat(np.arange(len(who)), samples)
        step = np.arange(len(k)) - np.repeat(np.cumsum(samples) - samples, samples) + 1
        offset = step * meter_interval_s + rng.normal(0, 0.5, len(k))
        value = energy[k] * offset / duration[k]
        mv = pl.DataFrame({"station_id": ids[who[k]], "connector_id": np.int32(1), "transaction_id": tx_id[k],
                           "sampled_at": _ts(day_us, start[k] + offset), "received_at": _ts(day_us, start[k] + offset),
                           "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "phase": None,
                           "location": "Outlet", "unit": "Wh", "raw_value": value.round(1).astype(str),
                           "value": value, "si_unit": "Wh", "evse_id": None, "station_transaction_id": None,
                           "unit_multiplier": None, "signed_meter_value": None},
                          schema_overrides={"phase": pl.String, "evse_id": pl.Int32,
                                            "station_transaction_id": pl.String, "unit_multiplier": pl.Int32,
                                            "signed_meter_value": pl.String})
        write_partition(METER_VALUES, day_dir(METER_VALUES, root, day), mv)
        for name, frame in (("status_changes", sc), ("connectivity", cc), ("transactions", tr), ("meter_values", mv),
                            ("authorizations", au)):
            rows[name] += frame.height
        print(f"[generate] {day}: {sc.height:,} statuses, {mv.height:,} meter values", file=sys.stderr, flush=True)
    return rows


def _high_water_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(argv: list[str]) -> tuple[float, float, float, int]:
    """Run a child process; wall s, CPU s (user+sys), peak RSS MiB, exit code.

    Peak RSS is the child's VmHWM, polled: wait4's ru_maxrss would report this (large)
    parent's, since a forked child inherits the high-water mark across exec.
    """
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _high_water_mib(proc.pid) or 0.0)
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime, peak, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_reports", description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", default="2026-10-01")
    parser.add_argument("--meter-interval-s", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the silver already in --data-root")
    args = parser.parse_args(argv)
    root = Path(args.data_root)
    first = dt.date.fromisoformat(args.start)
    last = first + dt.timedelta(days=args.days - 1)
    if not args.skip_generate:
        started = time.monotonic()
        rows = generate(root, args.stations, first, args.days, args.meter_interval_s, args.seed)
        print(f"generated {args.stations:,} stations x {args.days} days in {time.monotonic() - started:.1f} s: "
              + ", ".join(f"{v:,} {k}" for k, v in rows.items()), flush=True)
    python = sys.executable
    jobs = [
        (f"fault report {first:%Y-%m}", [python, "-m", "analytics.fault_report", "--month", f"{first:%Y-%m}"]),
        (f"mass outages {last}", [python, "-m", "analytics.mass_outage", "--day", last.isoformat()]),
        (f"maintenance {last}", [python, "-m", "analytics.maintenance", "--day", last.isoformat()]),
    ]
    print(f"{'job':<28} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}", flush=True)
    for name, cmd in jobs:
        wall, cpu, rss, code = timed([*cmd, "--data-root", str(root)])
        print(f"{name:<28} {wall:8.1f} {cpu:8.1f} {rss:13.0f}" + ("" if code == 0 else f"  FAILED ({code})"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
