"""OCPP 1.6 security whitepaper compliance of the CSMS's certificate management, modelled on the OCTT's Central System cases TC_074 to TC_088 that it covers.

Real parts only: the session CSMS (local Ray + Serve, the balancer serving TLS with the test
PKI's server certificate and trusting both the test CA and the CSMS's own station CA), a
station on the `ocpp` library's ChargePoint that makes a real key pair and CSR with
`cryptography`, and the HTTP API. What a real station does after its answer (send the
SignCertificate the trigger asked for, reconnect with its new certificate) the test does next,
in the order the whitepaper gives. Not here: TC_073 (AuthorizationKey: tests/test_station_passwords.py),
TC_078/079/080-082 (security events, logs, signed firmware: tests/test_compliance_16_security_events.py),
TC_083 (tests/test_security_profiles.py), TC_085-086 (tests/test_tls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import json
import ssl
from typing import Any

import pytest
from ocpp.v16 import call

from actors import certificate_authority as ca_
from scripts import certificates as certificates_cli
from tests.conftest import register_station
from tests.csr import csr_pem, station_key, write_key_and_chain
from tests.polling import wait_until
from tests.stations import answer_every_command, basic_auth
from tests.test_compliance_16 import DEFAULT_ANSWERS, ComplianceStation, answered, command, view
from tests.test_tls import handshake, tls_station

pytestmark = pytest.mark.ray

# How a cooperative station answers the whitepaper's commands (call_result keyword arguments).
SECURITY_ANSWERS: dict[str, dict[str, Any]] = {
    "CertificateSigned": {"status": "Accepted"},
    "DeleteCertificate": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "InstallCertificate": {"status": "Accepted"},
}


@answer_every_command
class SecurityStation(ComplianceStation):
    """A ComplianceStation that also speaks the security whitepaper's commands."""

    default_answers = {**DEFAULT_ANSWERS, **SECURITY_ANSWERS}


@contextlib.asynccontextmanager
async def over_tls(csms, station_id: str, context: ssl.SSLContext, *, basic: bool = True):
    """The station on TLS (Basic auth unless it presents a certificate), booted Accepted."""
    headers = basic_auth(station_id) if basic else None
    async with tls_station(csms, station_id, context, headers, SecurityStation) as (station, _ws):
        boot = await station.call(call.BootNotification(charge_point_model="Secure-M1", charge_point_vendor="Acme"))
        assert boot.status == "Accepted"
        try:
            yield station
        finally:
            station.released.set()


async def signed_chain(csms, station_id: str, station: SecurityStation, key) -> str:
    """TC_074 steps 1-6: the CSMS triggers, the station sends its CSR, the CSMS delivers the chain."""
    assert await answered(csms, station_id, "ExtendedTriggerMessage",
                          {"requestedMessage": "SignChargePointCertificate"}) == {"status": "Accepted"}
    result = await station.call(call.SignCertificate(csr=csr_pem(key, station_id)))
    assert result.status == "Accepted"
    [signed] = await wait_until(lambda: station.got("CertificateSigned"), 30, "CertificateSigned from the CSMS")
    return signed["certificate_chain"]


async def certificates(csms, station_id: str) -> dict[str, Any]:
    return (await view(csms, station_id))["certificates"]


async def client_certificate(csms, station_id: str) -> dict[str, Any]:
    async def accepted():
        return (await certificates(csms, station_id) or {}).get("client_certificate")

    return await wait_until(accepted, 30, "the station's CertificateSigned answer folded")


async def test_TC_074_update_charge_point_certificate_by_request_of_central_system(csms, station_id, tmp_path):
    """And then the whole road to profile 3: the signed certificate verifies against the CSMS
    CA, the raise to 3 is allowed now (A05), the station reconnects with it and the balancer
    accepts it (TC_074 step 8, TC_087), after which profile 1 and 2 handshakes are refused."""
    await register_station(csms, station_id, security_profile=2)
    key = station_key()
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        chain = await signed_chain(csms, station_id, station, key)
        held = await client_certificate(csms, station_id)
        leaf = ca_.chain_certificates(chain)[0]
        assert held["fingerprint_sha256"] == ca_.facts(leaf).fingerprint_sha256 and held["source"] == "own"
        assert held["subject_cn"] == station_id and held["delivery"] == "Accepted"
        ca_root = (csms.data_root / "station-ca" / "ca.crt").read_text()
        leaf.verify_directly_issued_by(ca_.chain_certificates(ca_root)[0])
        assert await answered(csms, station_id, "ChangeConfiguration",
                              {"key": "SecurityProfile", "value": "3"}) == {"status": "Accepted"}
    # Pending until it reconnects with its certificate (whitepaper A05); profile 2 still gets in.
    shown = await view(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (2, 3)
    cert_file, key_file = write_key_and_chain(tmp_path, station_id, key, chain)
    context = csms.pki.client_context((cert_file, key_file))
    async with over_tls(csms, station_id, context, basic=False) as station:
        assert station.got("CertificateSigned") == []  # a new connection, booted on its certificate
    shown = await view(csms, station_id)
    assert (shown["security_profile"], shown["security_profile_pending"]) == (3, None)
    # A05.FR.09: no lower profile any more; plain ws with Basic auth, and TLS with Basic auth.
    assert await handshake(csms.ws_url, station_id, None, headers=basic_auth(station_id)) == 403
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context(), headers=basic_auth(station_id)) == 403
    assert await handshake(csms.wss_url, station_id, context) == "ocpp1.6"


async def test_TC_074_a_csr_for_another_station_is_rejected_and_the_operator_sees_why(csms, station_id):
    await register_station(csms, station_id)
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        result = await station.call(call.SignCertificate(csr=csr_pem(station_key(), "CP-someone-else")))
        assert result.status == "Rejected"
        assert "CN must be the station id" in (await certificates(csms, station_id))["last_failure"]
        assert station.got("CertificateSigned") == []


async def test_TC_075_1_and_2_install_a_root_certificate_and_list_it(csms, station_id):
    await register_station(csms, station_id)
    root = ca_.new_authority(common_name="Acme manufacturer root", organization="Acme", validity_days=30,
                             now=datetime.datetime.now(datetime.timezone.utc))
    hash_data = ca_.hash_data(root.certificate_pem)
    reported = {"hash_algorithm": "SHA256", "issuer_name_hash": hash_data["issuer_name_hash"],
                "issuer_key_hash": hash_data["issuer_key_hash"], "serial_number": hash_data["serial_number"]}
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        for kind in ("ManufacturerRootCertificate", "CentralSystemRootCertificate"):
            assert await answered(csms, station_id, "InstallCertificate",
                                  {"certificateType": kind, "certificate": root.certificate_pem}) == {"status": "Accepted"}
            station.answers["GetInstalledCertificateIds"] = {"status": "Accepted", "certificate_hash_data": [reported]}
            listed = await answered(csms, station_id, "GetInstalledCertificateIds", {"certificateType": kind})
            assert listed["status"] == "Accepted"
        [(_, install), *_] = [r for r in station.received if r[0] == "InstallCertificate"]
        assert install == {"certificate_type": "ManufacturerRootCertificate", "certificate": root.certificate_pem}
    installed = (await certificates(csms, station_id))["installed"]
    assert sorted(i["certificate_type"] for i in installed) == ["CentralSystemRootCertificate",
                                                                  "ManufacturerRootCertificate"]
    assert {i["serial_number"] for i in installed} == {hash_data["serial_number"]}


async def test_TC_076_delete_a_specific_certificate_from_the_charge_point(csms, station_id):
    await register_station(csms, station_id)
    held = {"hash_algorithm": "SHA256", "issuer_name_hash": "ab" * 32, "issuer_key_hash": "cd" * 32,
            "serial_number": "0a"}
    wire = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32, "serialNumber": "0a"}
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        station.answers["GetInstalledCertificateIds"] = {"status": "Accepted", "certificate_hash_data": [held]}
        await answered(csms, station_id, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"})
        assert len((await certificates(csms, station_id))["installed"]) == 1
        # M04.FR.07: the hashAlgorithm the station reported is the one we delete with.
        assert await answered(csms, station_id, "DeleteCertificate", {"certificateHashData": wire}) == {"status": "Accepted"}
        assert (await certificates(csms, station_id))["installed"] == []
        station.answers["GetInstalledCertificateIds"] = {"status": "NotFound"}
        assert (await answered(csms, station_id, "GetInstalledCertificateIds",
                               {"certificateType": "CentralSystemRootCertificate"}))["status"] == "NotFound"


async def test_TC_077_a_charge_point_that_rejects_the_signed_certificate_holds_none_of_ours(csms, station_id):
    await register_station(csms, station_id, security_profile=2)
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        station.answers["CertificateSigned"] = {"status": "Rejected"}  # A02.FR.07: it deems it invalid
        await signed_chain(csms, station_id, station, station_key())

        async def rejected():
            issued = (await certificates(csms, station_id) or {}).get("issued") or []
            return issued and issued[-1]["delivery"] == "Rejected"

        await wait_until(rejected, 30, "the Rejected CertificateSigned folded")
        assert (await certificates(csms, station_id))["client_certificate"] is None
        # And so the raise to profile 3 is refused: certificate first (A05).
        refused = await command(csms, station_id, "ChangeConfiguration", {"key": "SecurityProfile", "value": "3"})
        assert refused.status_code == 409 and "client certificate first" in refused.text
        assert not [r for r in station.got("ChangeConfiguration") if r["key"] == "SecurityProfile"]


async def test_TC_088_a_certificate_we_issued_for_one_station_does_not_let_another_in(csms, station_id, tmp_path):
    other = f"{station_id}-B"
    await register_station(csms, station_id, security_profile=2)
    await register_station(csms, other)
    key = station_key()
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        chain = await signed_chain(csms, station_id, station, key)
    context = csms.pki.client_context(write_key_and_chain(tmp_path, station_id, key, chain))
    assert await handshake(csms.wss_url, other, context) == 403


async def test_profile_3_by_api_is_refused_until_the_station_holds_a_client_certificate(csms, station_id):
    """Item 1's order rule (whitepaper A05): PUT and the SecurityProfile command alike."""
    await register_station(csms, station_id, security_profile=1)
    async with csms.api() as api:
        refused = await api.put(f"/api/stations/{station_id}", json={"password": "station-password-0123",
                                                                     "security_profile": 3})
        assert refused.status_code == 409 and "client certificate first" in refused.json()["detail"]["message"]
        assert (await view(csms, station_id))["security_profile"] == 1
        said = await api.put(f"/api/stations/{station_id}", json={"password": "station-password-0123",
                                                                  "security_profile": 3,
                                                                  "client_certificate_installed": True})
        assert said.status_code == 200, said.text
    shown = await view(csms, station_id)
    assert (shown["security_profile"], shown["client_certificate_installed"]) == (3, True)


async def test_certificates_near_expiry_are_listed_and_renewed_with_extended_trigger_message(csms, station_id):
    await register_station(csms, station_id, security_profile=2)
    async with over_tls(csms, station_id, csms.pki.client_context()) as station:
        await signed_chain(csms, station_id, station, station_key())
        held = await client_certificate(csms, station_id)
        async with csms.api() as api:
            soon = (await api.get("/api/certificates", params={"expiring_within_days": 400})).json()
            later = (await api.get("/api/certificates", params={"expiring_within_days": 0})).json()
        assert [c["certificate"]["serial"] for c in soon["certificates"] if c["station_id"] == station_id] == [held["serial"]]
        assert station_id not in {c["station_id"] for c in later["certificates"]}
        token_file = csms.data_root / "cli-token"
        token_file.write_text(csms.token)
        out = io.StringIO()
        code = await asyncio.to_thread(certificates_cli.main, [
            "--expiring-within", "400d", "--renew", "--json", "--url", csms.http_url, "--token-file", str(token_file)],
            out)
        rows = [json.loads(line) for line in out.getvalue().splitlines()]
        mine = [r for r in rows if r["station_id"] == station_id]
        assert mine == [{"station_id": station_id, "ocpp_version": "1.6", "connected": True, "serial": held["serial"],
                         "not_after": held["not_after"], "renewal": "Accepted"}]
        assert station.got("ExtendedTriggerMessage")[-1] == {"requested_message": "SignChargePointCertificate"}
        # Another station of the session, listed but not connected, fails its renewal: exit 1 then.
        assert code == (0 if all(r["renewal"] == "Accepted" for r in rows) else 1)
