"""A host keeps its fleet out of the cyclic garbage collector's reach (issue 15: full collections stalled it)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from actors import gc_freeze
from actors.gc_freeze import freeze_survivors
from actors.passwords import hash_password
from actors.station_state import Registration, StationState
from tests.local_host import LocalStation, batch, call, close, local_host

PASSWORD = b"gc-test-password-0001"
BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
START = {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": "2026-12-01T10:00:00Z"}


@pytest.fixture(autouse=True)
def unfrozen():
    yield
    gc.unfreeze()  # the rest of the test session collects as it did


def frozen(obj: object) -> bool:
    """gc.get_objects() lists every generation but the permanent one, where gc.freeze() moves objects."""
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())


async def online(host, station_id: str, n: int = 1) -> LocalStation:
    await host.register(station_id, Registration(password_hash=hash_password(PASSWORD)))
    station = LocalStation(host, station_id, connection_id=f"gc-{n}")
    [reply] = await batch(host, [station.connect_request(PASSWORD)])
    assert reply.connect_status == "accepted"
    assert (await call(host, station, [2, "boot", "BootNotification", BOOT]))[2]["status"] == "Accepted"
    return station


def test_station_states_are_not_tracked_by_the_collector():
    state = StationState(station_id="CP-1", registration=Registration(password_hash="h", metadata={"a": "b"}))
    assert not gc.is_tracked(state) and not gc.is_tracked(state.registration)
    # Their dicts of Structs need no tracking either: one object fewer per state to traverse.
    assert not gc.is_tracked(state.connectors)


async def test_a_restored_host_freezes_its_fleet_before_the_first_frame(tmp_path: Path):
    host = local_host(tmp_path)
    await online(host, "CP-GC-1")
    close(host)
    gc.unfreeze()
    restored = local_host(tmp_path)
    try:
        session = restored.sessions["CP-GC-1"]
        assert frozen(session) and frozen(session.recent)
        # A full collection has nothing of the fleet left to traverse.
        assert not any(o is session for o in gc.get_objects(generation=2))
    finally:
        close(restored)


async def test_a_snapshot_freezes_what_survived_once_it_is_enough_to_stall_a_collection(tmp_path: Path, monkeypatch):
    host = local_host(tmp_path)
    try:
        await online(host, "CP-GC-2")
        session = host.sessions["CP-GC-2"]
        assert not frozen(session)  # registered after the host started
        monkeypatch.setattr(gc_freeze, "FREEZE_ABOVE", 10**9)
        await host.flush()  # lands the segment and writes a snapshot
        assert not frozen(session)  # too little unfrozen: the tasks in flight are not frozen for it
        monkeypatch.setattr(gc_freeze, "FREEZE_ABOVE", 0)
        await online(host, "CP-GC-2b", n=2)
        await host.flush()
        assert frozen(session) and frozen(host.sessions["CP-GC-2b"])
    finally:
        close(host)


async def test_a_station_dropped_after_a_freeze_is_freed_without_the_collector(tmp_path: Path):
    """Sessions hold no reference cycle, so reference counting frees a frozen one at once."""
    host = local_host(tmp_path)
    try:
        station = await online(host, "CP-GC-3")
        assert (await call(host, station, [2, "start", "StartTransaction", START]))[2]["transactionId"] == 1
        freeze_survivors()
        gone = weakref.ref(host.sessions["CP-GC-3"])
        gc.disable()
        try:
            del host.sessions["CP-GC-3"]
            assert gone() is None
        finally:
            gc.enable()
    finally:
        close(host)
