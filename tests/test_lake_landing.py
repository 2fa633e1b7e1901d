"""Events land in the Parquet lake (bronze), queried with DuckDB like the analytics will."""

from __future__ import annotations

import json

import duckdb
import pytest
import ray

from actors import directory, lake
from tests.conftest import register_station
from tests.stations import raw_socket

pytestmark = pytest.mark.ray


async def flush_all_hosts(csms) -> None:
    await_refs = [directory.get_actor(n).flush.remote() for n in directory.host_names(csms.config.station_hosts)]
    ray.get(await_refs, timeout=60)


async def test_every_frame_lands_in_bronze_with_both_timestamps_and_no_secrets(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        await ws.recv()
        await ws.send(json.dumps([2, "s1", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2026-11-20T08:00:00Z"}]))
        await ws.recv()
    await flush_all_hosts(csms)
    rows = duckdb.sql(
        f"select direction, message_type, message_id, action, strftime(station_ts, '%Y-%m-%dT%H:%M:%S'), "
        f"epoch_us(station_ts), epoch_us(received_at), payload "
        f"from read_parquet('{lake.bronze_glob(csms.data_root)}', hive_partitioning=true) "
        f"where station_id = '{station_id}' order by seq"
    ).fetchall()
    kinds = [(r[0], r[1], r[3]) for r in rows]
    assert ("system", "SESSION", "StationRegistered") in kinds
    assert ("in", "CALL", "BootNotification") in kinds and ("out", "CALLRESULT", "BootNotification") in kinds
    assert ("in", "CALL", "StatusNotification") in kinds
    assert ("system", "SESSION", "Disconnected") in kinds
    status = next(r for r in rows if r[3] == "StatusNotification" and r[0] == "in")
    assert status[4] == "2026-11-20T08:00:00"  # the station's clock
    assert status[6] > status[5]  # the server's receive time, kept beside it
    assert not any("pbkdf2" in (r[7] or "") for r in rows)


async def test_relanding_a_segment_does_not_duplicate_rows(csms, station_id):
    await register_station(csms, station_id)
    await flush_all_hosts(csms)
    await flush_all_hosts(csms)  # nothing new sealed: must not write anything twice
    count = duckdb.sql(
        f"select count(*) from read_parquet('{lake.bronze_glob(csms.data_root)}', hive_partitioning=true) "
        f"where station_id = '{station_id}'"
    ).fetchall()[0][0]
    assert count == 1
