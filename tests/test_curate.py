"""Daily curation, bronze -> silver, on hand-written bronze with hand-computed silver rows."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from analytics import curate, silver
from analytics import tables as t
from analytics import units
from tests.bronze import Bronze, us

D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)
TODAY = dt.date(2026, 11, 5)  # "yesterday" is then D3


def run(root, day=None, **kw):
    return curate.run(root, day=day, today=TODAY, echo=lambda *_: None, **kw)


def read(table, root, day):
    return pl.read_parquet(t.day_dir(table, root, day) / t.PART_FILE)


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- status_changes --------------------------------------------------------------------------


def test_duplicate_status_notifications_are_kept_once_with_their_lateness(tmp_path):
    b = Bronze()
    b.status("CP1", 1, "Faulted", "2026-11-02T10:00:00Z", received="2026-11-02T10:00:02Z", error_code="GroundFailure")
    b.status("CP1", 1, "Faulted", "2026-11-02T10:00:00Z", received="2026-11-02T10:00:30Z", error_code="GroundFailure")
    b.status("CP1", 1, "Available", "2026-11-02T10:05:00Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    rows = read(t.STATUS_CHANGES, tmp_path, D1).select("event_ts", "status", "error_code", "lateness_s", "seq").rows()
    assert rows == [
        (ts("2026-11-02T10:00:00Z"), "Faulted", "GroundFailure", 2.0, 1),  # the first copy
        (ts("2026-11-02T10:05:00Z"), "Available", "NoError", 0.0, 5),
    ]


def test_late_events_land_in_the_day_they_happened_and_only_touched_days_are_rewritten(tmp_path):
    b = Bronze()
    b.status("CP1", 1, "Available", "2026-11-02T08:00:00Z")
    b.status("CP1", 1, "Charging", "2026-11-03T08:00:00Z")
    b.status("CP1", 1, "Available", "2026-11-04T08:00:00Z")
    b.write(tmp_path, "h-1")
    assert sorted(run(tmp_path)) == ["2026-11-02", "2026-11-03", "2026-11-04"]
    d2_file = t.day_dir(t.STATUS_CHANGES, tmp_path, D2) / t.PART_FILE
    d2_mtime = d2_file.stat().st_mtime_ns

    # Queued offline on D1, received on D3.
    b.status("CP1", 2, "Faulted", "2026-11-02T23:59:00Z", received="2026-11-04T09:00:00Z")
    b.write(tmp_path, "h-100", first_seq=100)
    again = run(tmp_path)
    assert sorted(again) == ["2026-11-02", "2026-11-04"]  # the day it happened, the day received (= yesterday)
    assert d2_file.stat().st_mtime_ns == d2_mtime
    late = read(t.STATUS_CHANGES, tmp_path, D1).filter(pl.col("connector_id") == 2)
    assert late.select("status", "lateness_s").rows() == [("Faulted", 33 * 3600 + 60.0)]
    assert read(t.STATUS_CHANGES, tmp_path, D3).height == 1
    # Nothing new: only yesterday is curated.
    assert sorted(run(tmp_path)) == ["2026-11-04"]


def test_rerunning_a_day_writes_the_same_bytes(tmp_path):
    b = Bronze()
    b.status("CP1", 1, "Faulted", "2026-11-02T10:00:00Z")
    b.start("CP1", 7, "2026-11-02T11:00:00Z")
    b.meter("CP1", "2026-11-02T11:30:00Z", [{"value": "1.5", "unit": "kWh"}], tx_id=7)
    b.stop("CP1", 7, "2026-11-02T12:00:00Z", 3000)
    b.write(tmp_path)
    run(tmp_path, D1)
    first = {tb.name: (t.day_dir(tb, tmp_path, D1) / t.PART_FILE).read_bytes() for tb in curate.DAY_TABLES}
    run(tmp_path, D1)
    second = {tb.name: (t.day_dir(tb, tmp_path, D1) / t.PART_FILE).read_bytes() for tb in curate.DAY_TABLES}
    assert first == second
    assert read(t.TRANSACTIONS, tmp_path, D1).height == 1


def test_a_day_with_no_bronze_still_gets_empty_partitions(tmp_path):
    run(tmp_path, D2)
    for table in curate.DAY_TABLES:
        frame = read(table, tmp_path, D2)
        assert frame.height == 0 and frame.schema == table.schema


# --- transactions ----------------------------------------------------------------------------


def test_transactions_with_a_retried_start_a_stop_days_later_and_orphans(tmp_path):
    b = Bronze()
    b.start("CP1", 1, "2026-11-02T22:00:00Z", id_tag="tag-a", meter_start=500)
    b.start("CP1", 1, "2026-11-02T22:00:00Z", received="2026-11-02T22:00:40Z", id_tag="tag-a", meter_start=500)
    b.start("CP2", 1, "2026-11-03T09:00:00Z", meter_start=0)  # same id, other station
    b.write(tmp_path, "h-1")
    b.stop("CP1", 1, "2026-11-04T01:00:00Z", 20_500, reason="EVDisconnected")
    b.stop("CP1", 1, "2026-11-04T01:00:00Z", 20_500, received="2026-11-04T01:00:20Z", reason="EVDisconnected")
    b.stop("CP2", 1, "2026-11-04T10:00:00Z", 7_000)
    b.stop("CP2", -1, "2026-11-04T11:00:00Z", 100)
    b.stop("CP2", -1, "2026-11-04T12:00:00Z", 200)
    b.write(tmp_path, "h-100", first_seq=100)
    run(tmp_path, D3)
    rows = read(t.TRANSACTIONS, tmp_path, D3).rows(named=True)
    assert [(r["station_id"], r["transaction_id"], r["is_orphan"], r["is_duplicate"]) for r in rows] == [
        ("CP1", 1, False, True), ("CP2", 1, False, False), ("CP2", -1, True, False), ("CP2", -1, True, False)]
    cp1 = rows[0]
    assert cp1["connector_id"] == 1 and cp1["meter_start_wh"] == 500 and cp1["meter_stop_wh"] == 20_500
    assert cp1["energy_wh"] == 20_000.0 and cp1["duration_s"] == 27 * 3600.0
    assert cp1["stop_reason"] == "EVDisconnected" and rows[1]["stop_reason"] == "Local"
    assert cp1["id_tag_hash"] == silver.id_tag_hash("TAG-A") and len(cp1["id_tag_hash"]) == 32
    orphan = rows[2]
    assert orphan["start_ts"] is None and orphan["energy_wh"] is None and orphan["meter_stop_wh"] == 100


def test_a_start_older_than_the_lookback_makes_an_orphan(tmp_path):
    b = Bronze()
    b.start("CP1", 3, "2026-11-02T10:00:00Z")
    b.stop("CP1", 3, "2026-11-04T10:00:00Z", 5000)
    b.write(tmp_path)
    run(tmp_path, D3, settings=curate.Settings(transaction_lookback_days=1))
    assert read(t.TRANSACTIONS, tmp_path, D3)["is_orphan"].to_list() == [True]
    run(tmp_path, D3, settings=curate.Settings(transaction_lookback_days=2))
    assert read(t.TRANSACTIONS, tmp_path, D3)["is_orphan"].to_list() == [False]


def test_raw_id_tags_never_reach_silver(tmp_path):
    b = Bronze()
    b.start("CP1", 1, "2026-11-02T10:00:00Z", id_tag="SECRET-TAG-42")
    b.stop("CP1", 1, "2026-11-02T11:00:00Z", 2000, idTag="SECRET-TAG-42")
    b.write(tmp_path)
    run(tmp_path, D1)
    for path in (tmp_path / "silver").rglob("*.parquet"):
        assert "SECRET-TAG-42" not in str(pl.read_parquet(path).rows())


# --- meter_values ----------------------------------------------------------------------------


@pytest.mark.parametrize(("measurand", "unit", "raw", "value", "si_unit"), [
    ("Energy.Active.Import.Register", "kWh", "12.5", 12_500.0, "Wh"),
    ("Energy.Active.Import.Register", None, "12.5", 12.5, "Wh"),
    ("Energy.Reactive.Import.Register", "kvarh", "2", 2000.0, "varh"),
    ("Power.Active.Import", "kW", "7.4", 7400.0, "W"),
    ("Power.Active.Import", None, "7400", 7400.0, "W"),
    ("Power.Reactive.Import", "kvar", "0.5", 500.0, "var"),
    ("Power.Offered", "kVA", "11", 11_000.0, "VA"),
    ("Current.Import", "A", "16", 16.0, "A"),
    ("Voltage", None, "230.1", 230.1, "V"),
    ("Temperature", "K", "300", 300 - 273.15, "Celsius"),
    ("Temperature", "Fahrenheit", "212", 100.0, "Celsius"),
    ("Temperature", "Celcius", "21", 21.0, "Celsius"),
    ("SoC", "Percent", "80", 80.0, "Percent"),
    ("Frequency", "Hertz", "50", 50.0, "Hz"),
    ("Power.Factor", None, "0.98", 0.98, None),
])
def test_si_normalisation(measurand, unit, raw, value, si_unit):
    got_value, got_unit = units.to_si(raw, measurand, unit)
    assert got_value == pytest.approx(value) and got_unit == si_unit


def test_meter_values_in_si_with_phases_deduplicated_and_split_at_midnight(tmp_path):
    b = Bronze()
    samples = [
        {"value": "1.234", "unit": "kWh", "context": "Sample.Periodic"},
        {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
        {"value": "16", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
        {"value": "15.5", "unit": "A", "measurand": "Current.Import", "phase": "L2"},
    ]
    b.meter("CP1", "2026-11-02T10:00:00Z", samples, tx_id=5)
    b.meter("CP1", "2026-11-02T10:00:00Z", samples, tx_id=5, received="2026-11-02T10:01:00Z")  # retried
    # One message whose values straddle midnight: each lands in its own day.
    b.call("CP1", "MeterValues", {"connectorId": 1, "transactionId": 5, "meterValue": [
        {"timestamp": "2026-11-02T23:59:30Z", "sampledValue": [{"value": "2000"}]},
        {"timestamp": "2026-11-03T00:00:30Z", "sampledValue": [{"value": "2100"}]}]},
        "2026-11-03T00:00:31Z", station_ts="2026-11-02T23:59:30Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    run(tmp_path, D2)
    d1 = read(t.METER_VALUES, tmp_path, D1)
    assert d1.select("sampled_at", "measurand", "phase", "unit", "raw_value", "value", "si_unit").rows() == [
        (ts("2026-11-02T10:00:00Z"), "Current.Import", "L1", "A", "16", 16.0, "A"),
        (ts("2026-11-02T10:00:00Z"), "Current.Import", "L2", "A", "15.5", 15.5, "A"),
        (ts("2026-11-02T10:00:00Z"), "Energy.Active.Import.Register", None, "kWh", "1.234", 1234.0, "Wh"),
        (ts("2026-11-02T10:00:00Z"), "Power.Active.Import", None, "kW", "7.2", 7200.0, "W"),
        (ts("2026-11-02T23:59:30Z"), "Energy.Active.Import.Register", None, "Wh", "2000", 2000.0, "Wh"),
    ]
    assert d1["transaction_id"].unique().to_list() == [5] and d1["location"].unique().to_list() == ["Outlet"]
    assert read(t.METER_VALUES, tmp_path, D2)["raw_value"].to_list() == ["2100"]


def test_stop_transaction_data_is_curated_as_meter_values(tmp_path):
    b = Bronze()
    b.start("CP1", 9, "2026-11-02T10:00:00Z", connector=2)
    b.stop("CP1", 9, "2026-11-02T11:00:00Z", 4000, transactionData=[
        {"timestamp": "2026-11-02T10:30:00Z", "sampledValue": [{"value": "3", "unit": "kWh"}]}])
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.METER_VALUES, tmp_path, D1).select("connector_id", "transaction_id", "value").rows() == [(2, 9, 3000.0)]


# --- quarantine ------------------------------------------------------------------------------


def test_what_cannot_be_interpreted_is_quarantined_with_the_reason(tmp_path):
    b = Bronze()
    b.call("CP1", "Malformed", "[2, \"x\", ", "2026-11-02T10:00:00Z", error=("FormationViolation", "not JSON"))
    b.call("CP1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
           "2026-11-02T10:01:00Z", error=("SecurityError", "BootNotification not accepted yet"))
    # Answered, yet not the 1.6 schema (e.g. bronze from a tool of ours that skipped validation).
    b.call("CP1", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
           "2026-11-02T10:02:00Z")
    b.meter("CP1", "2026-11-02T10:03:00Z", [{"value": "abc"}, {"value": "5"}])
    b.meter("CP1", "2026-11-02T10:04:00Z", [{"value": "5", "unit": "A"}])  # amperes as energy
    b.session("CP1", "Disconnected", "{not json", "2026-11-02T10:05:00Z")
    b.session("CP1", "Teleported", {}, "2026-11-02T10:06:00Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    reasons = read(t.QUARANTINE, tmp_path, D1).select("action", "reason").rows()
    assert [a for a, _ in reasons] == ["Malformed", "StatusNotification", "StatusNotification", "MeterValues",
                                       "MeterValues", "Disconnected", "Teleported"]
    r = [reason for _, reason in reasons]
    assert r[0].startswith("malformed OCPP-J frame (FormationViolation)")
    assert r[1] == "refused by the CSMS (SecurityError): BootNotification not accepted yet"
    assert "does not match the OCPP 1.6 schema" in r[2] and "connectorId" in r[2]
    assert r[3] == "MeterValues: value 'abc' of Energy.Active.Import.Register is not a number"
    assert r[4] == "MeterValues: unit 'A' does not fit measurand Energy.Active.Import.Register"
    assert r[5].startswith("Disconnected event payload unreadable")
    assert r[6] == "unknown SESSION event 'Teleported'"
    # The good value of the half-bad message is still curated.
    assert read(t.METER_VALUES, tmp_path, D1)["raw_value"].to_list() == ["5"]
    assert read(t.STATUS_CHANGES, tmp_path, D1).height == 0


def test_security_profile_events_are_known_session_events_not_quarantined(tmp_path):
    b = Bronze()
    change = {"presented_profile": 1, "pending_profile": 2, "enforced_profile": 1}
    b.session("CP1", "SecurityProfileFallback", change, "2026-11-02T10:00:00Z")
    b.session("CP1", "SecurityProfileConfirmed", {**change, "presented_profile": 2}, "2026-11-02T10:01:00Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.QUARANTINE, tmp_path, D1).height == 0


def test_quarantine_rows_keep_the_bronze_payload(tmp_path):
    b = Bronze()
    b.call("CP1", "Malformed", "garbage", "2026-11-02T10:00:00Z", error=("ProtocolError", "bad"))
    b.write(tmp_path)
    run(tmp_path, D1)
    q = read(t.QUARANTINE, tmp_path, D1)
    assert q.select("source", "seq", "station_id", "payload").rows() == [("station-host-0", 1, "CP1", "garbage")]


# --- connectivity and stations ---------------------------------------------------------------


def test_connects_disconnects_boots_and_heartbeat_gaps(tmp_path):
    b = Bronze()
    b.session("CP1", "Connected", {"connection_id": "c1", "connected_at_us": 0}, "2026-11-02T23:00:00Z", "c1")
    b.call("CP1", "Heartbeat", {}, "2026-11-02T23:10:00Z", result={"currentTime": "x"})
    b.call("CP1", "Heartbeat", {}, "2026-11-03T00:50:00Z", result={"currentTime": "x"})  # 100 min silence
    b.call("CP1", "Heartbeat", {}, "2026-11-03T01:05:00Z", result={"currentTime": "x"})
    b.call("CP1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.2"},
           "2026-11-03T01:06:00Z", result={"status": "Accepted", "currentTime": "x", "interval": 300})
    b.session("CP1", "Disconnected", {"connection_id": "c1", "close_code": 1006}, "2026-11-03T02:00:00Z", "c1")
    b.write(tmp_path)
    run(tmp_path, D2)
    rows = read(t.CONNECTIVITY, tmp_path, D2).select("event_ts", "kind", "gap_s", "close_code", "detail").rows()
    assert rows == [
        (ts("2026-11-03T00:50:00Z"), "heartbeat_gap", 6000.0, None, None),
        (ts("2026-11-03T01:06:00Z"), "boot", None, None, "firmware=1.2 status=Accepted"),
        (ts("2026-11-03T02:00:00Z"), "disconnect", None, 1006, "c1"),
    ]
    run(tmp_path, D1)
    assert read(t.CONNECTIVITY, tmp_path, D1).select("kind", "detail").rows() == [("connect", "c1")]


def test_stations_table_keeps_the_latest_registration_and_boot(tmp_path):
    b = Bronze()
    reg = {"password_hash": "", "site": "depot-1", "metadata": {"region": "north"}, "boot_status": "Accepted",
           "registered_at_us": us("2026-11-02T08:00:00Z")}
    b.session("CP1", "StationRegistered", reg, "2026-11-02T08:00:00Z")
    b.session("CP2", "StationRegistered", {**reg, "site": "depot-2"}, "2026-11-02T08:00:00Z")
    b.call("CP1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1"},
           "2026-11-02T09:00:00Z", result={"status": "Accepted"})
    b.write(tmp_path, "h-1")
    run(tmp_path, D1)
    b.session("CP1", "StationRegistered", {**reg, "site": "depot-9", "registered_at_us": us("2026-11-03T08:00:00Z")},
              "2026-11-03T08:00:00Z")
    b.call("CP1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "2"},
           "2026-11-03T09:00:00Z", result={"status": "Accepted"})
    b.session("CP2", "StationDeleted", {}, "2026-11-03T10:00:00Z")
    b.write(tmp_path, "h-100", first_seq=100)
    run(tmp_path, D2)
    run(tmp_path, D2)  # folding the same bronze again changes nothing
    rows = pl.read_parquet(t.STATIONS.path(tmp_path) / t.PART_FILE).select(
        "station_id", "site", "region", "firmware_version", "deleted").rows()
    assert rows == [("CP1", "depot-9", "north", "2", False), ("CP2", "depot-2", "north", None, True)]


def test_state_file_records_the_receive_days_of_each_event_day(tmp_path):
    b = Bronze()
    b.status("CP1", 1, "Available", "2026-11-02T08:00:00Z", received="2026-11-03T08:00:00Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    state = json.loads(curate.State.path(tmp_path).read_text())
    assert state["event_days"]["2026-11-02"] == ["2026-11-03"]
    assert state["pending"] == ["2026-11-03"]  # touched (received then), not curated yet


# --- through Ray -----------------------------------------------------------------------------


def test_several_days_are_curated_as_ray_tasks(tmp_path):
    ray = pytest.importorskip("ray")
    b = Bronze()
    for day in ("2026-11-02", "2026-11-03"):
        b.status("CP1", 1, "Faulted", f"{day}T08:00:00Z")
    b.write(tmp_path)
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        lines = []
        result = curate.run(tmp_path, today=D2 + dt.timedelta(days=1), use_ray=True, echo=lines.append)
    finally:
        if started:
            ray.shutdown()
    assert sorted(result) == ["2026-11-02", "2026-11-03"]
    assert sum(1 for line in lines if line.startswith("[")) == 2  # progress per day
    assert read(t.STATUS_CHANGES, tmp_path, D1).height == 1 and read(t.STATUS_CHANGES, tmp_path, D2).height == 1


def test_the_command_line_curates_the_day_asked_for(tmp_path, capsys):
    b = Bronze()
    b.status("CP1", 1, "Faulted", "2026-11-02T08:00:00Z")
    b.write(tmp_path)
    assert curate.main(["--day", "2026-11-02", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[1/1] 2026-11-02: status_changes=1" in out and "curated 1 days" in out
    assert read(t.STATUS_CHANGES, tmp_path, D1).height == 1


def test_silver_does_not_depend_on_how_bronze_was_split_into_files(tmp_path):
    def history() -> Bronze:
        b = Bronze()
        b.status("CP1", 1, "Faulted", "2026-11-02T08:00:00Z")
        b.start("CP1", 4, "2026-11-02T09:00:00Z")
        b.meter("CP1", "2026-11-02T09:10:00Z", [{"value": "1", "unit": "kWh"}], tx_id=4)
        b.meter("CP1", "2026-11-02T09:10:00Z", [{"value": "1", "unit": "kWh"}], tx_id=4, received="2026-11-02T09:11:00Z")
        b.stop("CP1", 4, "2026-11-02T10:00:00Z", 3000)
        b.status("CP1", 1, "Available", "2026-11-02T10:01:00Z", received="2026-11-03T01:00:00Z")
        return b

    one, split = tmp_path / "one", tmp_path / "split"
    history().write(one)
    b = history()
    events = b.events
    b.events = events[6:]
    b.write(split, "late-half", first_seq=7)  # the later segment landed first
    b.events = events[:6]
    b.write(split, "early-half", first_seq=1)
    for root in (one, split):
        run(root, D1)
    for table in curate.DAY_TABLES:
        assert read(table, one, D1).equals(read(table, split, D1)), table.name
    assert read(t.STATUS_CHANGES, one, D1).height == 2 and read(t.METER_VALUES, one, D1).height == 1


def test_curating_in_station_groups_writes_the_same_bytes(tmp_path):
    b = Bronze()
    for i in range(6):
        station = f"CP{i}"
        b.status(station, 1, "Faulted", "2026-11-02T08:00:00Z")
        b.status(station, 1, "Faulted", "2026-11-02T08:00:00Z", received="2026-11-02T08:01:00Z")
        b.start(station, 1, "2026-11-02T09:00:00Z")
        b.meter(station, "2026-11-02T09:10:00Z", [{"value": "1", "unit": "kWh"}, {"value": "x"}], tx_id=1)
        b.stop(station, 1, "2026-11-02T10:00:00Z", 3000)
        b.stop(station, -1, "2026-11-02T10:00:00Z", 10 + i)
        b.stop(station, -1, "2026-11-02T10:00:00Z", 20 + i)
        b.call(station, "Heartbeat", {}, "2026-11-02T12:00:00Z", result={"currentTime": "x"})
    b.write(tmp_path)
    run(tmp_path, D1)
    whole = {tb.name: (t.day_dir(tb, tmp_path, D1) / t.PART_FILE).read_bytes() for tb in curate.DAY_TABLES}
    run(tmp_path, D1, settings=curate.Settings(rows_per_group=10))
    grouped = {tb.name: (t.day_dir(tb, tmp_path, D1) / t.PART_FILE).read_bytes() for tb in curate.DAY_TABLES}
    assert grouped == whole
    assert read(t.TRANSACTIONS, tmp_path, D1).height == 18 and read(t.QUARANTINE, tmp_path, D1).height == 6
