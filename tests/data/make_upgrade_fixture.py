"""Writes tests/data/upgrade-v1/: a data root made by the CSMS as it was before the version seam.

Run once, at commit a302315 (before issue 10 reshaped actors/):

    .venv/bin/python -m tests.data.make_upgrade_fixture

It drives one StationHost in this process (no Ray: the host is a plain object here) through
registrations, boots, statuses, a closed and an open transaction, a configuration read and a
reservation, takes a snapshot halfway (flush), and stops with WAL segments the snapshot does
not cover. `expected.json` holds what the operator API showed of each station and transaction
after a restore by that code; tests/test_upgrade.py checks today's code restores the same.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import msgspec

from actors.config import Config
from actors.host_protocol import Connect, Frame, decode_outbound, decode_replies, encode_requests
from actors.station_host import StationHost
from actors.station_state import IdTagRecord, Registration
from actors.passwords import hash_password
from actors.views import TransactionFilter

HERE = Path(__file__).parent / "upgrade-v1"
HOST = "station-host-0"
PASSWORD = b"upgrade-fixture-password"
REPLICA = "fixture"


class Driver:
    def __init__(self, host: StationHost) -> None:
        self.host = host
        self.n = 0

    async def connect(self, station_id: str) -> tuple[str, int]:
        self.n += 1
        connection = (f"{REPLICA}-{self.n}", 1_790_000_000_000_000 + self.n)
        reply = await self.batch([Connect(station_id, *connection, PASSWORD)])
        assert reply[0].connect_status == "accepted", reply
        return connection

    async def batch(self, requests):
        return decode_replies(await self.host.process(encode_requests(requests))).replies

    async def call(self, station_id: str, connection: tuple[str, int], frame: list) -> list | None:
        reply = await self.batch([Frame(station_id, *connection, json.dumps(frame), 1_790_000_000_000_000 + self.n)])
        self.n += 1
        if frame[0] == 3:
            return None  # the station's answer to our CALL: nothing goes back
        assert reply[0].replies, reply
        return json.loads(reply[0].replies[0])

    async def command(self, station_id: str, connection: tuple[str, int], action: str, payload: dict,
                      answer: dict) -> None:
        text = json.dumps(payload)
        task = asyncio.ensure_future(self.host.command(station_id, action, text, text, 10))
        outbound = decode_outbound(await self.host.outbound(REPLICA, 5))
        call = json.loads(outbound.frames[0].text)
        await self.call(station_id, connection, [3, call[1], answer])
        outcome = await task
        assert outcome.status == "answered", outcome


async def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    HERE.mkdir(parents=True)
    config = Config(data_root=str(HERE), wal_segment_max_age_s=3600, station_hosts=1)
    host = StationHost(HOST, config)
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    host._started = done  # no id-tag registry actor here: the table is set by hand below
    host.id_tags = {"TAG-1": IdTagRecord(status="Accepted"), "TAG-2": IdTagRecord(status="Accepted")}
    d = Driver(host)
    password_hash = hash_password(PASSWORD)
    await host.register("CP-UP-1", Registration(password_hash=password_hash, site="depot-1", metadata={"row": "a"}))
    await host.register("CP-UP-2", Registration(password_hash=password_hash, boot_status="Pending"))
    await host.register("CP-UP-3", Registration(password_hash=password_hash, site="depot-2"))

    c1 = await d.connect("CP-UP-1")
    await d.call("CP-UP-1", c1, [2, "b1", "BootNotification", {
        "chargePointVendor": "Acme", "chargePointModel": "Volt-2", "chargePointSerialNumber": "SN-1",
        "firmwareVersion": "1.2.3"}])
    for cid, status, ts in ((1, "Available", "2026-10-01T08:00:00Z"), (2, "Available", "2026-10-01T08:00:01Z"),
                            (1, "Preparing", "2026-10-01T08:01:00Z")):
        await d.call("CP-UP-1", c1, [2, f"s{cid}{status}", "StatusNotification", {
            "connectorId": cid, "errorCode": "NoError", "status": status, "timestamp": ts}])
    start = await d.call("CP-UP-1", c1, [2, "t1", "StartTransaction", {
        "connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": "2026-10-01T08:02:00Z"}])
    tx1 = start[2]["transactionId"]
    await d.call("CP-UP-1", c1, [2, "m1", "MeterValues", {"connectorId": 1, "transactionId": tx1, "meterValue": [
        {"timestamp": "2026-10-01T08:30:00Z", "sampledValue": [{"value": "5000"}]}]}])
    await d.call("CP-UP-1", c1, [2, "p1", "StopTransaction", {
        "transactionId": tx1, "meterStop": 9000, "timestamp": "2026-10-01T09:00:00Z", "idTag": "TAG-1",
        "reason": "EVDisconnected"}])
    c2 = await d.connect("CP-UP-2")
    await d.call("CP-UP-2", c2, [2, "b2", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Volt-1"}])

    # The snapshot: everything so far; what follows lives only in the write-ahead log.
    await host.flush()

    await d.call("CP-UP-1", c1, [2, "s1c", "StatusNotification", {
        "connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-10-01T10:00:00Z"}])
    await d.call("CP-UP-1", c1, [2, "t2", "StartTransaction", {
        "connectorId": 1, "idTag": "TAG-2", "meterStart": 9000, "timestamp": "2026-10-01T10:00:00Z"}])
    await d.command("CP-UP-1", c1, "GetConfiguration", {}, {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"}], "unknownKey": []})
    await d.command("CP-UP-1", c1, "ReserveNow", {
        "connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "TAG-1", "reservationId": 7},
        {"status": "Accepted"})
    await d.call("CP-UP-2", c2, [2, "s2", "StatusNotification", {
        "connectorId": 0, "errorCode": "NoError", "status": "Available"}])
    await host.log.commit()
    host.log.close()
    if host._background is not None:
        host._background.cancel()
    shutil.rmtree(HERE / "bronze", ignore_errors=True)  # the lake is not what this fixture is about

    restored = StationHost(HOST, config)
    expected = {
        "stations": {sid: msgspec.to_builtins(await restored.station(sid)) for sid in ("CP-UP-1", "CP-UP-2", "CP-UP-3")},
        "transactions": msgspec.to_builtins(await restored.transactions(TransactionFilter())),
    }
    restored.log.close()
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {HERE}")


if __name__ == "__main__":
    asyncio.run(main())
