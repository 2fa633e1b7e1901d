"""silver.security_events from bronze: both versions in one table, critical per the specs' list,
the day by the station's clock, a re-sent notification once, a refused or unreadable one in
quarantine. (tests/test_compliance_16_security_events.py builds it from a live CSMS's bronze.)"""

from __future__ import annotations

import datetime as dt

import polars as pl

from analytics import catalog, curate
from analytics import tables as t
from tests.bronze import Bronze

D1 = dt.date(2026, 11, 2)
TODAY = dt.date(2026, 11, 5)


def run(root, day=D1):
    return curate.run(root, day=day, today=TODAY, echo=lambda *_: None)


def read(table, root, day=D1):
    return pl.read_parquet(t.day_dir(table, root, day) / t.PART_FILE)


def event(b: Bronze, station: str, type_: str, at: str, received: str | None = None, version: str = "1.6",
          message_id: str | None = None, **extra) -> None:
    b.call(station, "SecurityEventNotification", {"type": type_, "timestamp": at, **extra}, received or at,
           station_ts=at, ocpp_version=version, message_id=message_id)


def test_both_versions_security_events_land_in_one_table_with_critical_marked(tmp_path):
    b = Bronze()
    event(b, "CP-16", "TamperDetectionActivated", "2026-11-02T08:00:00Z", techInfo="door opened")
    event(b, "CP-16", "InvalidMessages", "2026-11-02T08:05:00Z")
    event(b, "CP-201", "StartupOfTheDevice", "2026-11-02T09:00:00Z", version="2.0.1")
    event(b, "CP-201", "FailedToAuthenticateAtCsms", "2026-11-02T09:01:00Z", version="2.0.1", techInfo="bad pw")
    b.write(tmp_path)
    counts = run(tmp_path)
    assert counts[D1.isoformat()]["security_events"] == 4
    rows = read(t.SECURITY_EVENTS, tmp_path).select("station_id", "ocpp_version", "type", "tech_info", "critical").rows()
    assert rows == [
        ("CP-16", "1.6", "TamperDetectionActivated", "door opened", True),
        ("CP-16", "1.6", "InvalidMessages", None, False),
        ("CP-201", "2.0.1", "StartupOfTheDevice", None, True),
        ("CP-201", "2.0.1", "FailedToAuthenticateAtCsms", "bad pw", False),
    ]
    frame = read(t.SECURITY_EVENTS, tmp_path)
    assert frame.schema == t.SECURITY_EVENTS.schema
    assert read(t.QUARANTINE, tmp_path).height == 0


def test_a_late_event_lands_in_the_day_it_happened_and_a_resent_one_counts_once(tmp_path):
    b = Bronze()
    # Queued offline on D1, delivered on D1 + 1; then re-sent under the same message id.
    event(b, "CP-16", "ResetOrReboot", "2026-11-02T23:50:00Z", received="2026-11-03T00:10:00Z", message_id="q1")
    event(b, "CP-16", "ResetOrReboot", "2026-11-02T23:50:00Z", received="2026-11-03T00:10:30Z", message_id="q1")
    b.write(tmp_path)
    run(tmp_path, None)  # the days bronze touched
    rows = read(t.SECURITY_EVENTS, tmp_path)
    assert rows.height == 1
    [row] = rows.iter_rows(named=True)
    assert row["station_ts"] == dt.datetime(2026, 11, 2, 23, 50, tzinfo=dt.timezone.utc)
    assert row["received_at"] == dt.datetime(2026, 11, 3, 0, 10, tzinfo=dt.timezone.utc)
    assert read(t.SECURITY_EVENTS, tmp_path, D1 + dt.timedelta(days=1)).height == 0


def test_a_refused_or_unreadable_notification_goes_to_quarantine_not_the_table(tmp_path):
    b = Bronze()
    b.call("CP-16", "SecurityEventNotification", {"type": "x" * 60, "timestamp": "2026-11-02T08:00:00Z"},
           "2026-11-02T08:00:00Z", error=("PropertyConstraintViolation", "type too long"))
    b.call("CP-16", "SecurityEventNotification", {"timestamp": "2026-11-02T08:01:00Z"}, "2026-11-02T08:01:00Z")
    b.write(tmp_path)
    run(tmp_path)
    assert read(t.SECURITY_EVENTS, tmp_path).height == 0
    reasons = read(t.QUARANTINE, tmp_path)["reason"].to_list()
    assert len(reasons) == 2
    assert any(r.startswith("refused by the CSMS (PropertyConstraintViolation)") for r in reasons)
    assert any("does not match the OCPP 1.6 schema" in r for r in reasons)


def test_the_catalog_documents_the_table_and_every_column(tmp_path):
    [entry] = [e for e in catalog.catalog(tmp_path)["tables"] if e["id"] == "silver.security_events"]
    assert entry["partitioning"]["time_column"] == "station_ts"
    assert [c["name"] for c in entry["columns"]] == [c.name for c in t.SECURITY_EVENTS.columns]
    assert all(c["description"] for c in entry["columns"])
    critical = next(c for c in entry["columns"] if c["name"] == "critical")
    assert "TamperDetectionActivated" in critical["description"] and critical["type"] == "BOOLEAN"
