"""The station CA (OCPP 1.6 security whitepaper sections 2.6.1, A02/A03): CSR checks, signing, the data root's CA store, and the external CA hook against a real aiohttp server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import multiprocessing
import stat

import aiohttp
import msgspec
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from actors import certificate_authority as ca_
from actors import certificate_store, external_ca
from actors.config import Config
from tests.csr import csr_pem, station_key

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def authority() -> ca_.CertificateAuthority:
    return ca_.new_authority(common_name="Test station CA", organization="Test CPO", validity_days=30, now=NOW)


# --- CSR checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec-p256", "ec-p384", "rsa-2048"])
def test_a_csr_with_an_accepted_key_naming_the_station_passes(kind):
    assert ca_.check_csr(csr_pem(station_key(kind), "CP-1"), "CP-1", "Test CPO").refusal is None


@pytest.mark.parametrize(("kind", "why"), [("rsa-1024", "at least 2048"), ("ec-p521", "secp521r1 not accepted")])
def test_a_weak_or_unaccepted_key_is_refused(kind, why):
    assert why in ca_.check_csr(csr_pem(station_key(kind), "CP-1"), "CP-1", "").refusal


def test_the_cn_must_be_the_station_id():
    refusal = ca_.check_csr(csr_pem(station_key(), "CP-2"), "CP-1", "").refusal
    assert "CN must be the station id 'CP-1'" in refusal


def test_the_o_must_be_the_configured_organisation_when_one_is_configured():
    csr = csr_pem(station_key(), "CP-1", organization="Other CPO")
    assert "O must be the configured organisation 'Test CPO'" in ca_.check_csr(csr, "CP-1", "Test CPO").refusal
    assert ca_.check_csr(csr, "CP-1", "").refusal is None


def test_text_that_is_not_a_csr_is_refused():
    assert "not a PEM-encoded PKCS#10" in ca_.check_csr("hello", "CP-1", "").refusal


def test_a_csr_whose_signature_does_not_verify_is_refused():
    der = bytearray(x509.load_pem_x509_csr(csr_pem(station_key("rsa-2048"), "CP-1").encode())
                    .public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + \
          "-----END CERTIFICATE REQUEST-----\n"
    assert ca_.check_csr(pem, "CP-1", "").refusal == "the CSR's signature does not verify"


# --- signing -------------------------------------------------------------------------------------


def test_a_signed_certificate_is_a_client_certificate_for_the_station_chained_to_the_ca(authority):
    key = station_key()
    checked = ca_.check_csr(csr_pem(key, "CP-1"), "CP-1", "Test CPO")
    chain, facts = ca_.sign(checked, authority, validity_days=365, now=NOW)
    leaf, root = ca_.chain_certificates(chain)
    root_cert = x509.load_pem_x509_certificate(authority.certificate_pem.encode())
    assert root == root_cert
    leaf.verify_directly_issued_by(root_cert)
    assert facts.subject_cn == "CP-1" and facts.fingerprint_sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert facts.not_after_us == int((NOW + datetime.timedelta(days=365)).timestamp() * 1_000_000)
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    # A00.FR.505-506: ECDSA over SHA-256.
    assert isinstance(leaf.signature_algorithm_parameters, ec.ECDSA) and leaf.signature_hash_algorithm.name == "sha256"


def test_a_refused_csr_is_never_signed(authority):
    with pytest.raises(ValueError):
        ca_.sign(ca_.CheckedCsr("no"), authority, validity_days=1, now=NOW)


def test_the_authority_never_shows_its_key_in_its_repr(authority):
    assert "PRIVATE" not in repr(authority) and authority.key_pem not in repr(authority)


# --- the store in the data root ----------------------------------------------------------------


def test_the_own_ca_is_made_once_per_data_root_with_its_key_0600(tmp_path):
    config = Config(data_root=str(tmp_path), station_certificate_organization="Test CPO")
    first = certificate_store.load_authority(config)
    key_file = tmp_path / "station-ca" / "ca.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = certificate_store.load_authority(config)
    assert again == first
    assert certificate_store.trusted_certificate_pem(config) == first.certificate_pem
    ca_.check_authority(first)


def _load_in_child(root: str, queue) -> None:
    queue.put(certificate_store.load_authority(Config(data_root=root)).certificate_pem)


def test_processes_racing_to_make_the_ca_end_with_one(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [context.Process(target=_load_in_child, args=(str(tmp_path), queue)) for _ in range(4)]
    for child in children:
        child.start()
    made = {queue.get(timeout=60) for _ in children}
    for child in children:
        child.join(30)
    assert len(made) == 1
    assert made == {certificate_store.load_authority(Config(data_root=str(tmp_path))).certificate_pem}
    assert [p.name for p in tmp_path.iterdir()] == ["station-ca"]  # no staging directory left


def test_the_operators_ca_files_are_used_and_checked(tmp_path, authority):
    cert, key = tmp_path / "ca.crt", tmp_path / "ca.key"
    cert.write_text(authority.certificate_pem)
    key.write_text(authority.key_pem)
    config = Config(data_root=str(tmp_path / "root"), station_ca_cert_file=str(cert), station_ca_key_file=str(key))
    assert certificate_store.load_authority(config) == authority
    other = ca_.new_authority(common_name="x", organization="", validity_days=1, now=NOW)
    key.write_text(other.key_pem)
    with pytest.raises(ValueError, match="does not belong"):
        certificate_store.load_authority(config)


def test_an_external_or_no_ca_means_no_own_ca(tmp_path):
    for settings in ({"station_ca": "external", "station_ca_url": "https://ca.example/sign"}, {"station_ca": "off"}):
        assert certificate_store.load_authority(Config(data_root=str(tmp_path), **settings)) is None
    assert not (tmp_path / "station-ca").exists()
    with pytest.raises(ValueError, match="needs station_ca_url"):
        certificate_store.load_authority(Config(data_root=str(tmp_path), station_ca="external"))


# --- the external CA hook ------------------------------------------------------------------------


class ExternalCaServer:
    """A real HTTP server playing the external CA: signs with its own CA, or fails as told."""

    def __init__(self, authority: ca_.CertificateAuthority) -> None:
        self.authority = authority
        self.behaviour: str | int = "sign"
        self.received: list[tuple[dict, str | None]] = []
        self.url = ""
        self.released = asyncio.Event()  # ends a "hang" (set when the server stops)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append((body, request.headers.get("Authorization")))
        if self.behaviour == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), 30)
        if isinstance(self.behaviour, int):
            return web.Response(status=self.behaviour)
        if self.behaviour == "garbage":
            return web.json_response({"chain": "x"})
        checked = ca_.check_csr(body["csr"], body["station_id"], "")
        chain, _ = ca_.sign(checked, self.authority, validity_days=90, now=NOW)
        return web.json_response({"certificate_chain": chain})


@contextlib.asynccontextmanager
async def external_ca_server(authority: ca_.CertificateAuthority):
    server = ExternalCaServer(authority)
    app = web.Application()
    app.router.add_post("/sign", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/sign"
    try:
        yield server
    finally:
        server.released.set()
        await runner.cleanup()


async def test_the_external_ca_gets_the_csr_and_its_chain_comes_back(authority, monkeypatch):
    monkeypatch.setenv(external_ca.TOKEN_ENV, "ca-token-123")
    csr = csr_pem(station_key(), "CP-9")
    async with external_ca_server(authority) as server, aiohttp.ClientSession() as session:
        chain = await external_ca.request_chain(session, server.url, "CP-9", csr, 5.0)
    assert ca_.leaf_facts(chain).subject_cn == "CP-9"
    assert server.received == [({"station_id": "CP-9", "csr": csr}, "Bearer ca-token-123")]
    assert ca_.chain_matches(chain, ca_.check_csr(csr, "CP-9", ""), "CP-9") is None


@pytest.mark.parametrize(("behaviour", "reason"), [
    (503, "answered HTTP 503"), ("garbage", "off contract"), ("hang", "did not answer within 0.5 s"),
])
async def test_an_external_ca_that_fails_is_asked_once_and_says_why(authority, behaviour, reason):
    async with external_ca_server(authority) as server, aiohttp.ClientSession() as session:
        server.behaviour = behaviour
        with pytest.raises(external_ca.ExternalCaFailed, match=reason):
            await external_ca.request_chain(session, server.url, "CP-9", csr_pem(station_key(), "CP-9"), 0.5)
        assert len(server.received) == 1  # never retried: signing is not idempotent


async def test_an_unreachable_external_ca_is_a_failure_not_a_crash():
    async with aiohttp.ClientSession() as session:
        with pytest.raises(external_ca.ExternalCaFailed, match="could not be reached"):
            await external_ca.request_chain(session, "http://127.0.0.1:9/sign", "CP-9", "csr", 2.0)


def test_a_chain_for_another_key_or_station_is_not_accepted_from_an_external_ca(authority):
    csr = csr_pem(station_key(), "CP-9")
    other_chain, _ = ca_.sign(ca_.check_csr(csr_pem(station_key(), "CP-9"), "CP-9", ""), authority,
                              validity_days=1, now=NOW)
    assert "does not hold the key" in ca_.chain_matches(other_chain, ca_.check_csr(csr, "CP-9", ""), "CP-9")
    assert "not a PEM certificate chain" in ca_.chain_matches("nope", ca_.check_csr(csr, "CP-9", ""), "CP-9")


def test_signing_answer_contract_is_typed():
    assert msgspec.json.decode(b'{"certificate_chain": "x"}', type=external_ca.SigningAnswer).certificate_chain == "x"
