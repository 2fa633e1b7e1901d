"""The monthly fault report (gold): stations with >= 5 Faulted statuses in a single UTC day.

Grain: one station per month. A station is in the report for month M when, on at least one
UTC day of M (days by silver `status_changes.event_ts`, the moment the fault happened, not
when it arrived), it reported the Faulted status at least `FAULTS_PER_DAY_THRESHOLD` times,
counting every connector. Stations are ranked by their Faulted statuses over the whole
month, most first; ties go to the smaller station id, so the ranking is reproducible.
Each row also says which connectors faulted and which of them are still Faulted by their
latest status in silver when the report is built (none: the station has recovered).

Written to `gold/fault_report/month=YYYY-MM/` as `part-0.parquet` and `report.csv`, each
replaced atomically; re-running a month replaces both. The CSV is written first and the
Parquet last: the Parquet file is what says "this month was built" (the API's 404), so a
crash in between leaves a month that is either unbuilt or re-built on the next run.

    python -m analytics.fault_report --month 2026-10 [--email] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from actors.durable_file import atomic_replace
from analytics.query import connect, frame, has_files
from analytics.tables import FAULT_REPORT, PART_FILE, STATIONS, STATUS_CHANGES, conform, month_dir, read_sql, write_partition

log = logging.getLogger("csms.analytics.fault_report")

FAULTS_PER_DAY_THRESHOLD = 5
CSV_FILE = FAULT_REPORT.extra_files[0]
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a "YYYY-MM" month in UTC; ValueError with a readable message otherwise."""
    match = _MONTH.match(month or "")
    if not match:
        raise ValueError(f"month must be YYYY-MM (e.g. 2026-10), got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, mon, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def previous_month(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    first = now.date().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=FAULT_REPORT.schema)


def build_report(data_root: str | Path, month: str, threshold: int = FAULTS_PER_DAY_THRESHOLD) -> pl.DataFrame:
    """The report rows for `month` (exact FAULT_REPORT columns, ranked), read from silver."""
    start, end = parse_month(month)
    data_root = Path(data_root)
    if not has_files(STATUS_CHANGES, data_root):
        return _empty()
    con = connect()
    # Late events sit in the partition of the day they happened, so the month's partitions
    # hold every fault of the month; the event_ts filter is the definition, the partition
    # filter only prunes files.
    daily = frame(con, f"""
        SELECT station_id, CAST(event_ts AS DATE) AS day, error_code, connector_id, count(*) AS n
        FROM {read_sql(STATUS_CHANGES, data_root)}
        WHERE status = 'Faulted' AND year = ? AND month = ? AND event_ts >= ? AND event_ts < ?
        GROUP BY ALL
        """,
        [start.year, start.month, start, end],
        schema={"station_id": pl.String, "day": pl.Date, "error_code": pl.String, "connector_id": pl.Int32,
                "n": pl.Int64},
    )
    if daily.is_empty():
        return _empty()
    per_day = daily.group_by("station_id", "day").agg(pl.col("n").sum().alias("faults"))
    qualifying = per_day.filter(pl.col("faults") >= threshold).select("station_id").unique()
    if qualifying.is_empty():
        return _empty()
    per_day = per_day.join(qualifying, on="station_id").sort("station_id", "day")
    codes = daily.join(qualifying, on="station_id").group_by("station_id", "error_code").agg(pl.col("n").sum())
    # The worst day: most faults, the earliest such day on a tie.
    worst = (per_day.sort(["station_id", "faults", "day"], descending=[False, True, False])
             .group_by("station_id", maintain_order=True).first()
             .rename({"day": "worst_day", "faults": "worst_day_faults"}))
    totals = per_day.group_by("station_id").agg(
        pl.col("faults").sum().alias("faults_in_month"),
        (pl.col("faults") >= threshold).sum().alias("days_at_or_over_threshold"),
    )
    daily_json = {
        sid: json.dumps({d.isoformat(): int(n) for d, n in zip(g["day"], g["faults"])})
        for (sid,), g in per_day.group_by("station_id")
    }
    codes_json = {
        sid: json.dumps({c: int(n) for c, n in sorted(zip(g["error_code"], g["n"]), key=lambda cn: (-cn[1], cn[0]))})
        for (sid,), g in codes.group_by("station_id")
    }
    connectors = (daily.join(qualifying, on="station_id").group_by("station_id", "connector_id")
                  .agg(pl.col("n").sum()).sort("station_id", "connector_id"))
    connectors_json = {sid: json.dumps({str(c): int(n) for c, n in zip(g["connector_id"], g["n"])})
                       for (sid,), g in connectors.group_by("station_id", maintain_order=True)}
    still = _still_faulted(con, data_root, start, connectors.select("station_id", "connector_id"))
    report = (
        totals.join(worst, on="station_id")
        .with_columns(
            pl.col("station_id").replace_strict(daily_json, return_dtype=pl.String).alias("daily_counts"),
            pl.col("station_id").replace_strict(codes_json, return_dtype=pl.String).alias("error_codes"),
            pl.col("station_id").replace_strict(connectors_json, return_dtype=pl.String).alias("faulted_connectors"),
            pl.col("station_id").replace_strict(still, default="[]", return_dtype=pl.String)
            .alias("still_faulted_connectors"),
        )
        .sort(["faults_in_month", "station_id"], descending=[True, False])
        .with_row_index("rank", offset=1)
        .with_columns(pl.lit(month).alias("month"))
        .join(_sites(con, data_root), on="station_id", how="left")
        .sort("rank")
    )
    return conform(FAULT_REPORT, report)


def _still_faulted(con: duckdb.DuckDBPyConnection, data_root: Path, since: dt.datetime,
                   faulted: pl.DataFrame) -> dict[str, str]:
    """station -> JSON list of its `faulted` connectors whose latest status in silver is Faulted.

    "Latest" is the newest event_ts (the station's clock, as the live connector status is
    decided), over everything curated when the report is built, so a report
    rebuilt later says whether the station has recovered since. Ties on event_ts go to the
    one received last. Only statuses from `since` on can be newer than a fault of the month.
    """
    latest = frame(con, f"""
        SELECT station_id, connector_id, status
        FROM {read_sql(STATUS_CHANGES, data_root)}
        WHERE event_ts >= ?
        QUALIFY row_number() OVER (PARTITION BY station_id, connector_id
                                   ORDER BY event_ts DESC, received_at DESC, source DESC, seq DESC) = 1
        """, [since], schema={"station_id": pl.String, "connector_id": pl.Int32, "status": pl.String})
    still = (faulted.join(latest.filter(pl.col("status") == "Faulted"), on=["station_id", "connector_id"])
             .sort("station_id", "connector_id"))
    return {sid: json.dumps([int(c) for c in g["connector_id"]])
            for (sid,), g in still.group_by("station_id", maintain_order=True)}


def _sites(con: duckdb.DuckDBPyConnection, data_root: Path) -> pl.DataFrame:
    if not has_files(STATIONS, data_root):
        return pl.DataFrame(schema={"station_id": pl.String, "site": pl.String})
    return frame(con, f"SELECT station_id, any_value(site) AS site FROM {read_sql(STATIONS, data_root)} GROUP BY station_id",
                 schema={"station_id": pl.String, "site": pl.String})


def report_dir(data_root: str | Path, month: str) -> Path:
    return month_dir(FAULT_REPORT, Path(data_root), month)


def write_report(data_root: str | Path, month: str, report: pl.DataFrame) -> Path:
    """Replace the month's gold files with `report`; returns the directory."""
    directory = report_dir(data_root, month)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_replace(directory / CSV_FILE) as tmp:
        to_csv(report).write_csv(tmp)
    write_partition(FAULT_REPORT, directory, report)
    return directory


def to_csv(report: pl.DataFrame) -> pl.DataFrame:
    """The frame as it goes into the CSV (ISO dates); `read_csv` of the file gives it back."""
    return conform(FAULT_REPORT, report).with_columns(pl.col("worst_day").cast(pl.String))


def read_report(data_root: str | Path, month: str) -> pl.DataFrame | None:
    """The built report of `month`, or None if it was never built."""
    path = report_dir(data_root, month) / PART_FILE
    return pl.read_parquet(path) if path.exists() else None


def run(data_root: str | Path, month: str, email: bool = False, config=None) -> pl.DataFrame:
    """Build, write and (optionally) e-mail one month's report: what the CLI and the scheduler do."""
    started = time.monotonic()
    report = build_report(data_root, month)
    directory = write_report(data_root, month, report)
    log.info("fault report built", extra={"month": month, "stations": report.height, "path": str(directory),
                                          "seconds": round(time.monotonic() - started, 3)})
    if email:
        from analytics import report_mail

        report_mail.send_report(config, month, report, directory / CSV_FILE)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.fault_report", description=__doc__.splitlines()[0])
    parser.add_argument("--month", default=None, help="YYYY-MM (default: the previous month, UTC)")
    parser.add_argument("--email", action="store_true", help="e-mail it to report_recipients (SMTP from config)")
    parser.add_argument("--data-root", default=None, help="data root (default: data_root of the config)")
    parser.add_argument("--config", default=None, help="TOML config file (default: $CSMS_CONFIG or defaults)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from actors.config import load_config

    config = load_config(args.config)
    month = args.month or previous_month()
    try:
        parse_month(month)
    except ValueError as exc:
        parser.error(str(exc))
    data_root = Path(args.data_root) if args.data_root else config.data_path
    print(f"building the fault report for {month} from {data_root} ...", flush=True)
    try:
        report = run(data_root, month, email=args.email, config=config)
    except Exception as exc:
        from analytics.report_mail import ReportMailError

        if not isinstance(exc, ReportMailError):
            raise
        print(f"the report was written to {report_dir(data_root, month)} but not e-mailed: {exc}", file=sys.stderr)
        return 2
    print(f"{report.height} station(s) with >= {FAULTS_PER_DAY_THRESHOLD} faults in a day; "
          f"written to {report_dir(data_root, month)}", flush=True)
    if report.height:
        with pl.Config(tbl_rows=20, tbl_cols=8, fmt_str_lengths=40):
            print(report.select("rank", "station_id", "site", "faults_in_month", "worst_day", "worst_day_faults"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
