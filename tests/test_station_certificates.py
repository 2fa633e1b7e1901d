"""SignCertificate to CertificateSigned through a real StationHost without Ray (tests/local_host.py): the answer, the CA (own, or external behind a real aiohttp server), what is kept, the delivery through the mailbox, and replay after a restart (OCPP 1.6 security whitepaper A02/A03)."""

from __future__ import annotations

import asyncio
import json

import pytest

from actors import certificate_authority as ca_
from actors.host_protocol import decode_outbound
from actors.passwords import hash_password
from actors.station_state import Registration
from actors.views import station_view
from tests.csr import csr_pem, station_key
from tests.local_host import LocalStation, batch, call, close, local_host
from tests.polling import wait_until
from tests.test_certificate_authority import NOW, external_ca_server

PASSWORD = b"certificate-host-test-pw"


async def booted(host, station_id: str = "CP-CERT") -> LocalStation:
    await host.register(station_id, Registration(password_hash=hash_password(PASSWORD)))
    station = LocalStation(host, station_id)
    [reply] = await batch(host, [station.connect_request(PASSWORD)])
    assert reply.connect_status == "accepted"
    boot = await call(host, station, [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
    assert boot[2]["status"] == "Accepted"
    return station


async def next_call(host, timeout_s: float = 10.0) -> list:
    """The next CALL the host sends to our (only) gateway replica."""
    batch_ = decode_outbound(await host.outbound("test", timeout_s))
    [frame] = [f for f in batch_.frames if f.text]
    return json.loads(frame.text)


def view(host, station_id: str = "CP-CERT"):
    return station_view(host.sessions[station_id].state)


async def test_an_accepted_csr_is_signed_and_delivered_with_certificate_signed(tmp_path):
    host = local_host(tmp_path, station_certificate_organization="Test CPO")
    try:
        station = await booted(host)
        key = station_key()
        answer = await call(host, station, [2, "s1", "SignCertificate", {"csr": csr_pem(key, "CP-CERT")}])
        assert answer == [3, "s1", {"status": "Accepted"}]
        message = await next_call(host)
        assert message[2] == "CertificateSigned"
        chain = message[3]["certificateChain"]
        leaf, root = ca_.chain_certificates(chain)
        assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
        assert root.subject.rfc4514_string() == "O=Test CPO,CN=Test CPO station CA"
        issued = view(host).certificates.issued
        assert [(i.serial, i.delivery, i.source) for i in issued] == [(format(leaf.serial_number, "X"), None, "own")]
        await batch(host, [station.frame([3, message[1], {"status": "Accepted"}])])
        certificates = view(host).certificates
        assert certificates.client_certificate.fingerprint_sha256 == ca_.facts(leaf).fingerprint_sha256
        assert certificates.client_certificate.delivery == "Accepted" and certificates.last_failure is None
    finally:
        close(host)
    # The issue and the delivery are in the log: a restarted host knows them.
    again = local_host(tmp_path, station_certificate_organization="Test CPO")
    try:
        assert view(again).certificates.client_certificate.fingerprint_sha256 == ca_.facts(leaf).fingerprint_sha256
    finally:
        close(again)


@pytest.mark.parametrize(("csr", "reason"), [
    (lambda: csr_pem(station_key(), "CP-OTHER"), "subject CN must be the station id"),
    (lambda: csr_pem(station_key(), "CP-CERT", organization="Someone"), "O must be the configured organisation"),
    (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "PKCS#10"),
])
async def test_a_refused_csr_is_rejected_with_its_reason_in_the_stations_events(tmp_path, csr, reason):
    host = local_host(tmp_path, station_certificate_organization="Test CPO")
    try:
        station = await booted(host)
        assert await call(host, station, [2, "s1", "SignCertificate", {"csr": csr()}]) == [3, "s1", {"status": "Rejected"}]
        [refused] = [e for e in host.sessions["CP-CERT"].recent_events(0, 10) if e.action == "CertificateRequestRefused"]
        assert reason in json.loads(refused.payload)["reason"]
        assert reason in view(host).certificates.last_failure
        assert not host._deliveries and host._outbound.get("test") in (None, [])
    finally:
        close(host)


async def test_with_station_ca_off_every_request_is_rejected(tmp_path):
    host = local_host(tmp_path, station_ca="off")
    try:
        station = await booted(host)
        answer = await call(host, station, [2, "s1", "SignCertificate", {"csr": csr_pem(station_key(), "CP-CERT")}])
        assert answer[2] == {"status": "Rejected"}
        assert 'station_ca = "off"' in view(host).certificates.last_failure
    finally:
        close(host)


async def test_an_external_ca_signs_and_its_failure_is_shown_to_the_operator(tmp_path):
    external = ca_.new_authority(common_name="External CA", organization="", validity_days=30, now=NOW)
    async with external_ca_server(external) as server:
        host = local_host(tmp_path, station_ca="external", station_ca_url=server.url, station_ca_timeout_s=1.0)
        try:
            station = await booted(host)
            assert (await call(host, station, [2, "s1", "SignCertificate",
                                               {"csr": csr_pem(station_key(), "CP-CERT")}]))[2]["status"] == "Accepted"
            message = await next_call(host)
            assert ca_.leaf_facts(message[3]["certificateChain"]).issuer == "CN=External CA"
            assert view(host).certificates.issued[0].source == "external"
            await batch(host, [station.frame([3, message[1], {"status": "Rejected"}])])
            assert view(host).certificates.client_certificate is None  # A02.FR.07: the station discarded it
            # The CA fails: the station was answered Accepted (A02.FR.11), the operator sees why.
            server.behaviour = 500
            assert (await call(host, station, [2, "s2", "SignCertificate",
                                               {"csr": csr_pem(station_key(), "CP-CERT")}]))[2]["status"] == "Accepted"
            await wait_until(lambda: view(host).certificates.last_failure is not None, 10, "the CA failure recorded")
            assert view(host).certificates.last_failure == "the external CA answered HTTP 500"
            assert len(server.received) == 2
        finally:
            close(host)


async def test_a_station_that_is_not_accepted_may_send_sign_certificate_only_when_triggered(tmp_path):
    host = local_host(tmp_path)
    try:
        await host.register("CP-P", Registration(password_hash=hash_password(PASSWORD), boot_status="Pending"))
        station = LocalStation(host, "CP-P")
        await batch(host, [station.connect_request(PASSWORD)])
        await call(host, station, [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
        csr = {"csr": csr_pem(station_key(), "CP-P")}
        assert (await call(host, station, [2, "s1", "SignCertificate", csr]))[2] == "SecurityError"
        command = asyncio.ensure_future(host.command("CP-P", "ExtendedTriggerMessage",
                                                     '{"requestedMessage": "SignChargePointCertificate"}', 10))
        trigger = await next_call(host)
        assert trigger[2:] == ["ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}]
        await batch(host, [station.frame([3, trigger[1], {"status": "Accepted"}])])
        assert (await command).status == "answered"
        assert (await call(host, station, [2, "s2", "SignCertificate", csr]))[2] == {"status": "Accepted"}
    finally:
        close(host)


async def commanded(host, station: LocalStation, action: str, payload: dict, answer: dict) -> dict:
    """An operator's command through the host's mailbox, answered by the station; the outcome."""
    command = asyncio.ensure_future(host.command(station.station_id, action, json.dumps(payload), 10))
    sent = await next_call(host)
    assert sent[2:] == [action, payload]
    await batch(host, [station.frame([3, sent[1], answer])])
    outcome = await command
    assert outcome.status == "answered", outcome
    return json.loads(outcome.response)


def root_pem() -> str:
    return ca_.new_authority(common_name="Manufacturer root", organization="Maker", validity_days=30,
                             now=NOW).certificate_pem


async def test_what_the_station_holds_is_kept_from_install_list_and_delete(tmp_path):
    host = local_host(tmp_path)
    try:
        station = await booted(host)
        root = root_pem()
        await commanded(host, station, "InstallCertificate",
                        {"certificateType": "ManufacturerRootCertificate", "certificate": root}, {"status": "Accepted"})
        [installed] = view(host).certificates.installed
        expected = ca_.hash_data(root)
        assert (installed.certificate_type, installed.issuer_name_hash, installed.serial_number) == \
            ("ManufacturerRootCertificate", expected["issuer_name_hash"], expected["serial_number"])
        # A refused install changes nothing (M05).
        await commanded(host, station, "InstallCertificate",
                        {"certificateType": "ManufacturerRootCertificate", "certificate": root_pem()}, {"status": "Rejected"})
        assert len(view(host).certificates.installed) == 1
        # The station's own list is what it holds (M03): it replaces what we assumed, per type.
        reported = {"hashAlgorithm": "SHA256", "issuerNameHash": "AB" * 32, "issuerKeyHash": "CD" * 32, "serialNumber": "01"}
        await commanded(host, station, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"},
                        {"status": "Accepted", "certificateHashData": [reported]})
        assert sorted(i.certificate_type for i in view(host).certificates.installed) == \
            ["CentralSystemRootCertificate", "ManufacturerRootCertificate"]
        assert view(host).certificates.installed_read_at is not None
        # Deleted (M04), matched case-insensitively and without the serial's leading zeros.
        gone = {**reported, "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32, "serialNumber": "1"}
        await commanded(host, station, "DeleteCertificate", {"certificateHashData": gone}, {"status": "Accepted"})
        assert [i.certificate_type for i in view(host).certificates.installed] == ["ManufacturerRootCertificate"]
        await commanded(host, station, "GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"},
                        {"status": "NotFound"})
        assert view(host).certificates.installed == []
    finally:
        close(host)


async def test_a_request_whose_outcome_was_not_logged_is_asked_again_after_a_restart(tmp_path):
    external = ca_.new_authority(common_name="External CA", organization="", validity_days=30, now=NOW)
    async with external_ca_server(external) as server:
        settings = {"station_ca": "external", "station_ca_url": server.url, "station_ca_timeout_s": 5.0}
        server.behaviour = "hang"
        host = local_host(tmp_path, **settings)
        try:
            station = await booted(host)
            assert (await call(host, station, [2, "s1", "SignCertificate",
                                               {"csr": csr_pem(station_key(), "CP-CERT")}]))[2]["status"] == "Accepted"
            await wait_until(lambda: server.received, 10, "the CSR at the external CA")
            assert view(host).certificates.issued == []
        finally:
            for task in list(host._deliveries):
                task.cancel()  # the host dies while the CA is still answering
            close(host)
        server.behaviour = "sign"
        again = local_host(tmp_path, **settings)
        try:
            await again.ping()  # its first call starts it
            await wait_until(lambda: (view(again).certificates.issued or [None])[0], 10, "the certificate issued")
            assert len(server.received) == 2 and again.sessions["CP-CERT"].state.certificates.pending_csr is None
        finally:
            close(again)
