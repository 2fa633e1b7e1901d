"""Analytics benchmark: generate a month of bronze, time the daily curation of one day and the
monthly fault report; whole-process figures (wall, CPU, peak RSS) of each step, printed.

    python -m scripts.bench_analytics [--stations 10000] [--days 30] [--start 2026-10-01] \
        [--data-root DIR] [--keep]

Each step runs as its own process (as the scheduler or `ray job submit` would run it), so
the figures include interpreter start-up and imports. Before the timed daily curation, the
bronze is indexed (the curation's state file) as a daily run finds it: yesterday's files new,
the rest known. The monthly report (analytics.fault_report.build_report(data_root, month),
if that module exists) needs the whole month curated first; that catch-up is timed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measured(label: str, argv: list[str]) -> dict[str, float]:
    """Run argv, stream its output, and return its wall time, CPU time and peak RSS."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed with exit code {proc.returncode}")
    figures = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024}
    print(f"== {label}: wall {wall:.1f} s, CPU {figures['cpu_s']:.1f} s, peak RSS {figures['peak_rss_mib']:.0f} MiB",
          flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_analytics", description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=10_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 10, 1))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--day", type=dt.date.fromisoformat, help="day whose curation is timed (default: the middle one)")
    p.add_argument("--data-root", type=Path, help="where to write (default: a temporary directory, removed after)")
    p.add_argument("--keep", action="store_true", help="keep the data root")
    args = p.parse_args(argv)
    root = args.data_root or Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    day = args.day or args.start + dt.timedelta(days=args.days // 2)
    py = sys.executable
    results = {}
    try:
        results["generate"] = measured(
            f"generate {args.stations} stations x {args.days} days",
            [py, "-m", "scripts.gen_history", "--stations", str(args.stations), "--start", args.start.isoformat(),
             "--days", str(args.days), "--seed", str(args.seed), "--data-root", str(root),
             "--truth", str(root / "truth.json")])
        bronze_bytes = sum(f.stat().st_size for f in (root / "bronze").rglob("*.parquet"))
        print(f"bronze: {bronze_bytes / 2**20:.0f} MiB", flush=True)
        # Index every other day's bronze, as earlier daily runs would have. In a child: a child's
        # peak RSS (wait4) starts from its parent's, so this process stays free of Polars and DuckDB.
        subprocess.run([py, "-c", "import sys, datetime as dt; from pathlib import Path; "
                        "from scripts.bench_analytics import index_up_to; "
                        "index_up_to(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]))", str(root), day.isoformat()],
                       check=True)
        results["curate_day"] = measured(
            f"daily curation of {day}", [py, "-m", "analytics.curate", "--day", day.isoformat(), "--data-root", str(root)])
        if importlib.util.find_spec("analytics.fault_report") is not None:
            # A first run over the whole month: without the state, every bronze file is new and
            # every day it touches is curated (the daily run's state would leave most days out).
            subprocess.run([py, "-c", "import sys; from pathlib import Path; from analytics.curate import State; "
                            "State.path(Path(sys.argv[1])).unlink()", str(root)], check=True)
            results["curate_month"] = measured(
                "curation of every day (catch-up for the report)", [py, "-m", "analytics.curate", "--data-root", str(root)])
            month = args.start.strftime("%Y-%m")
            results["fault_report"] = measured(
                f"monthly fault report {month}",
                [py, "-m", "analytics.fault_report", "--month", month, "--data-root", str(root)])
            print(report_against_truth(root, month), flush=True)  # last: it loads Polars here
        else:
            print("== monthly fault report: skipped (analytics.fault_report is not in this tree)", flush=True)
    finally:
        if not args.keep and not args.data_root:
            shutil.rmtree(root, ignore_errors=True)
    print("\nstep                  wall s    CPU s  peak RSS MiB")
    for name, f in results.items():
        print(f"{name:<20} {f['wall_s']:>7.1f} {f['cpu_s']:>8.1f} {f['peak_rss_mib']:>13.0f}")
    return 0


def report_against_truth(root: Path, month: str) -> str:
    """Does the written report list exactly the station-days the generator says had >= 5 faults?"""
    import json

    from analytics import fault_report

    report = fault_report.read_report(root, month)
    reported = {(r["station_id"], day): n for r in report.iter_rows(named=True)
                for day, n in json.loads(r["daily_counts"]).items() if n >= fault_report.FAULTS_PER_DAY_THRESHOLD}
    truth = json.loads((root / "truth.json").read_text())
    planted = {(b["station_id"], b["day"]): b["faults"] for b in truth["fault_burst_days"] if b["day"].startswith(month)}
    if reported == planted:
        return f"fault report agrees with the generator: {len(planted)} station-days with >= 5 faults, {report.height} stations"
    return (f"fault report DISAGREES with the generator: {len(set(planted) - set(reported))} station-days missing, "
            f"{len(set(reported) - set(planted))} extra, {sum(reported.get(k) != v for k, v in planted.items())} counts differ")


def index_up_to(root: Path, day: dt.date) -> None:
    """The curation state as a daily run for `day` finds it: the bronze received that day new,
    every other day's already indexed. (File times are set so; the generator wrote them at once.)"""
    from analytics import curate

    now = time.time()
    for f in (root / "bronze" / "events").rglob("*.parquet"):
        received = curate.bronze_day_of(f)
        age = 0 if received == day else 3600  # the other days: indexed by earlier runs
        os.utime(f, (now - age, now - age))
    old = [f for f in curate.bronze_files(root) if curate.bronze_day_of(f) != day]
    state = curate.State()
    if old:
        files = ", ".join("'" + str(x) + "'" for x in old)
        import duckdb

        for received, happened in duckdb.sql(
                "select distinct cast(received_at as date), cast(coalesce(station_ts, received_at) as date) "
                f"from read_parquet([{files}])").fetchall():
            state.event_days.setdefault(happened.isoformat(), []).append(received.isoformat())
    state.watermark_ns = int((now - 1800) * 1e9)
    state.save(root)
    curate.update_stations(root, old)  # the stations table those runs built


if __name__ == "__main__":
    sys.exit(main())
