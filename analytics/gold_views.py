"""What the operator API serves from gold: a month's fault report and the latest anomalies, as JSON rows.

Reads the Parquet files only (DuckDB over the files; nothing is written), so any API
replica answers from the shared data root. JSON-in-a-column fields of the gold tables
(daily_counts, error_codes, faulted_connectors, ...) come back decoded.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

from analytics.fault_report import parse_month, read_report
from analytics.query import connect, frame, from_epoch_us, has_files
from analytics.tables import MAINTENANCE_SCORES, MASS_OUTAGES, read_sql

_JSON_COLUMNS = ("daily_counts", "error_codes", "faulted_connectors", "still_faulted_connectors", "station_ids",
                 "top_features")


def _rows(table: pl.DataFrame) -> list[dict[str, Any]]:
    rows = table.to_dicts()
    for row in rows:
        for key, value in row.items():
            if key in _JSON_COLUMNS and isinstance(value, str):
                row[key] = json.loads(value)
            elif isinstance(value, dt.datetime) and value.tzinfo is None:
                # The API encodes datetimes as UTC with `Z` (serve_app/api_schema.py); gold is UTC.
                row[key] = value.replace(tzinfo=dt.timezone.utc)
    return rows


def fault_report(data_root: str | Path, month: str) -> dict[str, Any] | None:
    """{"month", "stations": [...]} for a built month, None if it was never built; ValueError for a bad month."""
    parse_month(month)
    report = read_report(data_root, month)
    if report is None:
        return None
    return {"month": month, "total": report.height, "stations": _rows(report)}


def anomalies(data_root: str | Path, day: dt.date | None = None, limit: int = 50) -> dict[str, Any]:
    """Mass-outage incidents of `day` (default: the most recent ones) and the top maintenance
    scores of `day` (default: the latest scored day), at most `limit` of each."""
    root = Path(data_root)
    con = connect()
    result: dict[str, Any] = {"day": day.isoformat() if day else None, "maintenance_day": None,
                              "mass_outages": [], "maintenance": []}
    if has_files(MAINTENANCE_SCORES, root):
        scored_day = day or _latest_day(con, MAINTENANCE_SCORES, root)
        result["maintenance_day"] = scored_day.isoformat() if scored_day else None
        if scored_day:
            scores = frame(con, f"""
                SELECT * EXCLUDE (day_ts, year, month, day), epoch_us(day_ts) AS day_ts
                FROM {read_sql(MAINTENANCE_SCORES, root)}
                WHERE year = ? AND month = ? AND day = ? ORDER BY rank LIMIT ?""",
                           [scored_day.year, scored_day.month, scored_day.day, limit])
            if scores.height:
                result["maintenance"] = _rows(scores.with_columns(from_epoch_us("day_ts")))
    if has_files(MASS_OUTAGES, root):
        where, params = ("WHERE year = ? AND month = ? AND day = ?", [day.year, day.month, day.day]) if day else ("", [])
        incidents = frame(con, f"""
            SELECT * EXCLUDE (window_start, window_end, year, month, day),
                   epoch_us(window_start) AS window_start, epoch_us(window_end) AS window_end
            FROM {read_sql(MASS_OUTAGES, root)} {where}
            ORDER BY window_start DESC, scope, scope_key LIMIT ?""", [*params, limit])
        if incidents.height:
            result["mass_outages"] = _rows(incidents.with_columns(from_epoch_us("window_start"),
                                                                  from_epoch_us("window_end")))
    return result


def _latest_day(con, table, root: Path) -> dt.date | None:
    row = con.execute(f"SELECT max(year * 10000 + month * 100 + day) FROM {read_sql(table, root)}").fetchone()
    if not row or row[0] is None:
        return None
    value = int(row[0])
    return dt.date(value // 10000, value // 100 % 100, value % 100)
