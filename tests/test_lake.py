"""The bronze writer: day partitions, schema, no secrets, idempotent re-flush."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from actors.events import Event
from actors.lake import BRONZE_SCHEMA, bronze_glob, bronze_source_sql, write_bronze

DAY_US = 86_400_000_000
# 2024-02-29 23:59:59.999999 UTC: the last microsecond of a leap day.
LEAP_DAY_END_US = int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000 - 1


def ev(i: int, received_at_us: int, *, station_ts_us: int | None = None, private: str = "") -> Event:
    return Event(
        station_id=f"CP-{i % 3}",
        received_at_us=received_at_us,
        direction="in",
        message_type="CALL",
        message_id=f"m{i}",
        action="StatusNotification",
        payload='{"connectorId": 1, "status": "Available"}',
        station_ts_us=station_ts_us,
        private=private,
    )


def sample() -> list[tuple[int, Event]]:
    return [
        (10, ev(10, LEAP_DAY_END_US - 5, station_ts_us=LEAP_DAY_END_US - 100)),
        (11, ev(11, LEAP_DAY_END_US, private="pbkdf2$secret-hash")),
        (12, ev(12, LEAP_DAY_END_US + 1)),  # 2024-03-01 00:00:00 UTC
        (13, ev(13, LEAP_DAY_END_US + 1 + DAY_US + 5)),  # 2024-03-02
    ]


def test_events_land_in_their_utc_day_partitions(tmp_path):
    paths = write_bronze(tmp_path, sample(), source="station-host-0", file_stem="host-0-00000010")
    rel = sorted(str(p.relative_to(tmp_path)) for p in paths)
    assert rel == [
        "bronze/events/year=2024/month=02/day=29/host-0-00000010.parquet",
        "bronze/events/year=2024/month=03/day=01/host-0-00000010.parquet",
        "bronze/events/year=2024/month=03/day=02/host-0-00000010.parquet",
    ]
    rows = duckdb.sql(
        f"select year, month, day, list(seq order by seq) from read_parquet('{bronze_glob(tmp_path)}', "
        "hive_partitioning=true) group by all order by all"
    ).fetchall()
    # DuckDB reads zero-padded partition values as strings...
    assert rows == [(2024, "02", "29", [10, 11]), (2024, "03", "01", [12]), (2024, "03", "02", [13])]
    # ...which bronze_source_sql pins to integers.
    rows = duckdb.sql(
        f"select year, month, day, count(*) from {bronze_source_sql(tmp_path)} group by all order by all"
    ).fetchall()
    assert rows == [(2024, 2, 29, 2), (2024, 3, 1, 1), (2024, 3, 2, 1)]


def test_bronze_files_have_the_documented_schema_and_values(tmp_path):
    write_bronze(tmp_path, sample(), source="station-host-0", file_stem="s")
    frame = pl.read_parquet(bronze_glob(tmp_path)).sort("seq")
    assert frame.schema == BRONZE_SCHEMA
    first = frame.row(0, named=True)
    assert first["source"] == "station-host-0"
    assert first["station_id"] == "CP-1"
    assert first["received_at"] == dt.datetime(2024, 2, 29, 23, 59, 59, 999994, tzinfo=dt.timezone.utc)
    assert first["station_ts"] == dt.datetime(2024, 2, 29, 23, 59, 59, 999899, tzinfo=dt.timezone.utc)
    assert first["payload"] == '{"connectorId": 1, "status": "Available"}'
    assert first["ocpp_version"] == "1.6"
    assert frame["station_ts"].null_count() == 3
    # DuckDB sees UTC timestamps too (the analytics read the lake through it).
    ts = duckdb.sql(
        f"select typeof(received_at), typeof(seq) from read_parquet('{bronze_glob(tmp_path)}') limit 1"
    ).fetchall()[0]
    assert ts == ("TIMESTAMP WITH TIME ZONE", "BIGINT")


def test_private_data_never_reaches_the_lake(tmp_path):
    paths = write_bronze(tmp_path, sample(), source="h", file_stem="s")
    columns = duckdb.sql(f"select * from read_parquet('{bronze_glob(tmp_path)}') limit 0").columns
    assert "private" not in columns
    for path in paths:
        assert b"secret-hash" not in path.read_bytes()


def test_rewriting_the_same_stem_replaces_instead_of_duplicating(tmp_path):
    write_bronze(tmp_path, sample(), source="h", file_stem="seg-10")
    write_bronze(tmp_path, sample(), source="h", file_stem="seg-10")
    count = duckdb.sql(f"select count(*) from read_parquet('{bronze_glob(tmp_path)}')").fetchall()[0][0]
    assert count == len(sample())
    # A different stem (another segment) adds rows.
    write_bronze(tmp_path, [(20, ev(20, LEAP_DAY_END_US))], source="h", file_stem="seg-20")
    count = duckdb.sql(f"select count(*) from read_parquet('{bronze_glob(tmp_path)}')").fetchall()[0][0]
    assert count == len(sample()) + 1
    # No temp files are left behind next to the data.
    assert all(p.suffix == ".parquet" for p in (tmp_path / "bronze").rglob("*") if p.is_file())


def test_writing_nothing_writes_no_file(tmp_path):
    assert write_bronze(tmp_path, [], source="h", file_stem="s") == []
    assert not (tmp_path / "bronze").exists()
