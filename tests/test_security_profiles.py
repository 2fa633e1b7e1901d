"""Security profiles enforced (OCPP 1.6 security whitepaper edition 3, sections 2-3; OCTT TC_083):
a handshake below the station's profile is refused on whatever port it arrives, through the
real balancer (TLS on the main port, plain ws on `plain_port`), gateway and hosts. A raise the
station accepted is enforced from its first handshake that proves it (1.6 whitepaper A05,
2.0.1 A05.FR.04); until then it may come back on its old profile."""

from __future__ import annotations

import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

import msgspec

from actors import events as ev
from actors.protocol import Policy
from actors.security_profiles import (
    below_required,
    confirms_pending,
    new_security_profile_16,
    pending_after_accept,
    presented_profile,
)
from actors.station_session import StationSession
from actors.station_state import Registration
from tests.commanded_201 import answered, online_201
from tests.test_compliance_16 import events
from tests.conftest import register_station
from tests.polling import wait_until
from tests.stations import TestStation, basic_auth
from tests.test_tls import handshake, tls_station
from tests.worker_logs import json_lines

pytestmark = pytest.mark.ray


class ProfileChangingStation(TestStation):
    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        return call_result.ChangeConfiguration(status="Accepted")


async def _station(csms, station_id: str) -> dict:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def _set_profile_by_command(csms, station_id: str, profile: int) -> None:
    """The station, on TLS with Basic auth, accepts ChangeConfiguration SecurityProfile."""
    context = csms.pki.client_context()
    async with tls_station(csms, station_id, context, basic_auth(station_id), ProfileChangingStation) as (station, _):
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        async with csms.api() as api:
            response = await api.post(f"/api/stations/{station_id}/commands/ChangeConfiguration",
                                      json={"key": "SecurityProfile", "value": str(profile)})
        assert response.status_code == 200 and response.json()["response"] == {"status": "Accepted"}, response.text


async def _profile_events(csms, station_id: str, action: str) -> list[dict]:
    return [e for e in await events(csms, station_id) if e["action"] == action]


async def test_TC_083_after_accepting_profile_2_plain_ws_with_basic_auth_is_refused(csms, station_id):
    """The accepted raise is pending until the station connects on TLS; meanwhile it may come
    back on plain ws (recorded), and once it connected on TLS plain ws is refused (step 12)."""
    await register_station(csms, station_id)
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == "ocpp1.6"
    await _set_profile_by_command(csms, station_id, 2)
    shown = await _station(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (0, 2)
    # It could not connect with the new profile and fell back to the old one: accepted, recorded.
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == "ocpp1.6"
    [fallback] = await _profile_events(csms, station_id, ev.SECURITY_PROFILE_FALLBACK)
    assert fallback["payload"] == {"presented_profile": 1, "pending_profile": 2, "enforced_profile": 0}
    assert (await _station(csms, station_id))["security_profile_pending"] == 2
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context(),
                           headers=basic_auth(station_id)) == "ocpp1.6"
    shown = await _station(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (2, None)
    assert len(await _profile_events(csms, station_id, ev.SECURITY_PROFILE_CONFIRMED)) == 1
    # TC_083 step 12: the Central System shall not accept the connection attempt.
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == 403
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context(),
                           headers=basic_auth(station_id)) == "ocpp1.6"


async def test_a_2_0_1_network_profile_raise_is_enforced_once_the_station_connects_with_it(csms, station_id):
    """A05.FR.04 / TC_A_19: SetNetworkProfile with securityProfile 2 Accepted, the station still
    on plain ws (its old slot first, or its fallback, B10), then on TLS: from then on plain ws is 403."""
    v201 = ["ocpp2.0.1"]
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        assert await answered(csms, station_id, "SetNetworkProfile", {"configurationSlot": 2, "connectionData": {
            "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": f"{csms.wss_url}/",
            "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}}) == {"status": "Accepted"}
    shown = await _station(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (0, 2)
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id),
                           subprotocols=v201) == "ocpp2.0.1"
    assert len(await _profile_events(csms, station_id, ev.SECURITY_PROFILE_FALLBACK)) == 1
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context(), headers=basic_auth(station_id),
                           subprotocols=v201) == "ocpp2.0.1"
    shown = await _station(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (2, None)
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id), subprotocols=v201) == 403


async def test_a_station_cannot_lower_its_own_profile(csms, station_id):
    await register_station(csms, station_id, security_profile=2)
    await _set_profile_by_command(csms, station_id, 1)
    assert (await _station(csms, station_id))["security_profile"] == 2
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == 403


async def test_an_operators_profile_is_enforced_at_once_and_settles_a_pending_raise(csms, station_id):
    await register_station(csms, station_id)
    await _set_profile_by_command(csms, station_id, 2)
    assert (await _station(csms, station_id))["security_profile_pending"] == 2
    await register_station(csms, station_id, security_profile=2)
    shown = await _station(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (2, None)
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == 403


async def test_registered_profile_3_refuses_basic_auth_over_tls_and_takes_a_certificate(csms, station_id):
    await register_station(csms, station_id, security_profile=3)
    assert (await _station(csms, station_id))["security_profile"] == 3
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context(),
                           headers=basic_auth(station_id)) == 403
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == 403
    certified = csms.pki.client_context(csms.pki.station_certificate(station_id))
    assert await handshake(csms.wss_url, station_id, certified) == "ocpp1.6"


async def test_an_admin_may_lower_the_profile_and_re_registering_without_it_keeps_it(csms, station_id):
    await register_station(csms, station_id, security_profile=2)
    await register_station(csms, station_id, site="depot")  # no security_profile: kept
    assert (await _station(csms, station_id))["security_profile"] == 2
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == 403
    await register_station(csms, station_id, security_profile=1)
    assert (await _station(csms, station_id))["security_profile"] == 1
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == "ocpp1.6"

    def lowered() -> list[dict]:
        return [line for line in json_lines() if line.get("station_id") == station_id
                and line.get("msg") == "security profile lowered by an operator"]

    await wait_until(lambda: lowered(), 30, "the operator's downgrade in the host's log")
    assert [(line["from_profile"], line["to_profile"]) for line in lowered()] == [(2, 1)]


@pytest.mark.parametrize("profile", [-1, 4, "2"])
async def test_security_profile_outside_0_to_3_is_422(csms, station_id, profile):
    async with csms.api() as api:
        response = await api.put(f"/api/stations/{station_id}",
                                 json={"password": "a-password-of-20-chars", "security_profile": profile})
    assert response.status_code == 422


def test_presented_profile_is_what_the_transport_and_credential_prove():
    assert presented_profile(over_tls=False, certificate=False) == 1
    assert presented_profile(over_tls=True, certificate=False) == 2
    assert presented_profile(over_tls=True, certificate=True) == 3


def test_the_fleet_minimum_and_the_station_profile_both_bind():
    assert not below_required(1, station_profile=0, fleet_minimum=0)
    assert below_required(1, station_profile=0, fleet_minimum=2)
    assert below_required(2, station_profile=3, fleet_minimum=0)
    assert not below_required(3, station_profile=2, fleet_minimum=1)


def test_an_accepted_raise_is_pending_and_a_station_never_moves_down():
    assert pending_after_accept(1, None, 2) == 2
    assert pending_after_accept(1, 3, 2) == 2  # its newest accepted profile is the one it tries
    assert pending_after_accept(2, None, 1) is None  # below the enforced one: ignored
    assert pending_after_accept(1, 3, 1) is None  # back to the enforced one: no raise under way
    assert pending_after_accept(2, 3, None) == 3  # not a profile command


def test_a_handshake_confirms_the_pending_profile_only_if_it_proves_it():
    assert confirms_pending(2, 2) and confirms_pending(3, 2)
    assert not confirms_pending(1, 2)


def _accept_profile_2(session: StationSession, now_us: int) -> list:
    """A pure session: the station accepts ChangeConfiguration SecurityProfile 2 (our CALL, its CALLRESULT)."""
    command = session.queue_command("ChangeConfiguration", '{"key":"SecurityProfile","value":"2"}',
                                    '{"key":"SecurityProfile","value":"2"}')
    assert command is not None
    _frame, sent = session.next_command(now_us)
    outcome = session.handle(f'[3,"{command.message_id}",{{"status":"Accepted"}}]', now_us + 1, {})
    return [sent, *outcome.events]


async def test_the_pending_profile_confirmed_by_a_handshake_replays_to_the_same_state():
    # async: the session's mailbox completes its callers' futures on the running loop
    session = StationSession("CP-PENDING", Policy())
    log = [session.register(Registration(password_hash="h", security_profile=1), 1)]
    log.append(session.connect("c-1", 2, 2))
    log.extend(_accept_profile_2(session, 3))
    assert (session.state.registration.security_profile, session.state.registration.security_profile_pending) == (1, 2)
    log.append(session.connect("c-2", 10, 10))
    fallback = session.profile_handshake(1, "c-2", 10)
    assert fallback is not None and fallback.action == ev.SECURITY_PROFILE_FALLBACK
    assert session.state.registration.security_profile_pending == 2
    log.append(fallback)
    log.append(session.connect("c-3", 20, 20))
    confirmed = session.profile_handshake(2, "c-3", 20)
    assert confirmed is not None and confirmed.action == ev.SECURITY_PROFILE_CONFIRMED
    log.append(confirmed)
    assert (session.state.registration.security_profile, session.state.registration.security_profile_pending) == (2, None)
    assert session.profile_handshake(2, "c-3", 21) is None  # nothing pending any more
    replayed = StationSession("CP-PENDING", Policy())
    for event in log:
        replayed.apply(event)
    assert msgspec.msgpack.encode(replayed.state) == msgspec.msgpack.encode(session.state)


def test_a_snapshot_from_before_pending_profiles_decodes_with_none_pending():
    old = msgspec.msgpack.encode({"password_hash": "h", "security_profile": 2})
    assert msgspec.msgpack.decode(old, type=Registration).security_profile_pending is None


@pytest.mark.parametrize(("key", "value", "status", "expected"), [
    ("SecurityProfile", "2", "Accepted", 2), ("securityprofile", "3", "RebootRequired", 3),
    ("SecurityProfile", "2", "Rejected", None), ("SecurityProfile", "7", "Accepted", None),
    ("SecurityProfile", "two", "Accepted", None), ("HeartbeatInterval", "2", "Accepted", None),
])
def test_the_profile_a_16_station_accepted(key, value, status, expected):
    request = f'{{"key": "{key}", "value": "{value}"}}'
    assert new_security_profile_16("ChangeConfiguration", request, f'{{"status": "{status}"}}') == expected


async def test_a_restarted_host_keeps_the_profile_and_the_fleet_minimum_binds_everyone(tmp_path):
    """A real StationHost without Ray (tests/local_host.py): the profile is in the logged
    registration, so a restart keeps it; `min_security_profile` raises every station."""
    from actors.host_protocol import Connect
    from actors.passwords import hash_password
    from actors.station_state import Registration
    from tests.local_host import batch, close, local_host

    password = b"profile-host-test-password"

    def connect(n: int, presented: int) -> Connect:
        return Connect("CP-SP", f"c-{n}", 1_800_000_000_000_000 + n, password, security_profile=presented)

    host = local_host(tmp_path)
    try:
        await host.register("CP-SP", Registration(password_hash=hash_password(password)), 2)
        await host.log.commit()
    finally:
        close(host)
    again = local_host(tmp_path)
    try:
        [refused, accepted] = [(await batch(again, [connect(n, p)]))[0] for n, p in ((1, 1), (2, 2))]
        assert (refused.connect_status, accepted.connect_status) == ("profile_too_low", "accepted")
    finally:
        close(again)
    strict = local_host(tmp_path, min_security_profile=3)
    try:
        [reply] = await batch(strict, [connect(3, 2)])
        assert reply.connect_status == "profile_too_low"
    finally:
        close(strict)


async def test_a_restarted_host_keeps_a_pending_raise_and_a_confirmed_profile(tmp_path):
    """A real StationHost without Ray: the pending profile is logged with the station's answer,
    the confirmation with the handshake that proved it, so a restart keeps each."""
    from actors.host_protocol import Connect
    from tests.local_host import batch, close, local_host
    from tests.test_station_certificates import PASSWORD, booted, commanded, view

    def connect(n: int, presented: int) -> Connect:
        return Connect("CP-CERT", f"test-{n}", 1_800_000_000_000_000 + n, PASSWORD, security_profile=presented)

    host = local_host(tmp_path)
    try:
        station = await booted(host)
        assert await commanded(host, station, "ChangeConfiguration", {"key": "SecurityProfile", "value": "2"},
                               {"status": "Accepted"}) == {"status": "Accepted"}
        await host.log.commit()
    finally:
        close(host)
    again = local_host(tmp_path)
    try:
        assert (view(again).security_profile, view(again).security_profile_pending) == (0, 2)
        [fallback] = await batch(again, [connect(1, 1)])
        assert fallback.connect_status == "accepted"
        [confirmed] = await batch(again, [connect(2, 2)])
        assert confirmed.connect_status == "accepted"
        # Durable before the station was told it got in, not only at the next group commit.
        assert again.log.durable_seq == again.log.last_seq
    finally:
        close(again)
    last = local_host(tmp_path)
    try:
        assert (view(last).security_profile, view(last).security_profile_pending) == (2, None)
        [refused] = await batch(last, [connect(3, 1)])
        assert refused.connect_status == "profile_too_low"
    finally:
        close(last)
