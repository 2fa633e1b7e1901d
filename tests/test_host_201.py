"""A 2.0.1 station on a real StationHost (its write-ahead log, snapshot, restore and lake, without
Ray): bronze rows carry `ocpp_version` "2.0.1", and a host restarted mid-transaction loses
nothing acknowledged and still answers a retried TransactionEvent once."""

from __future__ import annotations

from pathlib import Path

import duckdb

from actors import lake
from actors.passwords import hash_password
from actors.station_state import Registration
from actors.views import TransactionFilter
from tests.local_host import LocalStation, batch, call, close, local_host

PASSWORD = b"v201-host-test-password"
BOOT = {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}


def tx_event(event_type: str, seq_no: int, minute: int, wh: float) -> dict:
    at = f"2026-11-24T10:{minute:02d}:00Z"
    return {"eventType": event_type, "timestamp": at, "triggerReason": "Authorized", "seqNo": seq_no,
            "transactionInfo": {"transactionId": "tx-host"}, "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": at, "sampledValue": [{"value": wh}]}]}


async def booted_201(host) -> LocalStation:
    await host.register("CP-H201", Registration(password_hash=hash_password(PASSWORD)))
    station = LocalStation(host, "CP-H201")
    [reply] = await batch(host, [station.connect_request(PASSWORD, "2.0.1")])
    assert reply.connect_status == "accepted"
    assert (await call(host, station, [2, "boot", "BootNotification", BOOT]))[2]["status"] == "Accepted"
    return station


async def test_bronze_rows_of_a_2_0_1_station_say_2_0_1(tmp_path: Path):
    host = local_host(tmp_path)
    try:
        station = await booted_201(host)
        await call(host, station, [2, "t0", "TransactionEvent", tx_event("Started", 0, 0, 100)])
        await host.flush()
    finally:
        close(host)
    rows = duckdb.sql(
        f"select action, ocpp_version from read_parquet('{lake.bronze_glob(tmp_path)}', hive_partitioning=true) "
        "where station_id = 'CP-H201' and direction <> 'system'").fetchall()
    assert {"BootNotification", "TransactionEvent"} <= {action for action, _ in rows}
    assert {version for _, version in rows} == {"2.0.1"}


async def test_a_host_restarted_mid_transaction_keeps_it_and_answers_a_retry_once(tmp_path: Path):
    host = local_host(tmp_path)
    try:
        station = await booted_201(host)
        await call(host, station, [2, "t0", "TransactionEvent", tx_event("Started", 0, 0, 100)])
        await host.flush()  # into the snapshot ...
        await call(host, station, [2, "t1", "TransactionEvent", tx_event("Updated", 1, 10, 900)])  # ... and past it
        await host.log.commit()
    finally:
        close(host)
    again = local_host(tmp_path)
    try:
        state = again.sessions["CP-H201"].state
        assert state.ocpp_version == "2.0.1"
        assert state.v201.transaction_seq_nos["tx-host"].seq_nos == [0, 1]
        back = LocalStation(again, "CP-H201", connection_id="test-2", connected_at_us=1_900_000_000_000_000)
        [reply] = await batch(again, [back.connect_request(PASSWORD, "2.0.1")])
        assert reply.connect_status == "accepted"
        # The station did not get our answer to seqNo 1 before the crash: it sends it again.
        assert (await call(again, back, [2, "t1-again", "TransactionEvent", tx_event("Updated", 1, 10, 900)]))[0] == 3
        await call(again, back, [2, "t3", "TransactionEvent", tx_event("Ended", 3, 30, 2100)])
        [tx] = await again.transactions(TransactionFilter(station_id="CP-H201"))
        assert (tx.transaction_id, tx.energy_wh, tx.meter_value_count, tx.seq_gaps) == ("tx-host", 2000, 3, [2])
    finally:
        close(again)
