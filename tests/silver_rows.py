"""Hand-written silver partitions for the report and anomaly tests (written through the contract)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from analytics.tables import CONNECTIVITY, STATIONS, STATUS_CHANGES, Table, day_dir, write_partition

UTC = dt.timezone.utc


def ts(text: str) -> dt.datetime:
    """'2026-10-03T23:59:59' as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def status(station_id: str, at: dt.datetime | str, status: str = "Faulted", error_code: str = "GroundFailure",
           connector_id: int = 1, seq: int = 0) -> dict:
    at = ts(at) if isinstance(at, str) else at
    return {"station_id": station_id, "connector_id": connector_id, "event_ts": at, "station_ts": at,
            "received_at": at, "lateness_s": 0.0, "status": status, "error_code": error_code, "info": None,
            "vendor_id": None, "vendor_error_code": None, "source": "station-host-0", "seq": seq}


def connectivity(station_id: str, at: dt.datetime | str, kind: str, gap_s: float | None = None) -> dict:
    at = ts(at) if isinstance(at, str) else at
    return {"station_id": station_id, "event_ts": at, "kind": kind, "gap_s": gap_s, "close_code": None, "detail": None}


def station(station_id: str, site: str | None = None, region: str | None = None) -> dict:
    return {"station_id": station_id, "site": site, "region": region, "vendor": "V", "model": "M",
            "firmware_version": "1.0", "registered_at": ts("2026-01-01T00:00:00"), "deleted": False}


def write_days(table: Table, data_root: Path, rows: list[dict]) -> None:
    """Write `rows` into their day partitions (by the table's time column), replacing them."""
    frame = pl.DataFrame(rows, schema=table.schema)
    for (day,), part in frame.group_by(pl.col(table.time_column).dt.date()):
        write_partition(table, day_dir(table, data_root, day), part)


def write_stations(data_root: Path, rows: list[dict]) -> None:
    write_partition(STATIONS, STATIONS.path(data_root), pl.DataFrame(rows, schema=STATIONS.schema))


def write_status_changes(data_root: Path, rows: list[dict]) -> None:
    write_days(STATUS_CHANGES, data_root, rows)


def write_connectivity(data_root: Path, rows: list[dict]) -> None:
    write_days(CONNECTIVITY, data_root, rows)
