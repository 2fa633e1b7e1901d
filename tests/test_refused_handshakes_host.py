"""Refused handshakes in a real StationHost without Ray (tests/local_host.py): what it answers, keeps and logs."""

from __future__ import annotations

import itertools

import msgspec

from actors import events as ev
from actors.host_protocol import Connect, Knock, encode_knocks
from actors.passwords import hash_password
from actors.station_state import Registration
from tests.local_host import batch, close, local_host

PASSWORD = b"host-refusals-password-0"
WRONG = b"not-the-password-000000"
T0 = 1_800_000_000_000_000
_n = itertools.count(1)


def connect(station_id: str, password: bytes | None, source: str = "198.51.100.7:4000", presented: int = 1) -> Connect:
    n = next(_n)
    return Connect(station_id, f"c-{n}", T0 + n, password, source_address=source, subprotocols=("ocpp1.6",),
                   security_profile=presented)


async def statuses(host, requests: list[Connect]) -> list[str]:
    return [(await batch(host, [request]))[0].connect_status for request in requests]


async def test_with_hidden_registrations_an_unknown_id_meets_the_same_backoff_and_profile_as_a_registered_one(tmp_path):
    host = local_host(tmp_path, hide_registrations=True, min_security_profile=0)
    try:
        await host.register("CP-REG", Registration(password_hash=hash_password(PASSWORD)))
        registered = await statuses(host, [connect("CP-REG", WRONG) for _ in range(5)])
        unknown = await statuses(host, [connect("CP-NONE", WRONG) for _ in range(5)])
        # The gateway answers bad_credentials and (hidden) unknown_station both with 401.
        assert registered == ["bad_credentials"] * 4 + ["backoff"]
        assert unknown == ["unknown_station"] * 4 + ["backoff"]
    finally:
        close(host)
    strict = local_host(tmp_path / "strict", hide_registrations=True, min_security_profile=2)
    try:
        await strict.register("CP-REG", Registration(password_hash=hash_password(PASSWORD)))
        assert await statuses(strict, [connect("CP-REG", PASSWORD), connect("CP-NONE", PASSWORD)]) == [
            "profile_too_low", "profile_too_low"]
    finally:
        close(strict)


async def test_unknown_ids_are_not_slowed_when_registrations_are_shown(tmp_path):
    host = local_host(tmp_path)
    try:
        assert await statuses(host, [connect("CP-NONE", WRONG) for _ in range(8)]) == ["unknown_station"] * 8
    finally:
        close(host)


async def test_the_security_event_is_logged_and_the_refusals_are_not(tmp_path):
    host = local_host(tmp_path, auth_failures_for_event=3)
    try:
        await host.register("CP-1", Registration(password_hash=hash_password(PASSWORD)))
        sources = [f"203.0.113.{k}:5000" for k in range(3)]
        assert await statuses(host, [connect("CP-1", WRONG, source) for source in sources]) == ["bad_credentials"] * 3
        _, recent = await host.recent_events("CP-1", 0, 50)
        assert [e.action for e in recent if e.message_type == "SESSION"][:2] == [ev.CSMS_SECURITY_EVENT,
                                                                                ev.HANDSHAKE_REFUSED]
        assert all(WRONG.decode() not in e.payload and PASSWORD.decode() not in e.payload for e in recent)
        await host.log.commit()  # (no snapshot: the restart replays the log, recent events included)
    finally:
        close(host)
    again = local_host(tmp_path)
    try:
        _, recent = await again.recent_events("CP-1", 0, 50)
        actions = [e.action for e in recent]
        assert actions.count(ev.CSMS_SECURITY_EVENT) == 1 and ev.HANDSHAKE_REFUSED not in actions
        [security] = [e for e in recent if e.action == ev.CSMS_SECURITY_EVENT]
        assert msgspec.json.decode(security.payload)["source_address"] == sources[-1]
        # The restarted host's memory starts afresh; the station connects as before.
        assert (await again.station("CP-1")).handshake_refusals is None
        assert await statuses(again, [connect("CP-1", PASSWORD)]) == ["accepted"]
    finally:
        close(again)


async def test_knocks_are_recorded_for_registered_and_unknown_ids_alike(tmp_path):
    host = local_host(tmp_path)
    try:
        await host.register("CP-1", Registration(password_hash=hash_password(PASSWORD)))
        await host.knocks(encode_knocks([
            Knock("CP-1", "no_subprotocol", T0, "10.0.0.1:1", ("ocpp1.5",), 7),
            Knock("CP-NEW", "no_credentials", T0, "10.0.0.2:1", ("ocpp1.6",), 3),
        ]))
        refused = (await host.station("CP-1")).handshake_refusals
        assert (refused.last_reason, refused.since_last_success, refused.last_source_address) == (
            "no_subprotocol", 7, "10.0.0.1:1")
        [unknown] = await host.unknown()
        assert (unknown.station_id, unknown.attempts, unknown.last_reason) == ("CP-NEW", 3, "no_credentials")
        # Seven failed authentications folded into one knock raise the security event too.
        await host.knocks(encode_knocks([Knock("CP-1", "no_credentials", T0 + 1, None, (), 7)]))
        _, recent = await host.recent_events("CP-1", 0, 10)
        assert ev.CSMS_SECURITY_EVENT in [e.action for e in recent]
        # A deregistered station's record goes with it.
        await host.deregister("CP-1")
        await host.register("CP-1", Registration(password_hash=hash_password(PASSWORD)))
        assert (await host.station("CP-1")).handshake_refusals is None
    finally:
        close(host)
