"""Settled transactions in silver (issue 16, item 3): bronze written from the live StationSession's log.

silver.transactions gets a row for a transaction the CSMS settled (end_kind csms / operator,
its meter stop estimated) and, when the station's StopTransaction comes after all, the
station's row wins (end_kind station, the settlement's reason kept).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from actors import lake
from analytics import curate
from analytics import tables as t
from tests.bronze import Bronze
from tests.test_station_session import DAY, MINUTE_US, T0, Station, meter_values, start, status, stop

DAY1 = DAY.date()
DAY2 = DAY1 + dt.timedelta(days=1)


def curated(tmp_path, station: Station, *days: dt.date) -> dict[dt.date, list[dict]]:
    lake.write_bronze(tmp_path, list(enumerate(station.log, 1)), "station-host-0", "live")
    found = {}
    for day in days:
        curate.run(tmp_path, day=day, echo=lambda *_: None)
        assert pl.read_parquet(t.day_dir(t.QUARANTINE, tmp_path, day) / t.PART_FILE).is_empty()
        rows = pl.read_parquet(t.day_dir(t.TRANSACTIONS, tmp_path, day) / t.PART_FILE).rows(named=True)
        found[day] = {r["transaction_id"]: r for r in rows}
    return found


def test_settled_transactions_have_rows_with_how_they_ended(tmp_path):
    station = Station()
    superseded = start(station, meter=1000, minute=10)["transactionId"]
    meter_values(station, superseded, [{"value": "1600"}], minute=20)
    available = start(station, meter=5000, minute=60)["transactionId"]  # supersedes the first
    status(station, 1, "Available", minute=90)
    closed = start(station, connector=2, tag="TAG2", meter=0, minute=100)["transactionId"]
    station.log.append(station.session.close_transaction(closed, "meter swapped", T0 + 200 * MINUTE_US))
    stopped = start(station, connector=3, tag="TAG3", meter=0, minute=110)["transactionId"]
    stop(station, stopped, meter=40, minute=120)
    rows = curated(tmp_path, station, DAY1)[DAY1]
    assert {k: (r["end_kind"], r["settled_reason"], r["meter_stop_estimated"], r["stop_reason"])
            for k, r in rows.items()} == {
        superseded: ("csms", "Superseded", True, None),
        available: ("csms", "ConnectorAvailable", True, None),
        closed: ("operator", "meter swapped", True, None),
        stopped: ("station", None, False, "Local"),
    }
    first = rows[superseded]
    assert (first["meter_stop_wh"], first["energy_wh"], first["duration_s"]) == (1600, 600.0, 50 * 60.0)
    assert first["stop_ts"] == dt.datetime(2024, 3, 1, 1, 0, tzinfo=dt.timezone.utc)
    # Live and silver agree on every one of them.
    for tx_id, row in rows.items():
        live = station.state.transactions[tx_id]
        assert (row["meter_stop_wh"], row["energy_wh"]) == (live.meter_stop_wh, live.energy_wh)


def test_a_late_stop_wins_over_the_settlement_in_silver_too(tmp_path):
    station = Station()
    tx = start(station, meter=1000, minute=-30)["transactionId"]
    station.answer("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"})
    # The stop it had queued, delivered the next day (its own timestamp: the next day too).
    station.clock_us += 24 * 60 * MINUTE_US
    stop(station, tx, meter=1900, minute=24 * 60 + 5, reason="Reboot")
    days = curated(tmp_path, station, DAY1, DAY2)
    # The day of the settlement: the stop is in that day's window (stops of the next day are).
    assert tx not in days[DAY1]
    late = days[DAY2][tx]
    assert (late["end_kind"], late["settled_reason"], late["meter_stop_estimated"]) == ("station", "StationRebooted", False)
    assert (late["meter_stop_wh"], late["stop_reason"]) == (1900, "Reboot")


def test_an_unreadable_settlement_is_quarantined_with_the_reason(tmp_path):
    b = Bronze()
    b.start("CP1", 1, "2026-11-02T08:00:00Z")
    b.session("CP1", "TransactionSettled", '{"transaction_id": "one"}', "2026-11-02T09:00:00Z")
    b.write(tmp_path)
    curate.run(tmp_path, day=dt.date(2026, 11, 2), echo=lambda *_: None)
    [row] = pl.read_parquet(t.day_dir(t.QUARANTINE, tmp_path, dt.date(2026, 11, 2)) / t.PART_FILE).rows(named=True)
    assert row["action"] == "TransactionSettled" and "unreadable" in row["reason"]
