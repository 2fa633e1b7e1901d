"""Transport security: TLS at the ingress (OCPP 1.6 security profile 2) and client certificates
(profile 3), through the real balancer, gateway and hosts, with real TLS clients.

The session CSMS serves TLS on its main port with a test CA (tests/pki.py) and plain ws/http
on `plain_port` (csms.ws_url). Profile 3 runs alongside: a certificate naming the station
replaces Basic auth; stations without one use Basic auth over TLS (profile 2).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ssl

import httpx
import pytest
import websockets
from ocpp.v16 import call

from serve_app import tls
from tests.conftest import PASSWORD, register_station
from tests.stations import TestStation, _run, basic_auth

pytestmark = pytest.mark.ray


async def handshake(url: str, station_id: str, context: ssl.SSLContext | None, *,
                    headers: dict[str, str] | None = None, subprotocols: list[str] | None = None) -> str | int:
    """The subprotocol if the CSMS accepts the station, else the HTTP status it refused with."""
    try:
        async with websockets.connect(f"{url}/{station_id}", subprotocols=subprotocols or ["ocpp1.6"], ssl=context,
                                      additional_headers=headers or {}, open_timeout=30) as ws:
            return ws.subprotocol
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


@contextlib.asynccontextmanager
async def tls_station(csms, station_id: str, context: ssl.SSLContext, headers: dict[str, str] | None = None,
                      station_class: type[TestStation] = TestStation):
    async with websockets.connect(f"{csms.wss_url}/{station_id}", subprotocols=["ocpp1.6"], ssl=context,
                                  additional_headers=headers or {}, open_timeout=30) as ws:
        station = station_class(station_id, ws, response_timeout=15)
        task = asyncio.create_task(_run(station))
        try:
            yield station, ws
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def boot(station: TestStation) -> str:
    answer = await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
    return answer.status


# --- profile 2: TLS with Basic auth ---------------------------------------------------------------


async def test_station_boots_over_wss_with_basic_auth_and_tls_1_2_or_newer(csms, station_id):
    await register_station(csms, station_id)
    async with tls_station(csms, station_id, csms.pki.client_context(), basic_auth(station_id)) as (station, ws):
        assert await boot(station) == "Accepted"
        assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")


async def test_wrong_password_over_wss_is_401(csms, station_id):
    await register_station(csms, station_id)
    status = await handshake(csms.wss_url, station_id, csms.pki.client_context(),
                             headers=basic_auth(station_id, "not-the-password-0000"))
    assert status == 401


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_client_offering_only_tls_1_1_is_refused_by_the_server(csms, station_id):
    context = csms.pki.client_context()
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # so this client really offers TLS 1.0/1.1
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
        await handshake(csms.wss_url, station_id, context, headers=basic_auth(station_id))
    # The server's doing (asyncio aborts the socket, or its alert arrives), not this client's.
    assert isinstance(refused.value, ConnectionResetError) or "alert protocol version" in str(refused.value)


async def test_client_that_does_not_trust_the_server_certificate_cannot_connect(csms, station_id, tmp_path):
    from tests.pki import TestPki

    stranger = TestPki.create(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(csms.wss_url, station_id, stranger.client_context(), headers=basic_auth(station_id))


async def test_operator_api_is_served_over_https_on_the_same_port(csms):
    base = csms.wss_url.replace("wss://", "https://").removesuffix("/ocpp")
    async with httpx.AsyncClient(base_url=base, verify=csms.pki.client_context(), timeout=30,
                                 headers={"Authorization": f"Bearer {csms.token}"}) as api:
        assert (await api.get("/api/health")).status_code == 200
        assert (await api.get("/api/stations", params={"limit": 1})).status_code == 200


async def test_plain_port_is_not_tls_and_tls_port_is_not_plain(csms, station_id):
    await register_station(csms, station_id)
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == "ocpp1.6"
    # Plain HTTP to the TLS port is not answered as HTTP.
    plain_to_tls = csms.wss_url.replace("wss://", "ws://")
    with pytest.raises((websockets.InvalidMessage, websockets.InvalidStatus, OSError, EOFError)):
        await handshake(plain_to_tls, station_id, None, headers=basic_auth(station_id))


# --- profile 3: client certificates -------------------------------------------------------------


async def test_station_with_a_certificate_naming_it_in_the_cn_boots_without_basic_auth(csms, station_id):
    await register_station(csms, station_id)
    context = csms.pki.client_context(csms.pki.station_certificate(station_id))
    async with tls_station(csms, station_id, context) as (station, _):
        assert await boot(station) == "Accepted"


async def test_station_named_by_a_dns_subject_alt_name_is_accepted(csms, station_id):
    await register_station(csms, station_id)
    context = csms.pki.client_context(csms.pki.station_certificate("maker-serial-0042", dns=[station_id]))
    assert await handshake(csms.wss_url, station_id, context) == "ocpp1.6"


async def test_certificate_for_another_station_is_403_even_with_that_stations_password(csms, station_id):
    other = f"{station_id}-B"
    await register_station(csms, station_id)
    await register_station(csms, other)
    context = csms.pki.client_context(csms.pki.station_certificate(other))
    assert await handshake(csms.wss_url, station_id, context, headers=basic_auth(station_id)) == 403


async def test_certificate_of_an_unknown_station_is_404(csms, station_id):
    context = csms.pki.client_context(csms.pki.station_certificate(station_id))
    assert await handshake(csms.wss_url, station_id, context) == 404


async def test_certificate_from_another_ca_fails_the_tls_handshake(csms, station_id, tmp_path):
    from tests.pki import CertificateAuthority

    await register_station(csms, station_id)
    rogue = CertificateAuthority.create(tmp_path, "rogue CA")
    context = csms.pki.client_context(rogue.issue(tmp_path, station_id))
    with pytest.raises((ssl.SSLError, OSError, websockets.InvalidMessage, EOFError)):
        await handshake(csms.wss_url, station_id, context)


async def test_no_certificate_over_tls_needs_basic_auth(csms, station_id):
    await register_station(csms, station_id)
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context()) == 401
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context(),
                           headers=basic_auth(station_id)) == "ocpp1.6"


def forged(station_id: str, secret: str = "guessed-secret") -> dict[str, str]:
    return {"X-Csms-Client-Cert-Identity": station_id, "X-Csms-Ingress-Secret": secret}


async def test_forged_identity_headers_over_a_plain_connection_do_not_authenticate(csms, station_id):
    await register_station(csms, station_id)
    assert await handshake(csms.ws_url, station_id, None, headers=forged(station_id)) == 401
    assert await handshake(csms.ws_url, station_id, None, headers=forged(station_id, "")) == 401
    # Without the secret the identity header is removed, so it cannot ride on valid Basic auth
    # of another station either.
    other = f"{station_id}-B"
    await register_station(csms, other)
    assert await handshake(csms.ws_url, station_id, None, headers={**forged(station_id), **basic_auth(other)}) == 401


async def test_terminator_in_front_with_the_secret_forwards_a_verified_identity(csms, station_id):
    # The documented path for TLS ended elsewhere (docs/security.md): a terminator that holds
    # the deployment's secret sends the identity it verified, over the plain port.
    await register_station(csms, station_id)
    secret = csms.config.ingress_identity_secret
    assert await handshake(csms.ws_url, station_id, None, headers=forged(station_id, secret)) == "ocpp1.6"
    assert await handshake(csms.ws_url, station_id, None, headers=forged("CP-someone-else", secret)) == 403
    lower = {k.lower(): v for k, v in forged(station_id, secret).items()}
    assert await handshake(csms.ws_url, station_id, None, headers=lower) == "ocpp1.6"


async def test_forged_identity_header_over_tls_cannot_widen_a_real_certificate(csms, station_id):
    other = f"{station_id}-B"
    await register_station(csms, station_id)
    context = csms.pki.client_context(csms.pki.station_certificate(other))
    headers = forged(f"{station_id},{other}", csms.config.ingress_identity_secret)
    assert await handshake(csms.wss_url, station_id, context, headers=headers) == 403


async def test_folded_header_lines_are_refused_by_the_balancer(csms, station_id):
    reader, writer = await asyncio.open_connection("127.0.0.1", int(csms.ws_url.split(":")[2].split("/")[0]))
    try:
        writer.write(f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"
                     f" X-Csms-Client-Cert-Identity: {station_id}\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.startswith(b"HTTP/1.1 400")
    finally:
        writer.close()


# --- the pure parts -----------------------------------------------------------------------------


def test_rewrite_head_removes_client_sent_identity_headers_in_any_case():
    head = (b"GET /ocpp/CP1 HTTP/1.1\r\nHost: x\r\nX-CSMS-Client-Cert-Identity: CP1\r\n"
            b"x-csms-ingress-secret: guess\r\nUpgrade: websocket\r\n\r\n")
    out = tls.rewrite_head(head, "s", [])
    assert b"identity" not in out.lower() and b"secret" not in out.lower()
    assert out.startswith(b"GET /ocpp/CP1 HTTP/1.1\r\nHost: x\r\n") and out.endswith(b"Upgrade: websocket\r\n\r\n")


def test_rewrite_head_sets_identity_and_secret_for_a_verified_certificate():
    out = tls.rewrite_head(b"GET /ocpp/CP1 HTTP/1.1\r\nHost: x\r\n\r\n", "s3cret", ["CP1", "alias"])
    headers = dict(line.split(": ", 1) for line in out.decode().split("\r\n")[1:] if line)
    assert tls.forwarded_identity({k.lower(): v for k, v in headers.items()}, "s3cret") == {"CP1", "alias"}
    assert tls.forwarded_identity({k.lower(): v for k, v in headers.items()}, "other") == frozenset()


def test_rewrite_head_prefers_its_own_verified_certificate_over_a_forwarded_identity():
    head = b"GET /ocpp/CP1 HTTP/1.1\r\nX-Csms-Client-Cert-Identity: CP1\r\nX-Csms-Ingress-Secret: s\r\n\r\n"
    out = tls.rewrite_head(head, "s", ["CP2"])
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in out.decode().split("\r\n")[1:] if line)}
    assert tls.forwarded_identity(headers, "s") == {"CP2"}
    assert out.lower().count(b"x-csms-client-cert-identity") == 1


@pytest.mark.parametrize("line", [b" folded: x", b"\tfolded", b"no-colon", b"space-before-colon : x", b": empty-name",
                                  b"X-A: 1\nX-Csms-Client-Cert-Identity: CP2", b"X-A: 1\rX-B: 2", b"X-A: \x00"])
def test_rewrite_head_refuses_header_lines_that_could_smuggle(line):
    with pytest.raises(tls.BadHead):
        tls.rewrite_head(b"GET / HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n", "s", [])


def test_identity_or_secret_header_sent_twice_is_not_trusted():
    from starlette.datastructures import Headers

    twice = Headers(raw=[(b"x-csms-ingress-secret", b"s"), (b"x-csms-client-cert-identity", b"CP2"),
                         (b"x-csms-client-cert-identity", b"CP1")])
    assert tls.forwarded_identity(twice, "s") == frozenset()
    once = Headers(raw=[(b"x-csms-ingress-secret", b"s"), (b"x-csms-client-cert-identity", b"CP1")])
    assert tls.forwarded_identity(once, "s") == {"CP1"}


async def test_bare_lf_cannot_smuggle_an_identity_next_to_a_real_certificate(csms, station_id):
    other = f"{station_id}-B"
    await register_station(csms, station_id)
    await register_station(csms, other)
    context = csms.pki.client_context(csms.pki.station_certificate(other))
    port = int(csms.wss_url.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
    try:
        writer.write(f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
                     f"X-A: 1\nX-Csms-Client-Cert-Identity: {station_id}\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.startswith(b"HTTP/1.1 400"), status_line
    finally:
        writer.close()


def test_certificate_names_are_cn_and_dns_sans_that_are_valid_station_ids():
    peercert = {
        "subject": ((("countryName", "DE"),), (("commonName", "CP-1"),)),
        "subjectAltName": (("DNS", "cp-1.example"), ("IP Address", "10.0.0.1"), ("DNS", "bad,name"), ("DNS", "CP-1")),
    }
    assert tls.certificate_names(peercert) == ["CP-1", "cp-1.example"]
    assert tls.certificate_names(None) == [] and tls.certificate_names({}) == []


def test_server_context_refuses_anything_older_than_tls_1_2(csms):
    context = tls.server_context(str(csms.pki.server_cert), str(csms.pki.server_key), str(csms.pki.ca.cert_file))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL


def test_config_repr_never_shows_tokens_or_the_ingress_secret():
    from actors.config import ApiToken, Config

    config = Config(api_tokens=["tok-aaaa-1111", ApiToken(token="tok-bbbb-2222", role="viewer")],
                    ingress_identity_secret="sec-cccc-3333")
    for text in (repr(config), str(config), f"{config}"):
        assert "tok-aaaa" not in text and "tok-bbbb" not in text and "sec-cccc" not in text
        assert "port=8000" in text
