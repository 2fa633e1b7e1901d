"""Retransmissions in silver: a station and its message id name a CALL, whatever its timestamp (issue 16 item 2)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from analytics import curate, fault_report
from analytics import tables as t
from analytics.tables import RETRANSMISSION_WINDOW_S
from tests.bronze import Bronze

D1, D2 = dt.date(2026, 10, 5), dt.date(2026, 10, 6)


def run(root, day):
    return curate.run(root, day=day, today=dt.date(2026, 11, 1), echo=lambda *_: None)


def read(table, root, day):
    return pl.read_parquet(t.day_dir(table, root, day) / t.PART_FILE)


def clockless_fault(b: Bronze, station: str, received: str, message_id: str) -> None:
    """A StatusNotification Faulted without a timestamp (optional in OCPP 1.6 section 6.47)."""
    b.call(station, "StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"},
           received, message_id=message_id)


def reconnect(b: Bronze, station: str, lost: str, back: str) -> None:
    b.session(station, "Disconnected", {"connection_id": "c1", "close_code": 1006}, lost, "c1")
    b.session(station, "Connected", {"connection_id": "c2", "connected_at_us": 0}, back, "c2")


def test_a_status_resent_under_its_message_id_after_a_reconnect_counts_once_in_the_fault_report(tmp_path):
    b = Bronze()
    # CP-RESENT: 4 real faults; the 4th was unanswered when the socket dropped, so the station
    # sends the same frame again after reconnecting: 4 faults, below the report's threshold of 5.
    for k in range(4):
        clockless_fault(b, "CP-RESENT", f"2026-10-05T10:{k:02d}:00Z", f"r{k}")
    reconnect(b, "CP-RESENT", "2026-10-05T10:03:05Z", "2026-10-05T10:04:30Z")
    clockless_fault(b, "CP-RESENT", "2026-10-05T10:04:31Z", "r3")
    # CP-AGAIN: the same payload under a new message id is a new fault: 5, in the report.
    for k in range(5):
        clockless_fault(b, "CP-AGAIN", f"2026-10-05T11:{k:02d}:00Z", f"a{k}")
    b.write(tmp_path)
    run(tmp_path, D1)
    report = fault_report.build_report(tmp_path, "2026-10")
    assert report.select("station_id", "faults_in_month").rows() == [("CP-AGAIN", 5)]
    resent = read(t.STATUS_CHANGES, tmp_path, D1).filter(pl.col("station_id") == "CP-RESENT")
    assert resent.height == 4
    assert resent["event_ts"].dt.strftime("%H:%M:%S").to_list()[-1] == "10:03:00"  # the first copy's


def test_a_retransmission_after_midnight_is_not_a_new_status_of_the_next_day(tmp_path):
    b = Bronze()
    clockless_fault(b, "CP1", "2026-10-05T23:58:00Z", "x1")
    clockless_fault(b, "CP1", "2026-10-06T00:01:00Z", "x1")  # re-sent after a reconnect
    clockless_fault(b, "CP1", "2026-10-06T00:02:00Z", "x2")
    b.write(tmp_path)
    run(tmp_path, D1)
    run(tmp_path, D2)
    assert read(t.STATUS_CHANGES, tmp_path, D1).height == 1
    assert read(t.STATUS_CHANGES, tmp_path, D2)["received_at"].dt.strftime("%H:%M").to_list() == ["00:02"]


def test_a_message_id_used_again_after_the_window_is_a_new_call(tmp_path):
    """Stations number their messages afresh after a reboot: an old id much later is a new CALL."""
    b = Bronze()
    later = dt.datetime(2026, 10, 5, 10, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=RETRANSMISSION_WINDOW_S + 60)
    clockless_fault(b, "CP1", "2026-10-05T10:00:00Z", "1")
    clockless_fault(b, "CP1", later.isoformat().replace("+00:00", "Z"), "1")
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.STATUS_CHANGES, tmp_path, D1).height == 2


def test_the_same_message_id_with_another_payload_is_a_new_call(tmp_path):
    b = Bronze()
    clockless_fault(b, "CP1", "2026-10-05T10:00:00Z", "7")
    b.call("CP1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
           "2026-10-05T10:00:40Z", message_id="7")
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.STATUS_CHANGES, tmp_path, D1)["status"].to_list() == ["Faulted", "Available"]


def test_retransmitted_authorize_boot_start_and_meter_values_are_recorded_once(tmp_path):
    b = Bronze()
    boot = {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1"}
    for minute in (0, 1):  # the first copy, then the same frames again after a reconnect
        b.call("CP1", "BootNotification", boot, f"2026-10-05T09:0{minute}:00Z", message_id="b1",
               result={"status": "Accepted"})
        b.authorize("CP1", "TAG1", f"2026-10-05T09:3{minute}:00Z", message_id="au1")
        b.start("CP1", 5, "2026-10-05T10:00:00Z", received=f"2026-10-05T10:0{minute}:00Z", message_id="s1")
        b.meter("CP1", "2026-10-05T10:30:00Z", [{"value": "1500"}], received=f"2026-10-05T10:3{minute}:00Z",
                tx_id=5)
    b.write(tmp_path)
    run(tmp_path, D1)
    assert read(t.CONNECTIVITY, tmp_path, D1).filter(pl.col("kind") == "boot").height == 1
    auth = read(t.AUTHORIZATIONS, tmp_path, D1)
    assert auth["action"].to_list() == ["Authorize", "StartTransaction"]
    assert read(t.METER_VALUES, tmp_path, D1)["value"].to_list() == [1500.0]
