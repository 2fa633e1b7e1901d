"""The data catalog matches the files actually in the lake (schemas read back with DuckDB)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from actors import lake
from analytics import catalog as cat
from analytics import curate
from analytics import tables as t
from scripts import cli
from tests.bronze import Bronze

D1 = dt.date(2026, 11, 2)


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    b = Bronze()
    b.session("CP1", "StationRegistered", {"password_hash": "", "site": "s1", "metadata": {"region": "r1"}},
              "2026-11-02T07:00:00Z")
    b.status("CP1", 1, "Faulted", "2026-11-02T08:00:00Z")
    b.start("CP1", 1, "2026-11-02T09:00:00Z")
    b.meter("CP1", "2026-11-02T09:30:00Z", [{"value": "2", "unit": "kWh"}], tx_id=1)
    b.stop("CP1", 1, "2026-11-02T10:00:00Z", 4000)
    b.status("CP1", 1, "Available", "2026-11-03T08:00:00Z")
    b.write(root)
    curate.run(root, today=dt.date(2026, 11, 4), echo=lambda *_: None)
    # Gold tables are written by the reports; an empty partition of each is enough to check schemas.
    for table in t.GOLD_TABLES:
        directory = t.month_dir(table, root, "2026-11") if table.partitioning == "month" else t.day_dir(table, root, D1)
        t.write_partition(table, directory, pl.DataFrame(schema=table.schema))
    return root


def test_every_table_of_the_contracts_is_in_the_catalog(lake_root):
    ids = [tb["id"] for tb in cat.catalog(lake_root)["tables"]]
    assert ids == ["bronze.events"] + [f"{x.layer}.{x.name}" for x in (*t.SILVER_TABLES, *t.GOLD_TABLES)]


def test_catalog_columns_and_types_are_those_of_the_parquet_files(lake_root):
    for entry in cat.catalog(lake_root)["tables"]:
        table = next(x for x in cat.TABLES if f"{x.layer}.{x.name}" == entry["id"])
        files = sorted((lake_root / entry["location"]).rglob("*.parquet"))
        assert files, entry["id"]
        for f in files:
            described = duckdb.sql(f"describe select * from read_parquet('{f}', hive_partitioning=false)").fetchall()
            assert [(c["name"], c["type"]) for c in entry["columns"]] == [(r[0], r[1]) for r in described], f


def test_freshness_counts_the_rows_partitions_and_newest_day_written(lake_root):
    entries = {tb["id"]: tb for tb in cat.catalog(lake_root)["tables"]}
    bronze = entries["bronze.events"]["freshness"]
    assert bronze["rows"] == duckdb.sql(f"select count(*) from {lake.bronze_source_sql(lake_root)}").fetchall()[0][0]
    assert (bronze["partitions"], bronze["oldest_partition"], bronze["newest_partition"]) == (2, "2026-11-02", "2026-11-03")
    status = entries["silver.status_changes"]["freshness"]
    assert status["rows"] == 2 and status["newest_partition"] == "2026-11-03"
    assert entries["silver.transactions"]["freshness"]["rows"] == 1
    assert entries["silver.stations"]["freshness"]["rows"] == 1
    assert entries["gold.fault_report"]["freshness"]["newest_partition"] == "2026-11"
    assert status["newest_file_time"].endswith("Z")


def test_units_owner_grain_and_partitioning_are_stated(lake_root):
    entries = {tb["id"]: tb for tb in cat.catalog(lake_root)["tables"]}
    mv = entries["silver.meter_values"]
    assert mv["partitioning"] == {"kind": "day", "layout": "year=YYYY/month=MM/day=DD", "time_column": "sampled_at",
                                  "file": "one part-0.parquet per partition, replaced atomically"}
    energy = next(c for c in entries["silver.transactions"]["columns"] if c["name"] == "energy_wh")
    assert energy["unit"] == "Wh"
    assert all(tb["grain"] and tb["owner"] and tb["description"] for tb in entries.values())
    assert entries["gold.fault_report"]["extra_files"] == ["report.csv"]


def test_an_empty_lake_has_a_catalog_with_no_files(tmp_path):
    entries = cat.catalog(tmp_path)["tables"]
    assert all(tb["freshness"]["files"] == 0 and tb["freshness"]["newest_partition"] is None for tb in entries)


def test_csms_catalog_prints_json_and_text(lake_root, capsys):
    assert cli.main(["catalog", "--data-root", str(lake_root), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tables"][0]["id"] == "bronze.events"
    assert cli.main(["catalog", "--data-root", str(lake_root)]) == 0
    text = capsys.readouterr().out
    assert "silver.meter_values" in text and "si_unit" in text
