"""What every silver table builder shares: UTC days of microsecond times, and a table's frame from its rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from analytics import tables as t

US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def us_day(us: int) -> int:
    return us // US_PER_DAY


def table_frame(table: t.Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """`rows` (times as integer microseconds) as a frame of `table`'s columns and types."""
    schema = {c.name: (pl.Int64 if c.dtype == t.UTC_TS else c.dtype) for c in table.columns}
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return frame.with_columns([pl.col(c.name).cast(t.UTC_TS) for c in table.columns if c.dtype == t.UTC_TS])


def short(exc: Exception) -> str:
    """The first line of an error, bounded: what a quarantine reason quotes."""
    return str(exc).splitlines()[0][:300]
