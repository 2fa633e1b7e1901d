"""Retention deletes exactly the whole partitions past their age, never unprocessed bronze, never gold."""

from __future__ import annotations

import datetime as dt
import os
import time

import polars as pl
import pytest

from actors import lake
from analytics import curate, retention
from analytics import tables as t
from tests.bronze import Bronze

TODAY = dt.date(2026, 11, 20)


def bronze_days(root):
    return [d.isoformat() for d, _ in retention.day_partitions(lake.bronze_dir(root))]


def silver_days(root, table):
    return [d.isoformat() for d, _ in retention.day_partitions(table.path(root))]


def age_all_files(root, seconds=3600):
    # Files curation indexed long ago, as in production (the watermark overlap is minutes).
    past = time.time() - seconds
    for f in root.rglob("*.parquet"):
        os.utime(f, (past, past))


@pytest.fixture
def lake_root(tmp_path):
    b = Bronze()
    for day in range(1, 20):  # 2026-11-01 .. 2026-11-19
        b.status("CP1", 1, "Faulted", f"2026-11-{day:02d}T08:00:00Z")
    b.write(tmp_path)
    age_all_files(tmp_path)
    curate.run(tmp_path, today=TODAY, echo=lambda *_: None)
    for table in t.GOLD_TABLES:
        directory = t.month_dir(table, tmp_path, "2026-11") if table.partitioning == "month" \
            else t.day_dir(table, tmp_path, dt.date(2026, 11, 1))
        t.write_partition(table, directory, pl.DataFrame(schema=table.schema))
    return tmp_path


def test_silver_partitions_older_than_retention_are_deleted_whole(lake_root):
    result = retention.enforce(lake_root, bronze_days=0, silver_days=5, today=TODAY)
    for table in curate.DAY_TABLES:  # authorizations included
        assert silver_days(lake_root, table) == [f"2026-11-{d}" for d in range(15, 20)]
    assert len(result.silver) == len(curate.DAY_TABLES) * 14
    assert (t.STATIONS.path(lake_root) / t.PART_FILE).exists()
    assert len(bronze_days(lake_root)) == 19  # bronze retention 0: kept forever


def test_gold_is_never_deleted(lake_root):
    retention.enforce(lake_root, bronze_days=9, silver_days=1, today=TODAY)
    for table in t.GOLD_TABLES:
        assert list(table.path(lake_root).rglob("*.parquet"))


def test_processed_bronze_past_retention_is_deleted_and_empty_folders_go(lake_root):
    result = retention.enforce(lake_root, bronze_days=10, silver_days=0, today=TODAY)
    assert result.bronze == [f"2026-11-{d:02d}" for d in range(1, 10)]
    assert bronze_days(lake_root) == [f"2026-11-{d:02d}" for d in range(10, 20)]
    assert silver_days(lake_root, t.STATUS_CHANGES)[0] == "2026-11-01"  # silver retention 0: kept
    assert curate.State.load(lake_root).retired_through == "2026-11-09"


def test_bronze_the_curation_has_not_processed_is_kept(lake_root):
    late = Bronze(source="station-host-1")
    late.status("CP2", 1, "Available", "2026-11-03T08:00:00Z")  # landed after the last curation run
    late.write(lake_root)
    state = curate.State.load(lake_root)
    state.pending.append("2026-11-07")  # indexed, but its curation has not run yet: needs bronze 06-08
    state.save(lake_root)
    result = retention.enforce(lake_root, bronze_days=10, silver_days=0, today=TODAY, dry_run=True)
    assert result.kept_unprocessed == ["2026-11-03", "2026-11-06", "2026-11-07", "2026-11-08"]
    assert result.bronze == ["2026-11-01", "2026-11-02", "2026-11-04", "2026-11-05", "2026-11-09"]
    assert len(bronze_days(lake_root)) == 19  # a dry run deletes nothing


def test_curation_keeps_silver_of_a_day_whose_bronze_retention_deleted(lake_root):
    retention.enforce(lake_root, bronze_days=10, silver_days=0, today=TODAY)
    before = (t.day_dir(t.STATUS_CHANGES, lake_root, dt.date(2026, 11, 5)) / t.PART_FILE).read_bytes()
    lines = []
    result = curate.run(lake_root, day=dt.date(2026, 11, 5), today=TODAY, echo=lines.append)
    assert result == {} and any("retention deleted bronze" in line for line in lines)
    assert (t.day_dir(t.STATUS_CHANGES, lake_root, dt.date(2026, 11, 5)) / t.PART_FILE).read_bytes() == before


def test_bronze_retention_shorter_than_the_transaction_lookback_is_refused(lake_root):
    with pytest.raises(ValueError, match="transaction lookback"):
        retention.enforce(lake_root, bronze_days=5, silver_days=0, today=TODAY, lookback_days=7)


def test_the_command_line_takes_retention_from_the_config(lake_root, monkeypatch, capsys):
    monkeypatch.setenv("CSMS_SILVER_RETENTION_DAYS", "3")
    monkeypatch.setenv("CSMS_BRONZE_RETENTION_DAYS", "0")
    assert retention.main(["--data-root", str(lake_root), "--today", TODAY.isoformat()]) == 0
    assert f"deleted 0 bronze and {len(curate.DAY_TABLES) * 16} silver partitions" in capsys.readouterr().out
    assert silver_days(lake_root, t.STATUS_CHANGES) == ["2026-11-17", "2026-11-18", "2026-11-19"]
