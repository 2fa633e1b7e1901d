"""Curation of a mixed fleet: 2.0.1 bronze (analytics/silver/staging_201.py) beside 1.6 bronze in one
schema, and the monthly fault report counting both versions' Faulted statuses."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from analytics import curate, fault_report
from analytics import tables as t
from analytics.silver.identity import id_tag_hash
from tests.bronze import Bronze

D1 = dt.date(2026, 11, 2)
TODAY = dt.date(2026, 11, 5)
V201 = {"ocpp_version": "2.0.1"}


def run(root, day=None):
    return curate.run(root, day=day, today=TODAY, echo=lambda *_: None)


def read(table, root, day=D1):
    return pl.read_parquet(t.day_dir(table, root, day) / t.PART_FILE)


def status_201(b: Bronze, station: str, evse: int, connector: int, status: str, at: str) -> None:
    b.call(station, "StatusNotification", {"timestamp": at, "connectorStatus": status, "evseId": evse,
                                           "connectorId": connector}, at, station_ts=at, **V201)


def mixed_day(root) -> None:
    b = Bronze()
    b.call("CP-201", "BootNotification", {"chargingStation": {"model": "M2", "vendorName": "Acme",
                                                              "firmwareVersion": "2.0"}, "reason": "PowerUp"},
           "2026-11-02T07:00:00Z", result={"currentTime": "2026-11-02T07:00:00Z", "interval": 300,
                                           "status": "Accepted"}, **V201)
    for k in range(5):
        status_201(b, "CP-201", 2, 1, "Faulted", f"2026-11-02T08:0{k}:00Z")
        b.status("CP-16", 1, "Faulted", f"2026-11-02T09:0{k}:00Z", error_code="GroundFailure")
    status_201(b, "CP-201", 1, 1, "Available", "2026-11-02T10:00:00Z")
    b.call("CP-201", "Authorize", {"idToken": {"idToken": "driver-9", "type": "ISO14443"}}, "2026-11-02T11:00:00Z",
           result={"idTokenInfo": {"status": "Accepted"}}, **V201)
    b.call("CP-201", "TransactionEvent", {
        "eventType": "Started", "timestamp": "2026-11-02T11:01:00Z", "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"}}, "2026-11-02T11:01:00Z", station_ts="2026-11-02T11:01:00Z",
        **V201)
    b.write(root)


def test_status_changes_hold_both_versions_with_the_evse_of_2_0_1(tmp_path):
    mixed_day(tmp_path)
    run(tmp_path, D1)
    rows = read(t.STATUS_CHANGES, tmp_path).filter(pl.col("station_id") == "CP-201")
    assert rows.select("evse_id", "connector_id", "status", "error_code").rows() == \
        [(1, 1, "Available", "NotReported")] + [(2, 1, "Faulted", "NotReported")] * 5
    v16 = read(t.STATUS_CHANGES, tmp_path).filter(pl.col("station_id") == "CP-16")
    assert v16.height == 5 and v16["evse_id"].null_count() == 5


def test_boots_and_authorizations_of_2_0_1_are_curated_and_nothing_is_quarantined(tmp_path):
    mixed_day(tmp_path)
    run(tmp_path, D1)
    stations = pl.read_parquet(t.STATIONS.path(tmp_path) / t.PART_FILE).filter(pl.col("station_id") == "CP-201")
    assert stations.select("vendor", "model", "firmware_version").rows() == [("Acme", "M2", "2.0")]
    auth = read(t.AUTHORIZATIONS, tmp_path).filter(pl.col("station_id") == "CP-201")
    assert auth.select("action", "id_tag_hash", "status").rows() == [("Authorize", id_tag_hash("DRIVER-9"), "Accepted")]
    assert read(t.QUARANTINE, tmp_path).height == 0  # TransactionEvent: in bronze, not staged yet


def test_the_fault_report_counts_faults_of_both_versions(tmp_path):
    mixed_day(tmp_path)
    run(tmp_path, D1)
    report = fault_report.build_report(tmp_path, "2026-11")
    assert sorted(report["station_id"].to_list()) == ["CP-16", "CP-201"]
    codes = {r["station_id"]: json.loads(r["error_codes"]) for r in report.iter_rows(named=True)}
    assert codes == {"CP-16": {"GroundFailure": 5}, "CP-201": {"NotReported": 5}}
