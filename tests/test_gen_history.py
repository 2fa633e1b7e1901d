"""The synthetic history generator: reproducible, the live bronze schema, and a truth file that
says what it really wrote (checked through the curated silver tables)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from actors import lake
from analytics import curate
from analytics import tables as t
from scripts import gen_history

START = dt.date(2026, 10, 5)


def options(root, seed=11, **kw):
    base = dict(stations=150, start=START, days=9, seed=seed, data_root=root, heartbeat_s=1800,
                sessions_per_day=1.5, burst_rate=0.01, degrading_share=0.02, late_share=0.03, outages=2,
                chunk_stations=40)  # several chunks per day, as at scale
    base.update(kw)
    return gen_history.Options(**base)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    truth = gen_history.generate(options(root, truth=root / "truth.json"), echo=lambda *a, **k: None)
    curate.run(root, today=START + dt.timedelta(days=40), echo=lambda *_: None)
    return root, truth


def q(sql):
    return duckdb.sql(sql).fetchall()


def test_same_seed_same_bronze_other_seed_other_bronze(tmp_path):
    small = dict(stations=120, days=3, chunk_stations=50)
    gen_history.generate(options(tmp_path / "a", **small), echo=lambda *a, **k: None)
    gen_history.generate(options(tmp_path / "b", **small), echo=lambda *a, **k: None)
    gen_history.generate(options(tmp_path / "c", seed=12, **small), echo=lambda *a, **k: None)
    files = {r: sorted(p.relative_to(tmp_path / r) for p in (tmp_path / r).rglob("*.parquet")) for r in "abc"}
    assert files["a"] and files["a"] == files["b"]
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in files["a"])
    read = lambda r: pl.read_parquet(str(tmp_path / r / "bronze"), hive_partitioning=False).sort("source", "seq")
    assert not read("a").equals(read("c"))


def test_bronze_has_exactly_the_live_schema_and_unique_event_keys(history):
    root, _ = history
    for path in lake.bronze_dir(root).rglob("*.parquet"):
        assert pl.read_parquet_schema(path) == dict(lake.BRONZE_SCHEMA)
    assert q(f"select count(*) - count(distinct (source, seq)) from {lake.bronze_source_sql(root)}") == [(0,)]
    # Every station CALL has exactly one answer with its message id and receive time.
    unanswered = q(f"""
        with b as (select * from {lake.bronze_source_sql(root)})
        select count(*) from b c where direction = 'in' and message_type = 'CALL' and not exists (
            select 1 from b a where a.direction = 'out' and a.station_id = c.station_id
            and a.message_id = c.message_id and a.received_at = c.received_at)""")
    assert unanswered == [(0,)]


def test_truth_fault_burst_days_are_what_silver_counts(history):
    root, truth = history
    found = q(f"""select station_id, cast(cast(event_ts as date) as varchar), count(*) from {t.read_sql(t.STATUS_CHANGES, root)}
                  where status = 'Faulted' group by all having count(*) >= 5 order by all""")
    expected = sorted((x["station_id"], x["day"], x["faults"]) for x in truth["fault_burst_days"])
    assert expected and found == expected
    planted = {(x["station_id"], x["day"]) for x in truth["planted_fault_bursts"]}
    assert planted and planted <= {(s, d) for s, d, _ in expected}


def test_truth_outages_are_in_the_lake(history):
    root, truth = history
    assert len(truth["outages"]) == 2
    for inc in truth["outages"]:
        assert len(inc["stations"]) >= 0.8 * inc["in_scope"]
        ids = ", ".join(f"'{s}'" for s in inc["stations"])
        window = f"between '{inc['window_start']}'::timestamptz and '{inc['window_end']}'::timestamptz"
        if inc["mode"] == "disconnect":
            hit = q(f"select count(distinct station_id) from {t.read_sql(t.CONNECTIVITY, root)} "
                    f"where kind = 'disconnect' and station_id in ({ids}) and event_ts {window}")
        else:
            hit = q(f"select count(distinct station_id) from {t.read_sql(t.STATUS_CHANGES, root)} where connector_id = 0 "
                    f"and status = '{inc['mode']}' and station_id in ({ids}) and event_ts {window}")
        assert hit == [(len(inc["stations"]),)]
        stations = q(f"select distinct {'site' if inc['scope'] == 'site' else 'region'} "
                     f"from {t.read_sql(t.STATIONS, root)} where station_id in ({ids})")
        assert stations == [(inc["scope_key"],)]


def test_truth_degrading_stations_fail_and_go_quiet(history):
    root, truth = history
    assert truth["degrading"]
    for d in truth["degrading"]:
        failed = q(f"select count(*) from {t.read_sql(t.STATUS_CHANGES, root)} where station_id = '{d['station_id']}' "
                   f"and connector_id = 0 and status = 'Faulted' and cast(event_ts as date) = '{d['failure_day']}'")
        assert failed == [(1,)]
        after = q(f"select count(*) from {lake.bronze_source_sql(root)} where station_id = '{d['station_id']}' "
                  f"and direction = 'in' and cast(received_at as date) > '{d['failure_day']}'")
        assert after == [(0,)]


def test_truth_late_events_land_in_the_day_they_happened(history):
    root, truth = history
    assert truth["late"]
    for late in truth["late"]:
        assert late["received_day"] > late["happened_day"]
        rows = q(f"""select count(*) from {t.read_sql(t.STATUS_CHANGES, root)} where station_id = '{late['station_id']}'
                     and cast(event_ts as date) = '{late['happened_day']}' and cast(received_at as date) >= '{late['received_day']}'""")
        mv = q(f"""select count(*) from {t.read_sql(t.METER_VALUES, root)} where station_id = '{late['station_id']}'
                   and cast(sampled_at as date) = '{late['happened_day']}' and cast(received_at as date) >= '{late['received_day']}'""")
        assert rows[0][0] + mv[0][0] > 0


def test_truth_duplicates_orphans_and_malformed_are_in_silver(history):
    root, truth = history
    assert truth["duplicates"] > 0
    assert q(f"select count(*) > 0 from {t.read_sql(t.TRANSACTIONS, root)} where is_duplicate") == [(True,)]
    assert q(f"select count(*) from {t.read_sql(t.TRANSACTIONS, root)} where is_orphan") == [(truth["orphan_stops"],)]
    assert q(f"select count(*) from {t.read_sql(t.QUARANTINE, root)}") == [(truth["malformed"],)]


def test_truth_file_is_json_of_the_same_truth(history):
    root, truth = history
    assert json.loads((root / "truth.json").read_text()) == truth


def test_a_small_fleet_with_days_without_disconnects_is_generated(tmp_path):
    # 60 stations: some chunk-days have no session rows, so their station index column came out
    # Int32 instead of Int64 and the fault tally could not be put together.
    truth = gen_history.generate(gen_history.Options(stations=60, start=START, days=4, seed=1, data_root=tmp_path),
                                 echo=lambda *a, **k: None)
    assert truth["rows"] > 0 and len(list((tmp_path / "bronze").rglob("*.parquet"))) >= 4
