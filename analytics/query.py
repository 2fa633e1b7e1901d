"""Reading the lake with DuckDB: one connection setup and the "is there anything yet" check."""

from __future__ import annotations

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
