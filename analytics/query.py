"""Reading the lake with DuckDB: one connection setup and the "is there anything yet" check."""

from __future__ import annotations

import datetime as dt
import glob
from pathlib import Path

import duckdb
import polars as pl

from analytics.tables import Table, table_glob


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose session time zone is UTC, so CAST(ts AS DATE) is the UTC day."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def has_files(table: Table, data_root: str | Path) -> bool:
    """DuckDB's read_parquet fails on a glob that matches nothing: ask first."""
    return bool(glob.glob(table_glob(table, Path(data_root))))


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None,
          schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """The query's result as a polars frame, cast to `schema` where given.

    Through plain Python rows: DuckDB's own .pl() needs pyarrow and its TIMESTAMPTZ values
    need pytz, neither of which we depend on, so queries return timestamps as
    epoch_us(...) and `from_epoch_us` turns them back.
    """
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    result = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    if schema:
        result = result.with_columns(pl.col(n).cast(t) for n, t in schema.items() if n in result.columns)
    return result


def from_epoch_us(column: str) -> pl.Expr:
    return pl.from_epoch(pl.col(column), "us").dt.replace_time_zone("UTC").alias(column)


US = 1_000_000
DAY_US = 86_400 * US


def day_start_us(day: dt.date) -> int:
    """Midnight UTC of `day` in epoch microseconds."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * US


def time_range_filter(start_us: int, end_us: int, column: str) -> str:
    """SQL for `column` in [start_us, end_us) over a day-partitioned table.

    The partition columns only prune files (a late event lives in the day it happened, so
    the two agree); the timestamp comparison is the definition.
    """
    first = dt.datetime.fromtimestamp(start_us / US, dt.timezone.utc)
    last = dt.datetime.fromtimestamp((end_us - 1) / US, dt.timezone.utc)
    return (f"(year * 10000 + month * 100 + day) BETWEEN {first:%Y%m%d} AND {last:%Y%m%d} "
            f"AND epoch_us({column}) >= {int(start_us)} AND epoch_us({column}) < {int(end_us)}")


def day_range(first: str | None, through: str | None) -> list[dt.date]:
    """The UTC days from `first` (default: yesterday) through `through` (default: first)."""
    start = dt.date.fromisoformat(first) if first else dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    end = dt.date.fromisoformat(through) if through else start
    if end < start:
        raise ValueError("--through is before --day")
    return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]
