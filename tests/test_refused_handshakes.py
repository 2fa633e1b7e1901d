"""Refused handshakes through the real gateway: counted, recorded per station, bounded; guessing slowed (issue 13)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
import time
import urllib.request
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PASSWORD, VIEWER_TOKEN, register_station
from tests.polling import wait_until

pytestmark = pytest.mark.ray

WRONG = "not-the-password-0000"
# Each test guesses from loopback addresses of its own (Linux routes all of 127/8 to lo), so
# the per-address backoff of one test never reaches another's, nor the suite's 127.0.0.1.
_addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(10, 250), range(2, 250)))


def new_address() -> str:
    return next(_addresses)


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    # host:port of our end, as the CSMS should see it.
    local: str


async def upgrade(ws_url: str, station_id: str, *, password: str | None = PASSWORD, subprotocols: str = "ocpp1.6",
                  source_ip: str = "127.0.0.1") -> Answer:
    """A websocket upgrade sent by hand from `source_ip`; the socket is closed after the status.
    `password` None: no Authorization header."""
    url = urlsplit(ws_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port, local_addr=(source_ip, 0))
    local = "%s:%d" % writer.get_extra_info("sockname")[:2]
    auth = ""
    if password is not None:
        auth = "Authorization: Basic " + base64.b64encode(f"{station_id}:{password}".encode()).decode() + "\r\n"
    writer.write((f"GET {url.path}/{station_id} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocols}\r\n{auth}\r\n").encode())
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    finally:
        writer.close()
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    return Answer(int(lines[0].split()[1]), headers, local)


def viewer(csms) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=csms.http_url, timeout=30, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"})


async def station_view(csms, station_id: str) -> dict:
    async with viewer(csms) as api:
        response = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 200, response.text
    assert WRONG not in response.text and PASSWORD not in response.text
    return response.json()


async def station_events(csms, station_id: str, action: str) -> list[dict]:
    async with viewer(csms) as api:
        response = await api.get(f"/api/stations/{station_id}/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    assert WRONG not in response.text and PASSWORD not in response.text
    return [e for e in response.json()["events"] if e["action"] == action]


async def refusals_reach(csms, station_id: str, reason: str, count: int | None = None) -> dict:
    async def recorded():
        refused = (await station_view(csms, station_id))["handshake_refusals"]
        if refused and refused["last_reason"] == reason and (count is None or refused["since_last_success"] == count):
            return refused
        return None

    return await wait_until(recorded, 30, f"{station_id}'s refusals to show {reason}")


async def unknown_listed(csms) -> dict[str, dict]:
    async with viewer(csms) as api:
        response = await api.get("/api/unknown-stations")
    assert response.status_code == 200, response.text
    return {s["station_id"]: s for s in response.json()["stations"]}


def handshake_counts(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ray_csms_gateway_handshakes_total{") and 'result="' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            counts[result] = counts.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def exported_metrics() -> str:
    import ray

    port = ray._private.worker.global_worker.node.metrics_export_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


# --- each refusal: its record for the station -----------------------------------------------


REASONS = ["no_subprotocol", "no_credentials", "bad_credentials", "profile_too_low"]


@pytest.mark.parametrize("reason", REASONS)
async def test_a_refused_handshake_is_recorded_for_the_station_with_its_reason_and_source(csms, station_id, reason):
    await register_station(csms, station_id, **({"security_profile": 2} if reason == "profile_too_low" else {}))
    source = new_address()
    kwargs = {"no_subprotocol": {"subprotocols": "ocpp1.5"}, "no_credentials": {"password": None},
              "bad_credentials": {"password": WRONG}, "profile_too_low": {}}[reason]
    answer = await upgrade(csms.ws_url, station_id, source_ip=source, **kwargs)
    assert answer.status == {"no_subprotocol": 400, "no_credentials": 401, "bad_credentials": 401,
                             "profile_too_low": 403}[reason]
    refused = await refusals_reach(csms, station_id, reason, count=1)
    # What a support agent asks: why, when, from where, how often since it last got in.
    assert refused["last_source_address"] == answer.local
    assert refused["last_at"].endswith("Z")
    [event] = await station_events(csms, station_id, "HandshakeRefused")
    assert event["payload"] == {"reason": reason, "source_address": answer.local,
                                "subprotocols": [kwargs.get("subprotocols", "ocpp1.6")], "refusals": 1}


async def test_a_station_that_gets_in_starts_its_count_again(csms, station_id):
    await register_station(csms, station_id)
    source = new_address()
    assert (await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=source)).status == 401
    assert (await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=source)).status == 401
    await refusals_reach(csms, station_id, "bad_credentials", count=2)
    assert (await upgrade(csms.ws_url, station_id, source_ip=source)).status == 101
    refused = await refusals_reach(csms, station_id, "bad_credentials", count=0)
    assert refused["last_source_address"].startswith(source + ":")


async def test_refusals_of_an_unknown_id_show_in_the_unknown_stations_list_with_the_reason(csms, station_id):
    source = new_address()
    assert (await upgrade(csms.ws_url, station_id, password=None, source_ip=source)).status == 401
    assert (await upgrade(csms.ws_url, station_id, password=None, source_ip=source)).status == 401

    async def listed():
        seen = (await unknown_listed(csms)).get(station_id)
        return seen if seen and seen["attempts"] == 2 else None

    seen = await wait_until(listed, 30, "the unknown id's knocks in the list")
    assert seen["last_reason"] == "no_credentials" and seen["source_address"].startswith(source + ":")
    assert (await upgrade(csms.ws_url, station_id, source_ip=source)).status == 404
    assert (await unknown_listed(csms))[station_id]["last_reason"] == "unknown_station"


# --- counted ------------------------------------------------------------------------------


async def test_every_handshake_is_counted_by_its_result(csms, station_id):
    before = handshake_counts(exported_metrics())
    await register_station(csms, station_id)
    high = f"{station_id}-p2"
    await register_station(csms, high, security_profile=2)
    source = new_address()
    statuses = [
        (await upgrade(csms.ws_url, "bad%20id", source_ip=source)).status,
        (await upgrade(csms.ws_url, station_id, subprotocols="ocpp1.5", source_ip=source)).status,
        (await upgrade(csms.ws_url, station_id, password=None, source_ip=source)).status,
        (await upgrade(csms.ws_url, f"{station_id}-unknown", source_ip=source)).status,
        (await upgrade(csms.ws_url, high, source_ip=source)).status,
        *[(await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=source)).status for _ in range(5)],
    ]
    assert statuses == [400, 400, 401, 404, 403, 401, 401, 401, 401, 429]
    expected = {"invalid_id": 1, "no_subprotocol": 1, "no_credentials": 1, "unknown_station": 1,
                "profile_too_low": 1, "bad_credentials": 4, "backoff": 1}

    def counted():
        now = handshake_counts(exported_metrics())
        grown = {result: now.get(result, 0.0) - before.get(result, 0.0) for result in expected}
        return grown if all(grown[r] >= n for r, n in expected.items()) else None

    await wait_until(counted, 60, "every result in csms_gateway_handshakes_total", interval=1.0)


# --- repeated failures: a security event -----------------------------------------------------


async def test_repeated_failed_authentications_raise_a_security_event_on_the_station(csms, station_id):
    await register_station(csms, station_id)
    # Five failures from five addresses: none of them waits (each has free failures left).
    for _ in range(5):
        assert (await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=new_address())).status == 401

    async def raised():
        return await station_events(csms, station_id, "CsmsSecurityEvent")

    [event] = await wait_until(raised, 30, "the security event")
    assert event["payload"]["type"] == "FailedToAuthenticateAtCsms" and event["payload"]["critical"] is False
    assert "5 failed authentications" in event["payload"]["tech_info"]
    assert (await station_view(csms, station_id))["handshake_refusals"]["last_security_event_at"] is not None


# --- bounded ------------------------------------------------------------------------------


async def test_a_flood_of_refusals_costs_the_station_one_event_and_a_count(csms, station_id):
    await register_station(csms, station_id)
    source = new_address()
    statuses = []
    for _ in range(4):
        answers = await asyncio.gather(*(upgrade(csms.ws_url, station_id, password=None, source_ip=source)
                                         for _ in range(50)))
        statuses.extend(a.status for a in answers)
    assert set(statuses) == {401}
    await refusals_reach(csms, station_id, "no_credentials", count=200)
    # Folded: the station's history is not pushed out of its events page by the flood.
    assert len(await station_events(csms, station_id, "HandshakeRefused")) <= 2


async def test_one_address_spraying_random_ids_records_only_a_bounded_share_of_them(csms):
    source = new_address()
    prefix = f"spray-{source.replace('.', '-')}"
    started = time.monotonic()
    answers = await asyncio.gather(*(upgrade(csms.ws_url, f"{prefix}-{k}", password=None, source_ip=source)
                                     for k in range(150)))
    elapsed = time.monotonic() - started
    assert {a.status for a in answers} == {401}

    async def flushed():
        return [i for i in await unknown_listed(csms) if i.startswith(prefix)] or None

    await wait_until(flushed, 30, "the sprayed ids' knocks")
    sprayed = [i for i in await unknown_listed(csms) if i.startswith(prefix)]
    # At most 20 new ids per address per second of knocks (serve_app/knocks.py), per gateway replica.
    replicas = csms.config.gateway_replicas
    assert len(sprayed) <= 20 * replicas * (math.ceil(elapsed) + 1), (len(sprayed), elapsed)


# --- guessing slowed ------------------------------------------------------------------------


async def test_the_legitimate_station_connects_during_a_guessing_attack_from_another_address(csms, station_id):
    await register_station(csms, station_id)
    home = new_address()
    assert (await upgrade(csms.ws_url, station_id, source_ip=home)).status == 101
    attackers = [new_address() for _ in range(4)]
    statuses = [(await upgrade(csms.ws_url, station_id, password=f"guess-{k:016d}", source_ip=attackers[k % 4])).status
                for k in range(40)]
    # Guessing is slowed: most guesses are refused before their password is checked.
    assert statuses.count(401) <= 20 and statuses.count(429) >= 20
    waiting = await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=attackers[0])
    assert waiting.status == 429 and int(waiting.headers["retry-after"]) >= 1
    # Even the right password from the guesser's address waits: the answer tells it nothing.
    assert (await upgrade(csms.ws_url, station_id, source_ip=attackers[0])).status == 429
    # The station itself, from its own address, is not locked out.
    assert (await upgrade(csms.ws_url, station_id, source_ip=home)).status == 101


async def test_the_backoff_ends_with_its_wait_and_resets_on_success(csms, station_id):
    await register_station(csms, station_id)
    source = new_address()  # a station never seen before: no trusted address yet
    assert [(await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=source)).status
            for _ in range(4)] == [401, 401, 401, 401]
    refused = await upgrade(csms.ws_url, station_id, source_ip=source)
    assert refused.status == 429 and refused.headers["retry-after"] == "1"

    async def admitted():
        return (await upgrade(csms.ws_url, station_id, source_ip=source)).status == 101

    await wait_until(admitted, 10, "the wait to end", interval=0.25)
    # The success reset it: the next failures are free again.
    assert [(await upgrade(csms.ws_url, station_id, password=WRONG, source_ip=source)).status
            for _ in range(3)] == [401, 401, 401]


# --- refusals that need TLS or a flood ------------------------------------------------------


async def test_a_certificate_for_another_station_is_recorded_as_wrong_certificate(csms, station_id):
    from tests.stations import basic_auth
    from tests.test_tls import handshake

    other = f"{station_id}-B"
    await register_station(csms, station_id)
    context = csms.pki.client_context(csms.pki.station_certificate(other))
    assert await handshake(csms.wss_url, station_id, context, headers=basic_auth(station_id)) == 403
    await refusals_reach(csms, station_id, "wrong_certificate", count=1)


async def test_a_flooder_locked_out_is_recorded_as_flood_lockout(csms, station_id):
    import json

    import websockets

    from tests.test_rate_limit import booted, raw_socket, replies_until_closed

    await register_station(csms, station_id)
    outcomes = []
    for _ in range(4):  # as in test_rate_limit: by the third attempt it meets the replica that closed it
        try:
            async with raw_socket(csms.ws_url, station_id) as ws:
                await booted(ws)
                for n in range(400):
                    await ws.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
                outcomes.append((await replies_until_closed(ws))[1])
        except websockets.InvalidStatus as refused:
            outcomes.append(refused.response.status_code)
            break  # (another flood would push the refusal out of the station's recent events)
    assert outcomes[-1] == 429, outcomes
    await refusals_reach(csms, station_id, "flood_lockout", count=1)
    refused = await station_events(csms, station_id, "HandshakeRefused")
    assert "flood_lockout" in {e["payload"]["reason"] for e in refused}


async def test_the_back_office_station_page_says_why_the_station_cannot_connect(csms, station_id):
    from tests.test_backoffice import _signin_over_http

    await register_station(csms, station_id)
    source = new_address()
    for _ in range(2):
        assert (await upgrade(csms.ws_url, station_id, subprotocols="ocpp1.5", source_ip=source)).status == 400
    await refusals_reach(csms, station_id, "no_subprotocol", count=2)
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        assert (await _signin_over_http(client, VIEWER_TOKEN)).status_code in (200, 303)
        page = await client.get(f"/station/{station_id}")
    assert page.status_code == 200
    assert '<span id="refusal-reason">no_subprotocol</span>' in page.text
    assert '<span id="refusals-since">2</span>' in page.text and f"from {source}:" in page.text
    assert "HandshakeRefused" in page.text  # in its recent events
