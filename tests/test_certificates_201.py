"""OCPP 2.0.1 certificates through the real CSMS (Part 2 A02/A03, M03-M05), named after the OCTT 2.0.1 A and M cases they cover: a v201 ChargePoint makes a key and CSR, gets the chain with CertificateSigned, and reconnects with it over TLS (the balancer verifying it against the CSMS CA)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl

import pytest
import websockets
from ocpp.v201 import call

from actors import certificate_authority as ca_
from tests.commanded_201 import CommandedStation201, boot_201, online_201, station_view
from tests.conftest import register_station
from tests.csr import csr_pem, station_key, write_key_and_chain
from tests.polling import wait_until
from tests.stations import _run, basic_auth
from tests.test_compliance_16 import answered
from tests.test_tls import handshake

pytestmark = pytest.mark.ray


@contextlib.asynccontextmanager
async def tls_201(csms, station_id: str, context: ssl.SSLContext, headers: dict[str, str] | None = None):
    async with websockets.connect(f"{csms.wss_url}/{station_id}", subprotocols=["ocpp2.0.1"], ssl=context,
                                  additional_headers=headers or {}, open_timeout=30) as ws:
        station = CommandedStation201(station_id, ws, response_timeout=15)
        task = asyncio.create_task(_run(station))
        try:
            await boot_201(station)
            yield station
        finally:
            station.released.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def client_certificate(csms, station_id: str) -> dict:
    async def accepted():
        return ((await station_view(csms, station_id)).get("certificates") or {}).get("client_certificate")

    return await wait_until(accepted, 30, "the CertificateSigned answer folded")


async def test_TC_A_11_update_charging_station_certificate_by_request_of_csms(csms, station_id, tmp_path):
    await register_station(csms, station_id, security_profile=2)
    key = station_key("ec-p384")
    async with tls_201(csms, station_id, csms.pki.client_context(), basic_auth(station_id)) as station:
        async with csms.api() as api:  # the renewal command of the station's version
            renewal = await api.post(f"/api/stations/{station_id}/certificate-renewal")
        assert renewal.status_code == 200 and renewal.json()["response"] == {"status": "Accepted"}, renewal.text
        assert station.got("TriggerMessage") == [{"requested_message": "SignChargingStationCertificate"}]
        result = await station.call(call.SignCertificate(csr=csr_pem(key, station_id),
                                                         certificate_type="ChargingStationCertificate"))
        assert result.status == "Accepted"
        [signed] = await wait_until(lambda: station.got("CertificateSigned"), 30, "CertificateSigned")
        assert signed["certificate_type"] == "ChargingStationCertificate"
        held = await client_certificate(csms, station_id)
        assert held["subject_cn"] == station_id and held["source"] == "own"
    context = csms.pki.client_context(write_key_and_chain(tmp_path, station_id, key, signed["certificate_chain"]))
    async with tls_201(csms, station_id, context) as station:
        assert station.got("CertificateSigned") == []
    view = await station_view(csms, station_id)
    assert view["ocpp_version"] == "2.0.1" and view["certificates"]["issued"][-1]["delivery"] == "Accepted"


async def test_TC_A_15_a_sign_certificate_request_the_csms_cannot_process_is_rejected(csms, station_id):
    await register_station(csms, station_id)
    async with tls_201(csms, station_id, csms.pki.client_context(), basic_auth(station_id)) as station:
        refused = await station.call(call.SignCertificate(csr=csr_pem(station_key("rsa-1024"), station_id)))
        assert refused.status == "Rejected" and refused.status_info["reason_code"] == "InvalidCSR"
        v2g = await station.call(call.SignCertificate(csr=csr_pem(station_key(), station_id),
                                                      certificate_type="V2GCertificate"))
        assert v2g.status == "Rejected" and v2g.status_info["reason_code"] == "NotSupported"
    assert "at least 2048" in (await station_view(csms, station_id))["certificates"]["last_failure"]
    assert await handshake(csms.wss_url, station_id, csms.pki.client_context()) == 401  # no certificate: Basic needed


async def test_profile_3_by_set_variables_waits_for_a_client_certificate_a05(csms, station_id):
    await register_station(csms, station_id, security_profile=2)
    raise_to_3 = {"setVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
                                       "attributeValue": "3"}]}
    async with tls_201(csms, station_id, csms.pki.client_context(), basic_auth(station_id)) as station:
        async with csms.api() as api:
            refused = await api.post(f"/api/stations/{station_id}/commands/SetVariables", json=raise_to_3)
        assert refused.status_code == 409 and "client certificate first" in refused.text
        assert station.got("SetVariables") == []
    assert (await station_view(csms, station_id))["security_profile"] == 2


async def test_TC_M_03_05_04_install_list_and_delete_a_root_certificate(csms, station_id):
    """M05 InstallCertificate, M03 GetInstalledCertificateIds (what the station lists replaces what
    was kept for that type), M04 DeleteCertificate with the hash data it listed (M04.FR.07)."""
    await register_station(csms, station_id)
    root = ca_.new_authority(common_name="Acme CSMS root", organization="Acme", validity_days=30,
                             now=datetime.datetime.now(datetime.timezone.utc))
    hashes = ca_.hash_data(root.certificate_pem)
    listed = {"hash_algorithm": "SHA256", "issuer_name_hash": hashes["issuer_name_hash"],
              "issuer_key_hash": hashes["issuer_key_hash"], "serial_number": hashes["serial_number"]}
    async with online_201(csms, station_id) as station:
        assert await answered(csms, station_id, "InstallCertificate", {
            "certificateType": "CSMSRootCertificate", "certificate": root.certificate_pem}) == {"status": "Accepted"}
        station.answers["GetInstalledCertificateIds"] = {"status": "Accepted", "certificate_hash_data_chain": [
            {"certificate_type": "CSMSRootCertificate", "certificate_hash_data": listed}]}
        answer = await answered(csms, station_id, "GetInstalledCertificateIds",
                                   {"certificateType": ["CSMSRootCertificate"]})
        assert answer["status"] == "Accepted"
        installed = (await station_view(csms, station_id))["certificates"]["installed"]
        assert [(i["certificate_type"], i["serial_number"]) for i in installed] == [
            ("CSMSRootCertificate", hashes["serial_number"])]
        wire = {"hashAlgorithm": "SHA256", "issuerNameHash": hashes["issuer_name_hash"],
                "issuerKeyHash": hashes["issuer_key_hash"], "serialNumber": hashes["serial_number"]}
        assert await answered(csms, station_id, "DeleteCertificate", {"certificateHashData": wire}) == {
            "status": "Accepted"}
        assert (await station_view(csms, station_id))["certificates"]["installed"] == []
        [(_, install)] = [r for r in station.received if r[0] == "InstallCertificate"]
        assert install == {"certificate_type": "CSMSRootCertificate", "certificate": root.certificate_pem}
