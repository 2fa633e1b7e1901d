"""Kill parts of the CSMS mid-stream: no acknowledged event or transaction may be lost."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import duckdb
import httpx
import pytest
import ray

from actors import directory, lake
from tests.conftest import PASSWORD, TOKEN, free_port, put_id_tag, register_station
from tests.csms_process import kill_process_tree, start_csms, wait_ready
from tests.polling import wait_until
from tests.stations import raw_socket

pytestmark = pytest.mark.ray


class AckedStream:
    """A station that runs charging sessions frame by frame and remembers what was answered."""

    def __init__(self, ws_url: str, station_id: str) -> None:
        self.ws_url = ws_url
        self.station_id = station_id
        self.acked: dict[str, list] = {}  # message id -> reply
        self.transactions: list[tuple[int, int, int]] = []  # (id, meter start, meter stop)
        self._n = 0

    async def call(self, ws, action: str, payload: dict) -> list:
        self._n += 1
        message_id = f"{self.station_id}-{self._n}"
        await ws.send(json.dumps([2, message_id, action, payload]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert reply[0] == 3 and reply[1] == message_id, reply
        self.acked[message_id] = reply
        return reply

    async def run_sessions(self, sessions: int, meter_values: int) -> None:
        async with raw_socket(self.ws_url, self.station_id) as ws:
            await self.call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            for s in range(sessions):
                start_ts = f"2026-11-24T0{s}:00:00Z"
                meter = 10_000 * s
                reply = await self.call(ws, "StartTransaction", {
                    "connectorId": 1, "idTag": "CRASH", "meterStart": meter, "timestamp": start_ts})
                tx = reply[2]["transactionId"]
                for k in range(meter_values):
                    await self.call(ws, "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                        {"timestamp": f"2026-11-24T0{s}:{k + 1:02d}:00Z",
                         "sampledValue": [{"value": str(meter + 100 * (k + 1))}]}]})
                stop = meter + 100 * meter_values + 7
                await self.call(ws, "StopTransaction", {"transactionId": tx, "meterStop": stop,
                                                       "timestamp": f"2026-11-24T0{s}:59:00Z"})
                self.transactions.append((tx, meter, stop))


def bronze_message_ids(data_root: Path, station_ids: list[str]) -> set[str]:
    ids = ",".join(f"'{s}'" for s in station_ids)
    rows = duckdb.sql(
        f"select distinct message_id from read_parquet('{lake.bronze_glob(data_root)}', hive_partitioning=true) "
        f"where station_id in ({ids}) and direction = 'in' and message_type = 'CALL'"
    ).fetchall()
    return {r[0] for r in rows}


async def test_killing_a_station_host_mid_stream_loses_no_acknowledged_event(csms):
    station_ids = [f"CP-crash-{i}" for i in range(8)]
    for sid in station_ids:
        await register_station(csms, sid)
    await put_id_tag(csms, "CRASH")
    streams = [AckedStream(csms.ws_url, sid) for sid in station_ids]
    victim = directory.host_names(csms.config.station_hosts)[0]
    on_victim = [s for s in station_ids if directory.host_for(s, directory.host_names(csms.config.station_hosts)) == victim]
    assert on_victim, "the test needs stations on the killed host"

    running = asyncio.gather(*(s.run_sessions(sessions=3, meter_values=15) for s in streams))
    await wait_until(lambda: _acked_at_least(streams, 40), 60, "traffic before the kill")
    ray.kill(directory.get_actor(victim), no_restart=False)  # SIGKILL; Ray restarts it
    await asyncio.wait_for(running, 180)  # every station finished every session: no lost answers

    for name in directory.host_names(csms.config.station_hosts):
        ray.get(directory.get_actor(name).flush.remote(), timeout=60)
    acked_calls = {mid for s in streams for mid in s.acked}
    assert acked_calls <= bronze_message_ids(csms.data_root, station_ids)

    async with csms.api() as api:
        for stream in streams:
            rows = (await api.get("/api/transactions", params={"station_id": stream.station_id})).json()["transactions"]
            by_id = {t["transaction_id"]: t for t in rows}
            assert len(stream.transactions) == 3
            for tx, meter_start, meter_stop in stream.transactions:
                assert by_id[tx]["active"] is False and by_id[tx]["energy_wh"] == meter_stop - meter_start
            # Id allocation survived: the three transactions got distinct ids.
            assert len({tx for tx, _, _ in stream.transactions}) == 3


async def _acked_at_least(streams, n: int) -> bool:
    return sum(len(s.acked) for s in streams) >= n


# --- the whole CSMS process ---------------------------------------------------------------


async def test_killing_the_whole_csms_process_loses_nothing_acknowledged(tmp_path):
    data_root, port = tmp_path / "data", free_port()
    log_path = tmp_path / "csms.log"
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ocpp"
    station_ids = [f"CP-kill9-{i}" for i in range(4)]
    proc = start_csms(data_root, port, log_path)
    try:
        await wait_ready(base, proc, log_path)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as api:
            for sid in station_ids:
                assert (await api.put(f"/api/stations/{sid}", json={"password": PASSWORD})).status_code == 201
            await api.put("/api/id-tags/CRASH", json={"status": "Accepted"})
        streams = [AckedStream(ws_url, sid) for sid in station_ids]
        running = asyncio.gather(*(s.run_sessions(sessions=2, meter_values=200) for s in streams),
                                 return_exceptions=True)
        await wait_until(lambda: _acked_at_least(streams, 150), 120, "traffic before the kill")
        kill_process_tree(proc)  # like pulling the plug on the process: no graceful anything
        await asyncio.wait_for(running, 60)  # the stations see their sockets die
        acked = {mid for s in streams for mid in s.acked}
        completed = {s.station_id: list(s.transactions) for s in streams}

        proc = start_csms(data_root, port, log_path)
        await wait_ready(base, proc, log_path)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as api:
            for stream in streams:
                view = (await api.get(f"/api/stations/{stream.station_id}")).json()
                assert view["boot_status"] == "Accepted"
                rows = (await api.get("/api/transactions", params={"station_id": stream.station_id})).json()
                by_id = {t["transaction_id"]: t for t in rows["transactions"]}
                for tx, meter_start, meter_stop in completed[stream.station_id]:
                    assert by_id[tx]["energy_wh"] == meter_stop - meter_start
                started = [mid for mid, r in stream.acked.items() if "transactionId" in (r[2] or {})]
                for mid in started:  # every acknowledged start survived, open or closed
                    assert stream.acked[mid][2]["transactionId"] in by_id
            # A new session gets a fresh id: allocation was rebuilt, not reset.
            async with raw_socket(ws_url, station_ids[0]) as ws:
                await ws.send(json.dumps([2, "after", "StartTransaction", {
                    "connectorId": 2, "idTag": "CRASH", "meterStart": 1, "timestamp": "2026-11-25T00:00:00Z"}]))
                new_id = json.loads(await ws.recv())[2]["transactionId"]
            assert new_id not in {int(t) for t in by_id} | {tx for tx, _, _ in completed[station_ids[0]]}
        # Graceful stop lands everything in the lake; then every acknowledged CALL is there.
        proc.send_signal(signal.SIGTERM)  # the CSMS process only: it stops Ray itself
        assert proc.wait(120) == 0, log_path.read_text()[-3000:]  # a graceful stop, not Ray's exit
        assert acked <= bronze_message_ids(data_root, station_ids)
    finally:
        if proc.poll() is None:
            kill_process_tree(proc)


async def test_open_sockets_are_reattached_after_their_host_restarts(csms):
    hosts = directory.host_names(csms.config.station_hosts)
    victim = hosts[1]
    idle, busy = [s for s in (f"CP-reattach-{i}" for i in range(40)) if directory.host_for(s, hosts) == victim][:2]
    for sid in (idle, busy):
        await register_station(csms, sid)
    async with raw_socket(csms.ws_url, idle) as idle_ws, raw_socket(csms.ws_url, busy) as busy_ws:
        for ws in (idle_ws, busy_ws):
            await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            await ws.recv()
        host = directory.get_actor(victim)
        before = ray.get(host.stats.remote())["incarnation"]
        ray.kill(host, no_restart=False)

        async def restarted() -> bool:
            try:
                return ray.get(host.stats.remote(), timeout=5)["incarnation"] != before
            except ray.exceptions.RayError:
                return False

        await wait_until(restarted, 60, "Ray to restart the host")
        # Any traffic to the new incarnation makes the gateway re-attach every socket it holds there.
        await busy_ws.send(json.dumps([2, "h", "Heartbeat", {}]))
        assert json.loads(await asyncio.wait_for(busy_ws.recv(), 60))[0] == 3

        async def idle_station_connected() -> bool:
            async with csms.api() as api:
                response = await api.get(f"/api/stations/{idle}")
            return response.status_code == 200 and response.json()["connected"]

        await wait_until(idle_station_connected, 30, "the idle station to be re-attached")


async def test_a_killed_balancer_comes_back_on_the_same_port(csms, station_id):
    import websockets

    from serve_app.app import balancer_names
    from tests.stations import basic_auth

    await register_station(csms, station_id)
    for name in balancer_names(csms.config):
        ray.kill(directory.get_actor(name), no_restart=False)

    async def station_can_connect() -> bool:
        try:
            async with websockets.connect(f"{csms.ws_url}/{station_id}", subprotocols=["ocpp1.6"],
                                          additional_headers=basic_auth(station_id), open_timeout=5) as ws:
                await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
                return json.loads(await asyncio.wait_for(ws.recv(), 10))[2]["status"] == "Accepted"
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
            return False

    await wait_until(station_can_connect, 90, "stations to reach the CSMS through the restarted balancer")
