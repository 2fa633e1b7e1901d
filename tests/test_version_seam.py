"""The version seam (issue 10) and a station's frames against its neighbours (issue 16), on a real StationHost.

The host runs in the test's own process (tests/local_host.py): its real write-ahead log,
snapshot and restore, without Ray. A second OCPP version is stood in by a copy of 1.6 under
another version and subprotocol, registered for the test: what must travel is the version,
whatever its rules.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from actors import protocols
from actors.events import Event
from actors.passwords import hash_password
from actors.protocols import PROTOCOLS, negotiate
from actors.station_state import Registration
from tests.local_host import LocalStation, batch, call, close, local_host

PASSWORD = b"seam-test-password-01"
BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


@pytest.fixture
def other_version(monkeypatch):
    """A second version in the registry, newest first, as 2.0.1 will be."""
    other = dataclasses.replace(PROTOCOLS["1.6"], version="test-2", subprotocol="ocpp-test2")
    monkeypatch.setattr(protocols, "PROTOCOLS", {"test-2": other, **PROTOCOLS})
    import actors.station_session as session_module

    monkeypatch.setattr(session_module, "PROTOCOLS", protocols.PROTOCOLS)
    return other


async def registered(host, *station_ids: str) -> list[LocalStation]:
    stations = []
    for n, station_id in enumerate(station_ids):
        await host.register(station_id, Registration(password_hash=hash_password(PASSWORD)))
        stations.append(LocalStation(host, station_id, connection_id=f"test-{n + 1}"))
    return stations


async def booted(host, station: LocalStation, ocpp_version: str = "1.6") -> None:
    [reply] = await batch(host, [station.connect_request(PASSWORD, ocpp_version)])
    assert reply.connect_status == "accepted"
    assert (await call(host, station, [2, "boot", "BootNotification", BOOT]))[2]["status"] == "Accepted"


def logged(host, station_id: str) -> list[Event]:
    return [e for _seq, e in host.log.replay(after_seq=0) if e.station_id == station_id]


# --- negotiation and the version on everything (issue 10, point 2) ----------------------------


def test_the_highest_shared_version_wins(other_version):
    assert protocols.negotiate(["ocpp1.6", "ocpp-test2"]) is other_version
    assert protocols.negotiate(["ocpp1.6"]).version == "1.6"
    assert negotiate(["ocpp2.1", "ocpp1.5"]) is None


async def test_the_version_travels_into_state_events_views_and_across_a_restart(tmp_path: Path, other_version):
    host = local_host(tmp_path)
    try:
        [station] = await registered(host, "CP-V1")
        await booted(host, station, ocpp_version="test-2")
        assert host.sessions["CP-V1"].state.ocpp_version == "test-2"
        assert (await host.station("CP-V1")).ocpp_version == "test-2"
        assert [s.ocpp_version for s in await host.stations()] == ["test-2"]
        after_connect = [e for e in logged(host, "CP-V1") if e.action != "StationRegistered"]
        assert after_connect and {e.ocpp_version for e in after_connect} == {"test-2"}
        await host.flush()  # into the snapshot ...
        await call(host, station, [2, "s1", "StatusNotification", STATUS])  # ... and past it
        await host.log.commit()
    finally:
        close(host)
    again = local_host(tmp_path)
    try:
        assert again.sessions["CP-V1"].state.ocpp_version == "test-2"
        # The station comes back speaking 1.6: its state says so, and so do its new events.
        back = LocalStation(again, "CP-V1", connection_id="test-9", connected_at_us=1_900_000_000_000_000)
        await booted(again, back, ocpp_version="1.6")
        assert (await again.station("CP-V1")).ocpp_version == "1.6"
        assert logged(again, "CP-V1")[-1].ocpp_version == "1.6"
    finally:
        close(again)


# --- one bad frame costs one frame (issue 10, point 7) ---------------------------------------


async def test_a_frame_whose_handling_raises_is_answered_alone_with_internal_error(tmp_path: Path, monkeypatch, caplog):
    host = local_host(tmp_path)
    try:
        bad, good = await registered(host, "CP-BAD", "CP-GOOD")
        await booted(host, bad)
        await booted(host, good)
        session = host.sessions["CP-BAD"]

        def explode(*args, **kwargs):
            raise RuntimeError("made to raise")

        monkeypatch.setattr(session, "handle", explode)
        with caplog.at_level(logging.ERROR, logger="csms.station_host"):
            replies = await batch(host, [bad.frame([2, "x1", "Heartbeat", {}]),
                                         good.frame([2, "g1", "StatusNotification", STATUS])])
        assert json.loads(replies[0].replies[0])[:3] == [4, "x1", "InternalError"]
        assert json.loads(replies[1].replies[0]) == [3, "g1", {}]
        assert host.sessions["CP-GOOD"].state.connectors[1].status == "Available"
        [record] = [r for r in caplog.records if r.getMessage().startswith("frame handling failed")]
        assert record.station_id == "CP-BAD" and record.exc_info is not None
    finally:
        close(host)


# --- issue 16, item 1 -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["Hëartbeat", "X" * 5000, "Heart\u0000beat"])
async def test_an_unknown_action_of_any_characters_is_not_implemented_and_spares_the_batch(tmp_path: Path, action):
    host = local_host(tmp_path)
    try:
        bad, good = await registered(host, "CP-U1", "CP-U2")
        await booted(host, bad)
        await booted(host, good)
        replies = await batch(host, [bad.frame([2, "u11", action, {}]), good.frame([2, "g1", "Heartbeat", {}])])
        assert json.loads(replies[0].replies[0])[:3] == [4, "u11", "NotImplemented"]
        assert json.loads(replies[1].replies[0])[:2] == [3, "g1"]
    finally:
        close(host)


async def test_a_resent_call_is_answered_the_same_and_recorded_once_even_after_a_restart(tmp_path: Path):
    host = local_host(tmp_path)
    frame = [2, "st-1", "StatusNotification", {**STATUS, "status": "Faulted", "errorCode": "GroundFailure"}]
    try:
        [station] = await registered(host, "CP-R1")
        await booted(host, station)
        first = await call(host, station, frame)
        assert await call(host, station, frame) == first
        await host.log.commit()
    finally:
        close(host)
    again = local_host(tmp_path)
    try:
        back = LocalStation(again, "CP-R1", connection_id="test-2", connected_at_us=1_900_000_000_000_000)
        [reply] = await batch(again, [back.connect_request(PASSWORD)])
        assert await call(again, back, frame) == first  # the resend after a reconnect
        inbound = [e for e in logged(again, "CP-R1") if e.direction == "in" and e.message_id == "st-1"]
        assert len(inbound) == 1
        # The same message id with another payload is a new message.
        other = [2, "st-1", "StatusNotification", {**STATUS, "status": "Available"}]
        assert (await call(again, back, other))[:2] == [3, "st-1"]
        assert again.sessions["CP-R1"].state.connectors[1].status == "Available"
    finally:
        close(again)
