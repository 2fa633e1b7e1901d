"""Snapshots encoded a chunk at a time while frames go on, and the restore that replays per station (issue 15)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import snapshot, station_host
from actors.passwords import hash_password
from actors.snapshot import Snapshot, SnapshotEncoder
from actors.station_state import ConnectorState, Registration, StationState
from tests.local_host import LocalStation, batch, close, local_host

PASSWORD = b"snapshot-test-password"
STATIONS = ("CP-S0", "CP-S1", "CP-S2")
BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
STATUSES = ("Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Faulted")


def states(n: int) -> list[StationState]:
    return [StationState(station_id=f"CP-{i}", applied_seq=i, connectors={
        1: ConnectorState(connector_id=1, status="Available", error_code="NoError")}) for i in range(n)]


def comparable(state: StationState) -> dict:
    return msgspec.to_builtins(state)


# --- the file --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 15, 16, 70_000])
def test_a_chunked_snapshot_is_one_msgpack_document_of_every_state(n):
    fleet = states(n)
    encoder = SnapshotEncoder(41, fleet)
    chunks = 1
    while encoder.encode_next(7_000):
        chunks += 1
    assert chunks == max(1, -(-n // 7_000))
    taken = snapshot.decode(encoder.data())
    assert taken.last_seq == 41 and taken.format == snapshot.FORMAT
    assert [comparable(s) for s in taken.stations] == [comparable(s) for s in fleet]


def test_a_snapshot_not_fully_encoded_cannot_be_written():
    encoder = SnapshotEncoder(1, states(3))
    encoder.encode_next(2)
    with pytest.raises(RuntimeError):
        encoder.data()


def test_a_format_1_snapshot_holds_every_state_as_of_its_last_seq():
    """Files written before issue 15: one encode, no `format`, states without applied_seq."""
    old = msgspec.msgpack.encode({"last_seq": 99, "stations": [{"station_id": "CP-OLD"}]})
    taken = snapshot.decode(old)
    assert taken.format == 1 and [s.applied_seq for s in taken.stations] == [99]
    assert snapshot.covers(taken.stations[0], 99) and not snapshot.covers(taken.stations[0], 100)


def test_a_snapshot_of_a_newer_format_is_refused_not_misread():
    newer = msgspec.msgpack.encode(Snapshot(last_seq=1, format=snapshot.FORMAT + 1, stations=[]))
    with pytest.raises(ValueError, match="newer"):
        snapshot.decode(newer)


# --- the host --------------------------------------------------------------------------------


class Fleet:
    """Three registered, booted stations of one local host, driven frame by frame."""

    def __init__(self, host) -> None:
        self.host = host
        self.stations = [LocalStation(host, sid, connection_id=f"c-{sid}") for sid in STATIONS]
        self.n = 0

    async def bring_up(self) -> None:
        for station in self.stations:
            await self.host.register(station.station_id, Registration(password_hash=hash_password(PASSWORD)))
            [reply] = await batch(self.host, [station.connect_request(PASSWORD)])
            assert reply.connect_status == "accepted"
            await self.send(station, "BootNotification", BOOT)

    async def send(self, station: LocalStation, action: str, payload: dict) -> None:
        self.n += 1
        [reply] = await batch(self.host, [station.frame([2, f"m{self.n}", action, payload])])
        assert reply.replies and reply.replies[0].startswith("[3,"), reply

    async def op(self, op: tuple[int, str, int]) -> None:
        index, action, k = op
        station = self.stations[index]
        ts = f"2026-12-01T10:{k % 60:02d}:00Z"
        payload = {
            "Heartbeat": {},
            "StatusNotification": {"connectorId": 1 + k % 2, "errorCode": "NoError",
                                   "status": STATUSES[k % len(STATUSES)], "timestamp": ts},
            "StartTransaction": {"connectorId": 1 + k % 2, "idTag": "TAG", "meterStart": k, "timestamp": ts},
            "MeterValues": {"connectorId": 1, "transactionId": 1 + k % 3, "meterValue": [
                {"timestamp": ts, "sampledValue": [{"value": str(100 * k), "measurand": "Energy.Active.Import.Register"}]}]},
            "StopTransaction": {"transactionId": 1 + k % 3, "meterStop": 1000 + k, "timestamp": ts},
        }[action]
        await self.send(station, action, payload)


ops = st.tuples(st.integers(0, len(STATIONS) - 1),
                st.sampled_from(["Heartbeat", "StatusNotification", "StartTransaction", "MeterValues", "StopTransaction"]),
                st.integers(0, 200))


async def restored_equals_live(root: Path, host) -> None:
    """A host rebuilt from the data root (as after a SIGKILL: only what is on disk) holds each
    station exactly as the host that kept running does, once that one folds the restart too."""
    live = {sid: s for sid, s in host.sessions.items()}
    close(host)
    restored = local_host(root)
    try:
        assert set(restored.sessions) == set(live)
        for sid, session in live.items():
            session.restarted()
            assert comparable(restored.sessions[sid].state) == comparable(session.state), sid
    finally:
        close(restored)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(before=st.lists(ops, max_size=12), between=st.lists(st.lists(ops, max_size=4), min_size=3, max_size=3),
       after=st.lists(ops, max_size=8))
def test_a_host_restored_from_a_snapshot_taken_between_frames_is_the_host_that_kept_running(before, between, after):
    """`before` frames, then a snapshot encoded one station at a time with `between[i]` frames
    handled after the i-th station's entry, then `after` frames the snapshot does not hold."""

    async def run(root: Path) -> None:
        host = local_host(root)
        fleet = Fleet(host)
        await fleet.bring_up()
        for op in before:
            await fleet.op(op)
        encoder = host._snapshot_encoder()
        for frames in between:
            encoder.encode_next(1)
            for op in frames:
                await fleet.op(op)
        assert not encoder.encode_next(1)
        covered = await host._store_snapshot(encoder)
        written = snapshot.decode(host._snapshot_path.read_bytes())
        assert written.last_seq == covered
        # Every event an entry holds was durable before the file named it.
        assert all(covered <= s.applied_seq <= host.log.durable_seq or s.applied_seq < covered
                   for s in written.stations)
        for op in after:
            await fleet.op(op)
        await restored_equals_live(root, host)

    with tempfile.TemporaryDirectory(prefix="snapshot-chunks-") as root:
        loop = asyncio.new_event_loop()  # our own: hypothesis runs each example synchronously
        try:
            loop.run_until_complete(run(Path(root)))
        finally:
            loop.close()


async def test_frames_handled_between_the_chunks_of_a_real_snapshot_survive_a_restore(tmp_path, monkeypatch):
    monkeypatch.setattr(station_host, "SNAPSHOT_CHUNK", 1)
    host = local_host(tmp_path)
    fleet = Fleet(host)
    await fleet.bring_up()
    writing = asyncio.ensure_future(host._write_snapshot())
    k = 0
    while not writing.done():
        # A Heartbeat waits for no fsync: one frame per turn of the loop, between the chunks.
        await fleet.op((k % len(STATIONS), "Heartbeat", k))
        await asyncio.sleep(0)
        k += 1
    covered = await writing
    written = snapshot.decode(host._snapshot_path.read_bytes())
    # Some entries are newer than the sequence the snapshot started at: frames went on.
    assert max(s.applied_seq for s in written.stations) > covered
    assert all(s.applied_seq <= host.log.durable_seq for s in written.stations)
    await fleet.op((0, "Heartbeat", 0))
    await restored_equals_live(tmp_path, host)


# --- what merged branches added to the state: settlements, the 2.0.1 part --------------------


async def test_an_operators_close_answers_the_transaction_and_its_settlement_survives_a_chunked_snapshot(tmp_path):
    """TransactionSettled of the admin close (issue 16, item 3), once for a station whose
    snapshot entry is written already and once for one still to come."""
    host = local_host(tmp_path)
    fleet = Fleet(host)
    await fleet.bring_up()
    for index in (0, 1):
        await fleet.op((index, "StartTransaction", 0))
        await fleet.op((index, "MeterValues", 3))  # transaction 1, 300 Wh
    [first, second] = (host.sessions[sid].state for sid in STATIONS[:2])
    [tx0], [tx1] = list(first.transactions), list(second.transactions)
    encoder = host._snapshot_encoder()
    encoder.encode_next(1)  # CP-S0's entry, without the close
    for sid, tx in ((STATIONS[0], tx0), (STATIONS[1], tx1)):
        view = await host.close_transaction(sid, tx, "meter swapped")
        assert (view.transaction_id, view.meter_stop_wh) == (tx, 300), view
    while encoder.encode_next(1):
        pass
    await host._store_snapshot(encoder)
    assert first.transactions[tx0].settlement.by == second.transactions[tx1].settlement.by == "operator"
    await restored_equals_live(tmp_path, host)


V201 = "CP-S201"
V201_AT = "2026-12-01T10:00:00Z"
V201_FRAMES = [
    ("BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}),
    ("StatusNotification", {"timestamp": V201_AT, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}),
    ("TransactionEvent", {"eventType": "Started", "timestamp": V201_AT, "triggerReason": "Authorized", "seqNo": 0,
                          "transactionInfo": {"transactionId": "tx-201"}, "evse": {"id": 1, "connectorId": 1},
                          "meterValue": [{"timestamp": V201_AT, "sampledValue": [{"value": 100}]}]}),
    ("SecurityEventNotification", {"type": "SettingSystemTime", "timestamp": V201_AT}),
    ("NotifyEvent", {"generatedAt": V201_AT, "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": V201_AT, "trigger": "Alerting", "actualValue": "Faulted",
        "eventNotificationType": "HardWiredNotification", "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "AvailabilityState"}}]}),
    ("NotifyReport", {"requestId": 1, "generatedAt": V201_AT, "seqNo": 0, "tbc": False, "reportData": [{
        "component": {"name": "ChargingStation"}, "variable": {"name": "Model"},
        "variableAttribute": [{"type": "Actual", "value": "M", "mutability": "ReadOnly"}],
        "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}}]}),
    ("ReservationStatusUpdate", {"reservationId": 5, "reservationUpdateStatus": "Expired"}),
    ("TransactionEvent", {"eventType": "Updated", "timestamp": V201_AT, "triggerReason": "MeterValuePeriodic",
                          "seqNo": 2, "transactionInfo": {"transactionId": "tx-201"},
                          "meterValue": [{"timestamp": V201_AT, "sampledValue": [{"value": 900}]}]}),
]


async def test_the_2_0_1_part_round_trips_through_a_chunked_snapshot_and_restore(tmp_path):
    """Station201 (issue 11) in a snapshot entry: its int-keyed and str-keyed maps, lists and
    nested Structs decode to the state the host kept, with frames of the 2.0.1 station
    handled between the chunks and after them."""
    host = local_host(tmp_path)
    fleet = Fleet(host)
    await fleet.bring_up()
    await host.register(V201, Registration(password_hash=hash_password(PASSWORD)))
    station = LocalStation(host, V201, connection_id="c-201")
    [reply] = await batch(host, [station.connect_request(PASSWORD, "2.0.1")])
    assert reply.connect_status == "accepted"
    frames = iter(V201_FRAMES)
    for action, payload in [next(frames) for _ in range(4)]:
        await fleet.send(station, action, payload)
    encoder = host._snapshot_encoder()
    encoder.encode_next(2)
    for action, payload in [next(frames) for _ in range(2)]:
        await fleet.send(station, action, payload)
    while encoder.encode_next(1):
        pass
    await host._store_snapshot(encoder)
    for action, payload in frames:
        await fleet.send(station, action, payload)
    part = host.sessions[V201].state.v201
    assert part.reservation_updates == {5: "Expired"} and part.transaction_seq_nos["tx-201"].gaps == [1]
    assert part.device_model and part.events and part.evses[1].connectors
    assert host.sessions[V201].state.security_events  # the core's list, both versions
    [written] = [s for s in snapshot.decode(host._snapshot_path.read_bytes()).stations if s.station_id == V201]
    assert written.v201 is not None and written.v201.device_model
    await restored_equals_live(tmp_path, host)


async def test_a_re_attach_folded_before_a_frame_that_raises_reaches_the_log(tmp_path, monkeypatch):
    """A frame over a connection the host has no CONNECTED of (its Connect was lost with the
    last incarnation) re-attaches it first; the frame's handling then raising (answered
    InternalError, issue 10 point 7) drops what the frame made, never the re-attach the state
    already holds: a restore from the log alone must give the same station."""
    host = local_host(tmp_path)
    fleet = Fleet(host)
    await fleet.bring_up()
    station = fleet.stations[0]
    moved = LocalStation(host, station.station_id, connection_id="c-moved",
                         connected_at_us=station.connected_at_us + 1_000_000)
    session = host.sessions[station.station_id]

    def explode(*args, **kwargs):
        raise RuntimeError("made to raise")

    monkeypatch.setattr(session, "handle", explode)
    [reply] = await batch(host, [moved.frame([2, "x1", "Heartbeat", {}])])
    assert json.loads(reply.replies[0])[:3] == [4, "x1", "InternalError"]
    assert session.state.connection_id == "c-moved"
    assert session.recent_events(0, 1)[0].action == "Connected"
    await host.log.commit()
    await restored_equals_live(tmp_path, host)
