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


# --- meter values (J01, J02) -----------------------------------------------------------------------


SIGNED = {"signedMeterData": "AAEC", "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
          "publicKey": "BBB"}


def test_2_0_1_sampled_values_land_in_meter_values_in_si_with_their_evse_and_transaction(tmp_path):
    b = Bronze()
    # J02: a transaction's readings come in its events; the Started names the EVSE, an Updated need not.
    tx_event(b, "Started", 0, "tx-m", "2026-11-02T10:00:00Z", wh=1.5, context="Transaction.Begin", token="drv-1",
             result={"idTokenInfo": {"status": "Accepted"}})
    b.call("CP-201", "TransactionEvent", {
        "eventType": "Updated", "timestamp": "2026-11-02T10:15:00Z", "triggerReason": "MeterValuePeriodic",
        "seqNo": 1, "transactionInfo": {"transactionId": "tx-m"},
        "meterValue": [{"timestamp": "2026-11-02T10:15:00Z", "sampledValue": [
            # 7.25 kWh as 725 x 10^1 Wh: unit and multiplier both apply.
            {"value": 725, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "Wh", "multiplier": 1},
             "signedMeterValue": SIGNED},
            {"value": 16.5, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
            {"value": 112, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW", "multiplier": -1}},
            {"value": 3.2, "measurand": "Energy.Apparent.Import", "unitOfMeasure": {"unit": "kVAh"}},
            {"value": 50, "measurand": "Frequency", "unitOfMeasure": {"unit": "Hz"}},
        ]}]}, "2026-11-02T10:15:01Z", station_ts="2026-11-02T10:15:00Z", **V201)
    # J01: outside a transaction, the station's main meter (EVSE 0), no unitOfMeasure (Wh).
    b.call("CP-201", "MeterValues", {"evseId": 0, "meterValue": [
        {"timestamp": "2026-11-02T12:00:00Z", "sampledValue": [{"value": 98765.5, "context": "Sample.Clock"}]}]},
        "2026-11-02T12:00:02Z", **V201)
    b.write(tmp_path)
    run(tmp_path, D1)
    rows = read(t.METER_VALUES, tmp_path).sort("sampled_at", "measurand", "evse_id")
    got = rows.select("evse_id", "connector_id", "station_transaction_id", "transaction_id", "context", "measurand",
                      "phase", "unit", "unit_multiplier", "raw_value", "value", "si_unit").rows()
    assert got == [
        (2, 1, "tx-m", None, "Transaction.Begin", "Energy.Active.Import.Register", None, "kWh", None, "1.5", 1500.0,
         "Wh"),
        (2, 1, "tx-m", None, None, "Current.Import", "L1", "A", None, "16.5", 16.5, "A"),
        (2, 1, "tx-m", None, "Sample.Periodic", "Energy.Active.Import.Register", None, "Wh", 1, "725", 7250.0, "Wh"),
        (2, 1, "tx-m", None, None, "Energy.Apparent.Import", None, "kVAh", None, "3.2", 3200.0, "VAh"),
        (2, 1, "tx-m", None, None, "Frequency", None, "Hz", None, "50", 50.0, "Hz"),
        (2, 1, "tx-m", None, None, "Power.Active.Import", None, "kW", -1, "112", 11200.0, "W"),
        (0, 0, None, None, "Sample.Clock", "Energy.Active.Import.Register", None, "Wh", None, "98765.5", 98765.5,
         "Wh"),
    ]
    signed = rows.filter(pl.col("signed_meter_value").is_not_null())
    assert signed["raw_value"].to_list() == ["725"] and json.loads(signed["signed_meter_value"][0]) == SIGNED
    assert read(t.QUARANTINE, tmp_path).height == 0


def test_2_0_1_energy_in_meter_values_agrees_with_the_transaction_in_wh(tmp_path):
    b = Bronze()
    tx_event(b, "Started", 0, "tx-e", "2026-11-02T10:00:00Z", wh=1.5, context="Transaction.Begin")
    tx_event(b, "Ended", 1, "tx-e", "2026-11-02T11:00:00Z", wh=12.25, context="Transaction.End")
    b.write(tmp_path)
    run(tmp_path, D1)
    energy = read(t.METER_VALUES, tmp_path).sort("sampled_at")["value"].to_list()
    [tx] = read(t.TRANSACTIONS, tmp_path).rows(named=True)
    assert energy == [1500.0, 12250.0] and tx["energy_wh"] == energy[1] - energy[0] == 10750.0


def test_a_retried_2_0_1_event_gives_its_samples_once_and_a_unit_that_does_not_fit_is_quarantined(tmp_path):
    b = Bronze()
    for _ in range(2):  # retried with a new message id (E13): the same samples
        tx_event(b, "Updated", 1, "tx-r", "2026-11-02T10:00:00Z", wh=2.0)
    b.call("CP-201", "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": "2026-11-02T10:05:00Z", "sampledValue": [
        {"value": 5, "unitOfMeasure": {"unit": "A"}}, {"value": 6}]}]}, "2026-11-02T10:05:00Z", **V201)
    b.write(tmp_path)
    run(tmp_path, D1)
    rows = read(t.METER_VALUES, tmp_path).sort("sampled_at")
    # The Updated's start never came: its EVSE is the one it names, its connector too.
    assert rows.select("evse_id", "connector_id", "station_transaction_id", "value").rows() == [
        (2, 1, "tx-r", 2000.0), (1, 0, None, 6.0)]
    [(action, reason)] = read(t.QUARANTINE, tmp_path).select("action", "reason").rows()
    assert (action, reason) == (
        "MeterValues", "MeterValues: unit 'A' does not fit measurand Energy.Active.Import.Register")


def test_1_6_meter_values_have_the_2_0_1_columns_null(tmp_path):
    b = Bronze()
    b.meter("CP-16", "2026-11-02T10:00:00Z", [{"value": "1.5", "unit": "kWh"}], tx_id=5)
    b.write(tmp_path)
    run(tmp_path, D1)
    [row] = read(t.METER_VALUES, tmp_path).rows(named=True)
    assert (row["transaction_id"], row["value"], row["evse_id"], row["station_transaction_id"],
            row["unit_multiplier"], row["signed_meter_value"]) == (5, 1500.0, None, None, None, None)


# --- NotifyEvent: silver.component_events, and what the fault report counts ---------------------------


def notify_event(b: Bronze, station: str, at: str, *events: dict, received: str | None = None) -> None:
    b.call(station, "NotifyEvent", {"generatedAt": at, "seqNo": 0, "eventData": list(events)}, received or at,
           station_ts=at, **V201)


def problem(event_id: int, at: str, *, cleared: bool | None = None, evse: int = 1, **extra) -> dict:
    data = {"eventId": event_id, "timestamp": at, "trigger": "Alerting", "actualValue": "true",
            "eventNotificationType": "HardWiredNotification", "techCode": "E-42", "techInfo": "contactor welded",
            "component": {"name": "Connector", "evse": {"id": evse, "connectorId": 1}},
            "variable": {"name": "Problem"}, **extra}
    if cleared is not None:
        data["cleared"] = cleared
    return data


def test_notify_events_are_curated_per_event_with_component_variable_and_problem(tmp_path):
    b = Bronze()
    notify_event(b, "CP-201", "2026-11-02T08:00:01Z", problem(7, "2026-11-02T08:00:00Z"), {
        "eventId": 8, "timestamp": "2026-11-02T08:00:00Z", "trigger": "Delta", "actualValue": "71.5",
        "eventNotificationType": "PreconfiguredMonitor", "cause": 7, "variableMonitoringId": 3,
        "transactionId": "tx-1", "component": {"name": "PowerContactor", "instance": "main"},
        "variable": {"name": "Temperature", "instance": "core"}})
    notify_event(b, "CP-201", "2026-11-02T08:00:01Z", problem(7, "2026-11-02T08:00:00Z"),
                 received="2026-11-02T08:00:30Z")  # sent again under a new message id: one event
    notify_event(b, "CP-201", "2026-11-02T09:00:00Z", problem(9, "2026-11-02T09:00:00Z", cleared=True,
                                                              actualValue="false"))
    # Offline: it happened on D1 and arrived the next day.
    notify_event(b, "CP-201", "2026-11-02T23:00:00Z", problem(10, "2026-11-02T23:00:00Z"),
                 received="2026-11-03T06:00:00Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    rows = read(t.COMPONENT_EVENTS, tmp_path)
    assert rows.select("event_id", "component", "component_instance", "evse_id", "connector_id", "variable",
                       "variable_instance", "trigger", "actual_value", "event_notification_type", "cleared",
                       "problem", "tech_code", "cause", "station_transaction_id", "variable_monitoring_id").rows() == [
        (7, "Connector", None, 1, 1, "Problem", None, "Alerting", "true", "HardWiredNotification", False, True,
         "E-42", None, None, None),
        (8, "PowerContactor", "main", None, None, "Temperature", "core", "Delta", "71.5", "PreconfiguredMonitor",
         False, False, None, 7, "tx-1", 3),
        (9, "Connector", None, 1, 1, "Problem", None, "Alerting", "false", "HardWiredNotification", True, False,
         "E-42", None, None, None),
        (10, "Connector", None, 1, 1, "Problem", None, "Alerting", "true", "HardWiredNotification", False, True,
         "E-42", None, None, None),
    ]
    assert rows["tech_info"][0] == "contactor welded" and rows["station_id"].unique().to_list() == ["CP-201"]
    assert read(t.QUARANTINE, tmp_path).height == 0


def test_a_notify_event_off_the_schema_is_quarantined(tmp_path):
    b = Bronze()
    notify_event(b, "CP-201", "2026-11-02T08:00:00Z", {"eventId": "seven"})
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.COMPONENT_EVENTS, tmp_path).height == 0
    [reason] = read(t.QUARANTINE, tmp_path)["reason"].to_list()
    assert "NotifyEvent payload does not match the OCPP 2.0.1 schema" in reason


def test_problem_events_are_not_faults_in_the_report_faulted_connector_statuses_are(tmp_path):
    b = Bronze()
    for k in range(6):  # six problems in a day, the connector never reported Faulted
        notify_event(b, "CP-PROBLEMS", f"2026-11-02T08:0{k}:00Z", problem(k, f"2026-11-02T08:0{k}:00Z"))
    for k in range(5):  # a problem that took the connector out of service: its Faulted status counts
        notify_event(b, "CP-FAULTED", f"2026-11-02T09:0{k}:00Z", problem(k, f"2026-11-02T09:0{k}:00Z"))
        status_201(b, "CP-FAULTED", 1, 1, "Faulted", f"2026-11-02T09:0{k}:00Z")
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.COMPONENT_EVENTS, tmp_path).group_by("station_id").len().sort("station_id").rows() == [
        ("CP-FAULTED", 5), ("CP-PROBLEMS", 6)]
    report = fault_report.build_report(tmp_path, "2026-11")
    assert report.select("station_id", "faults_in_month").rows() == [("CP-FAULTED", 5)]


# --- authorizations: the token of a TransactionEvent Updated (E02, E05) -------------------------------


def test_a_token_that_arrives_in_an_updated_event_is_an_authorization_with_its_decision(tmp_path):
    b = Bronze()
    # E02: the cable first; the Started carries no token, nothing was asked.
    tx_event(b, "Started", 0, "tx-p", "2026-11-02T10:00:00Z", wh=1.0, context="Transaction.Begin")
    # The driver's token comes in an Updated, decided by the external authorizer from its cache.
    b.call("CP-201", "TransactionEvent", {
        "eventType": "Updated", "timestamp": "2026-11-02T10:01:00Z", "triggerReason": "Authorized", "seqNo": 1,
        "transactionInfo": {"transactionId": "tx-p"},  # no EVSE named: the start's connector
        "idToken": {"idToken": "drv-7", "type": "ISO14443"}}, "2026-11-02T10:01:00Z",
        station_ts="2026-11-02T10:01:00Z", result={"idTokenInfo": {"status": "Accepted"}}, message_id="upd-1",
        **V201)
    b.decided("CP-201", "upd-1", "2026-11-02T10:01:00Z", "cache", downstream="unavailable")
    # E13: retried under a new message id: the same authorization, once.
    b.call("CP-201", "TransactionEvent", {
        "eventType": "Updated", "timestamp": "2026-11-02T10:01:00Z", "triggerReason": "Authorized", "seqNo": 1,
        "transactionInfo": {"transactionId": "tx-p"},
        "idToken": {"idToken": "drv-7", "type": "ISO14443"}}, "2026-11-02T10:01:20Z",
        station_ts="2026-11-02T10:01:00Z", result={"idTokenInfo": {"status": "Accepted"}}, **V201)
    # Another transaction: the token is refused.
    tx_event(b, "Updated", 1, "tx-q", "2026-11-02T11:00:00Z", token="stolen",
             result={"idTokenInfo": {"status": "Blocked"}})
    # An Updated without a token and an Ended with one (E07: it stops, it starts nothing) are no rows.
    tx_event(b, "Updated", 2, "tx-p", "2026-11-02T10:30:00Z", wh=4.0)
    tx_event(b, "Ended", 3, "tx-p", "2026-11-02T11:30:00Z", wh=9.0, token="drv-7",
             result={"idTokenInfo": {"status": "Accepted"}})
    b.write(tmp_path)
    run(tmp_path, D1)
    auth = read(t.AUTHORIZATIONS, tmp_path)
    assert auth.select("action", "event_ts", "connector_id", "id_tag_hash", "status", "accepted", "authorization",
                       "downstream", "transaction_id", "station_transaction_id").rows() == [
        ("TransactionEvent", dt.datetime(2026, 11, 2, 10, 1, tzinfo=dt.timezone.utc), 1, id_tag_hash("DRV-7"),
         "Accepted", True, "cache", "unavailable", None, "tx-p"),
        ("TransactionEvent", dt.datetime(2026, 11, 2, 11, 0, tzinfo=dt.timezone.utc), 1, id_tag_hash("STOLEN"),
         "Blocked", False, None, None, None, "tx-q"),
    ]
    assert read(t.QUARANTINE, tmp_path).height == 0


def test_maintenance_features_count_2_0_1_refusals_and_meter_cadence(tmp_path):
    from analytics import maintenance

    b = Bronze()
    tx_event(b, "Started", 0, "tx-c", "2026-11-02T10:00:00Z", wh=0.0, context="Transaction.Begin", token="drv-ok",
             result={"idTokenInfo": {"status": "Accepted"}})
    for k in range(1, 6):  # a reading every 10 minutes, then one 30 minutes late: an uneven cadence
        minute = 10 * k if k < 5 else 70
        tx_event(b, "Updated", k, "tx-c", f"2026-11-02T{10 + minute // 60:02d}:{minute % 60:02d}:00Z", wh=k * 1.0)
    tx_event(b, "Updated", 1, "tx-x", "2026-11-02T12:00:00Z", token="stolen",
             result={"idTokenInfo": {"status": "Blocked"}})
    b.write(tmp_path)
    run(tmp_path, D1)
    features = maintenance.station_features(str(tmp_path), "2026-11-02", "2026-11-02", 0, 1)
    [row] = features.filter(pl.col("station_id") == "CP-201").rows(named=True)
    assert row["failed_starts"] == 1
    assert row["meter_cadence_cv"] is not None and row["meter_cadence_cv"] > 0


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
