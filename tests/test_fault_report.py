"""The monthly fault report on a hand-computed silver fixture (no Ray needed)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from analytics import fault_report
from analytics.tables import FAULT_REPORT, PART_FILE
from tests.silver_rows import station, status, ts, write_stations, write_status_changes


def faults(station_id: str, start: str, count: int, every_s: int = 60, error_code: str = "GroundFailure",
           **kw) -> list[dict]:
    first = ts(start)
    return [status(station_id, first + dt.timedelta(seconds=k * every_s), error_code=error_code, **kw)
            for k in range(count)]


def october_fixture(root) -> None:
    rows = [
        # CP-A: exactly 5 on one day (the threshold itself), one more later: in, 6 faults.
        *faults("CP-A", "2026-10-03T08:00:00", 3),
        *faults("CP-A", "2026-10-03T09:00:00", 2, error_code="OverCurrentFailure", connector_id=2),
        *faults("CP-A", "2026-10-10T12:00:00", 1),
        # CP-B: 4 + 4 on two days: 8 faults but never 5 in one day, out.
        *faults("CP-B", "2026-10-05T10:00:00", 4),
        *faults("CP-B", "2026-10-06T10:00:00", 4),
        # CP-C: 8 faults within 16 minutes, across midnight (4 + 4): out.
        *faults("CP-C", "2026-10-07T23:52:00", 8, every_s=120),
        # CP-E: 5 on the last day of September and 5 on the first of November: not October's.
        *faults("CP-E", "2026-09-30T12:00:00", 5),
        *faults("CP-E", "2026-11-01T12:00:00", 5),
        # CP-F: 4 late on 31 October and 1 at the first instant of November: out.
        *faults("CP-F", "2026-10-31T23:56:00", 5),
        # CP-G, CP-H: 6 faults each (5 + 1): a tie, broken by station id.
        *faults("CP-H", "2026-10-20T01:00:00", 5, error_code="HighTemperature"),
        *faults("CP-H", "2026-10-21T01:00:00", 1, error_code="HighTemperature"),
        *faults("CP-G", "2026-10-22T01:00:00", 1, error_code="PowerMeterFailure"),
        *faults("CP-G", "2026-10-23T01:00:00", 5, error_code="PowerMeterFailure"),
        # CP-I: 5 + 2: 7 faults.
        *faults("CP-I", "2026-10-12T05:00:00", 5, error_code="OtherError"),
        *faults("CP-I", "2026-10-13T05:00:00", 2, error_code="GroundFailure"),
        # CP-J: 4 Faulted and 3 Unavailable on one day: only Faulted counts, out.
        *faults("CP-J", "2026-10-14T05:00:00", 4),
        *[status("CP-J", ts("2026-10-14T07:00:00") + dt.timedelta(minutes=k), "Unavailable", "NoError") for k in range(3)],
        # CP-K: 5 on each of two days: 10 faults, worst day is the earlier one.
        *faults("CP-K", "2026-10-15T05:00:00", 5, error_code="HighTemperature"),
        *faults("CP-K", "2026-10-16T05:00:00", 5, error_code="HighTemperature"),
        # Everybody also reports ordinary statuses.
        *[status(s, "2026-10-01T00:00:00", "Available", "NoError") for s in "ABCEFGHIJK"],
    ]
    write_status_changes(root, rows)
    write_stations(root, [station("CP-A", site="depot-1"), station("CP-K", site="depot-2")])


EXPECTED = [
    # rank, station, site, faults, worst day, faults that day, days >= 5, daily counts, error codes
    (1, "CP-K", "depot-2", 10, "2026-10-15", 5, 2, {"2026-10-15": 5, "2026-10-16": 5}, {"HighTemperature": 10}),
    (2, "CP-I", None, 7, "2026-10-12", 5, 1, {"2026-10-12": 5, "2026-10-13": 2}, {"OtherError": 5, "GroundFailure": 2}),
    (3, "CP-A", "depot-1", 6, "2026-10-03", 5, 1, {"2026-10-03": 5, "2026-10-10": 1},
     {"GroundFailure": 4, "OverCurrentFailure": 2}),
    (4, "CP-G", None, 6, "2026-10-23", 5, 1, {"2026-10-22": 1, "2026-10-23": 5}, {"PowerMeterFailure": 6}),
    (5, "CP-H", None, 6, "2026-10-20", 5, 1, {"2026-10-20": 5, "2026-10-21": 1}, {"HighTemperature": 6}),
]


@pytest.fixture
def october(tmp_path):
    october_fixture(tmp_path)
    return tmp_path


def as_tuples(report: pl.DataFrame) -> list[tuple]:
    return [
        (r["rank"], r["station_id"], r["site"], r["faults_in_month"], r["worst_day"].isoformat(),
         r["worst_day_faults"], r["days_at_or_over_threshold"], json.loads(r["daily_counts"]),
         json.loads(r["error_codes"]))
        for r in report.iter_rows(named=True)
    ]


def test_report_matches_the_hand_computed_ranking(october):
    report = fault_report.build_report(october, "2026-10")
    assert report.schema == FAULT_REPORT.schema
    assert as_tuples(report) == EXPECTED
    assert set(report["month"]) == {"2026-10"}
    # error codes are listed most frequent first
    assert list(json.loads(report.filter(pl.col("station_id") == "CP-I")["error_codes"][0])) == ["OtherError", "GroundFailure"]


def test_exactly_five_in_a_day_is_enough_and_four_plus_four_is_not(october):
    ids = set(fault_report.build_report(october, "2026-10")["station_id"])
    assert "CP-A" in ids and "CP-B" not in ids


def test_faults_are_counted_per_utc_day_across_midnight_and_month_ends(october):
    ids = set(fault_report.build_report(october, "2026-10")["station_id"])
    assert not ids & {"CP-C", "CP-E", "CP-F"}
    september = fault_report.build_report(october, "2026-09")
    november = fault_report.build_report(october, "2026-11")
    assert as_tuples(september)[0][1:4] == ("CP-E", None, 5)
    assert list(november["station_id"]) == ["CP-E"] and november["faults_in_month"][0] == 5


def test_a_lower_threshold_admits_more_stations(october):
    ids = set(fault_report.build_report(october, "2026-10", threshold=4)["station_id"])
    assert {"CP-B", "CP-C", "CP-F", "CP-J"} <= ids


def test_written_parquet_and_csv_agree_and_rerunning_is_idempotent(october):
    fault_report.run(october, "2026-10")
    directory = fault_report.report_dir(october, "2026-10")
    parquet = pl.read_parquet(directory / PART_FILE)
    csv_bytes = (directory / "report.csv").read_bytes()
    csv = pl.read_csv(directory / "report.csv", schema={**FAULT_REPORT.schema, "worst_day": pl.String})
    assert as_tuples(parquet) == EXPECTED
    assert csv.with_columns(pl.col("worst_day").str.to_date()).equals(parquet)
    fault_report.run(october, "2026-10")
    assert pl.read_parquet(directory / PART_FILE).equals(parquet)
    assert (directory / "report.csv").read_bytes() == csv_bytes
    assert sorted(p.name for p in directory.iterdir()) == [PART_FILE, "report.csv"]  # no temp files left


def test_rerunning_after_new_silver_replaces_the_month(october):
    fault_report.run(october, "2026-10")
    write_status_changes(october, faults("CP-B", "2026-10-05T10:00:00", 5))  # the day is re-curated: 5 now
    fault_report.run(october, "2026-10")
    rebuilt = fault_report.read_report(october, "2026-10")
    assert "CP-B" in set(rebuilt["station_id"]) and rebuilt.height == len(EXPECTED) + 1
    assert list(rebuilt["rank"]) == list(range(1, rebuilt.height + 1))


def test_a_month_without_qualifying_stations_is_built_empty(october):
    assert fault_report.read_report(october, "2026-08") is None
    report = fault_report.run(october, "2026-08")
    assert report.is_empty()
    built = fault_report.read_report(october, "2026-08")
    assert built is not None and built.is_empty() and built.schema == FAULT_REPORT.schema


def test_no_silver_at_all_gives_an_empty_report(tmp_path):
    assert fault_report.build_report(tmp_path, "2026-10").is_empty()


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-10", "", "2026-10-01", "october"])
def test_a_bad_month_is_a_clear_error(tmp_path, month):
    with pytest.raises(ValueError, match="YYYY-MM"):
        fault_report.build_report(tmp_path, month)


def test_previous_month_is_the_default():
    assert fault_report.previous_month(ts("2026-01-15T00:00:00")) == "2025-12"
    assert fault_report.previous_month(ts("2026-11-01T00:00:00")) == "2026-10"


def test_command_line_builds_the_month(october, capsys):
    assert fault_report.main(["--month", "2026-10", "--data-root", str(october)]) == 0
    assert "5 station(s)" in capsys.readouterr().out
    assert fault_report.read_report(october, "2026-10").height == 5


def test_a_late_notification_counts_on_the_day_it_happened(tmp_path):
    rows = faults("CP-L", "2026-10-03T08:00:00", 5)
    rows[-1] = {**rows[-1], "received_at": ts("2026-10-06T09:00:00"), "lateness_s": 3 * 86_400.0}
    write_status_changes(tmp_path, rows)  # the curated contract: partition of event_ts, 3 October
    (row,) = fault_report.build_report(tmp_path, "2026-10").iter_rows(named=True)
    assert row["station_id"] == "CP-L" and row["worst_day"] == dt.date(2026, 10, 3) and row["worst_day_faults"] == 5


def test_each_row_names_the_faulted_connectors_and_whether_they_are_still_faulted(october):
    write_status_changes(october, [  # replaces these days' partitions: their faults are written again
        # CP-A: connector 2 recovered the next day; connector 1's last word is its fault of the 10th.
        *faults("CP-A", "2026-10-03T08:00:00", 3),
        *faults("CP-A", "2026-10-03T09:00:00", 2, error_code="OverCurrentFailure", connector_id=2),
        status("CP-A", "2026-10-04T08:00:00", "Available", "NoError", connector_id=2),
        # CP-K: available again in November, before the report is built: recovered.
        status("CP-K", "2026-11-02T08:00:00", "Available", "NoError"),
        # CP-I: an Available that happened before its faults (received late) is not its latest status.
        {**status("CP-I", "2026-10-12T04:00:00", "Available", "NoError"), "received_at": ts("2026-10-14T00:00:00")},
        *faults("CP-I", "2026-10-12T05:00:00", 5, error_code="OtherError"),
    ])
    rows = {r["station_id"]: r for r in fault_report.build_report(october, "2026-10").iter_rows(named=True)}
    assert json.loads(rows["CP-A"]["faulted_connectors"]) == {"1": 4, "2": 2}
    assert json.loads(rows["CP-A"]["still_faulted_connectors"]) == [1]
    assert json.loads(rows["CP-K"]["still_faulted_connectors"]) == []
    assert json.loads(rows["CP-I"]["still_faulted_connectors"]) == [1]
    assert json.loads(rows["CP-H"]["faulted_connectors"]) == {"1": 6}
