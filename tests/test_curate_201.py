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


# --- transactions -------------------------------------------------------------------------------------


def tx_event(b: Bronze, event_type: str, seq_no: int, tx_id: str, at: str, *, wh: float | None = None,
             context: str | None = None, token: str | None = None, result: dict | None = None, **extra) -> None:
    payload: dict = {"eventType": event_type, "timestamp": at, "triggerReason": "Authorized", "seqNo": seq_no,
                     "transactionInfo": {"transactionId": tx_id, **extra.pop("info", {})},
                     "evse": {"id": 2, "connectorId": 1}, **extra}
    if wh is not None:
        sample: dict = {"value": wh, "unitOfMeasure": {"unit": "kWh"}}
        if context:
            sample["context"] = context
        payload["meterValue"] = [{"timestamp": at, "sampledValue": [sample]}]
    if token:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    b.call("CP-201", "TransactionEvent", payload, at, station_ts=at, result=result or {}, **V201)


def test_2_0_1_transactions_with_energy_seq_gaps_and_orphans(tmp_path):
    b = Bronze()
    # Started the day before, one Updated lost (seqNo 2), Ended on D1; a retried Started.
    tx_event(b, "Started", 0, "tx-a", "2026-11-01T22:00:00Z", wh=1.5, context="Transaction.Begin", token="drv-1",
             result={"idTokenInfo": {"status": "Accepted"}})
    tx_event(b, "Started", 0, "tx-a", "2026-11-01T22:00:00Z", wh=1.5, context="Transaction.Begin", token="drv-1",
             result={"idTokenInfo": {"status": "Accepted"}})
    tx_event(b, "Updated", 1, "tx-a", "2026-11-01T23:00:00Z", wh=5.0)
    tx_event(b, "Ended", 3, "tx-a", "2026-11-02T01:00:00Z", wh=12.25, context="Transaction.End",
             info={"stoppedReason": "EVDisconnected"})
    # An Ended whose Started never came: an orphan, every earlier number missing.
    tx_event(b, "Ended", 2, "tx-b", "2026-11-02T03:00:00Z", wh=3.0)
    b.write(tmp_path)
    run(tmp_path, D1)
    rows = read(t.TRANSACTIONS, tmp_path).sort("stop_ts")
    got = rows.select("station_transaction_id", "transaction_id", "evse_id", "meter_start_wh", "meter_stop_wh",
                      "energy_wh", "stop_reason", "is_orphan", "is_duplicate", "seq_gaps").rows()
    assert got == [
        ("tx-a", None, 2, 1500, 12250, 10750.0, "EVDisconnected", False, True, [2]),
        ("tx-b", None, 2, None, 3000, None, "Local", True, False, [0, 1]),
    ]
    run(tmp_path, dt.date(2026, 11, 1))  # the start's day: its authorization is there
    auth = read(t.AUTHORIZATIONS, tmp_path, dt.date(2026, 11, 1))
    assert auth.select("action", "id_tag_hash", "status").rows() == [("TransactionEvent", id_tag_hash("DRV-1"), "Accepted")]
    assert read(t.QUARANTINE, tmp_path).height == 0


def test_1_6_transactions_keep_their_columns_with_the_2_0_1_ones_null(tmp_path):
    b = Bronze()
    b.start("CP-16", 7, "2026-11-02T11:00:00Z")
    b.stop("CP-16", 7, "2026-11-02T12:00:00Z", 3000)
    b.write(tmp_path)
    run(tmp_path, D1)
    [row] = read(t.TRANSACTIONS, tmp_path).rows(named=True)
    assert (row["transaction_id"], row["energy_wh"], row["station_transaction_id"], row["seq_gaps"]) == (7, 2000.0, None, None)


def test_request_start_transactions_the_live_session_logs_are_authorizations_of_2_0_1(tmp_path):
    """Bronze from the real 2.0.1 StationSession: a RequestStartTransaction answered Accepted,
    one answered with a CALLERROR; the authorizations table holds both, as for 1.6's RemoteStart."""
    from actors import lake
    from tests.test_csms_side_201 import TOKEN, command, send
    from tests.test_ocpp201_session import DAY, Station201

    station = Station201()
    command(station, "RequestStartTransaction", {"idToken": TOKEN, "remoteStartId": 1, "evseId": 1},
            {"status": "Accepted"})
    message_id = send(station, "RequestStartTransaction", {"idToken": TOKEN, "remoteStartId": 2})
    station.send(json.dumps([4, message_id, "NotSupported", "no", {}]))
    lake.write_bronze(tmp_path, list(enumerate(station.log, 1)), "station-host-0", "live")
    day = DAY.date()
    run(tmp_path, day)
    assert read(t.QUARANTINE, tmp_path, day).is_empty()
    rows = read(t.AUTHORIZATIONS, tmp_path, day).select("action", "id_tag_hash", "status", "accepted").rows()
    assert rows == [("RequestStartTransaction", id_tag_hash(TOKEN["idToken"]), "Accepted", True),
                    ("RequestStartTransaction", id_tag_hash(TOKEN["idToken"]), None, False)]
