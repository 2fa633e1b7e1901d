"""How operators see a station's certificates (GET /api/stations/{id}, GET /api/certificates): typed views of actors/station_certificates.py."""

from __future__ import annotations

from datetime import datetime

import msgspec

from actors.events import utc_datetime
from actors.station_certificates import InstalledCertificate, IssuedCertificate, StationCertificates


class IssuedCertificateView(msgspec.Struct, kw_only=True):
    serial: str
    subject_cn: str
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    issued_at: datetime
    # "own" (the CSMS's CA) or "external" (station_ca_url).
    source: str
    # The station's answer to CertificateSigned (Accepted, Rejected), null until it answered.
    delivery: str | None
    delivered_at: datetime | None


class InstalledCertificateView(msgspec.Struct, kw_only=True):
    certificate_type: str
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


class CertificatesView(msgspec.Struct, kw_only=True):
    # Newest last; the one the station accepted last is its client certificate (profile 3).
    issued: list[IssuedCertificateView]
    client_certificate: IssuedCertificateView | None
    # What the station holds (GetInstalledCertificateIds, accepted Install/DeleteCertificate).
    installed: list[InstalledCertificateView]
    installed_read_at: datetime | None
    # Why its last certificate request came to nothing (Rejected CSR, CA failure), if it did.
    last_failure: str | None
    last_failure_at: datetime | None


class ExpiringCertificateView(msgspec.Struct, kw_only=True):
    """One issued certificate near expiry (GET /api/certificates, `csms certificates`)."""

    station_id: str
    connected: bool
    # The version it speaks decides the renewal command (POST /api/stations/{id}/certificate-renewal).
    ocpp_version: str
    certificate: IssuedCertificateView


def issued_view(c: IssuedCertificate) -> IssuedCertificateView:
    return IssuedCertificateView(
        serial=c.serial, subject_cn=c.subject_cn, issuer=c.issuer, not_before=utc_datetime(c.not_before_us),
        not_after=utc_datetime(c.not_after_us), fingerprint_sha256=c.fingerprint_sha256,
        issued_at=utc_datetime(c.issued_at_us), source=c.source, delivery=c.delivery,
        delivered_at=utc_datetime(c.delivered_at_us),
    )


def installed_view(c: InstalledCertificate) -> InstalledCertificateView:
    return InstalledCertificateView(certificate_type=c.certificate_type, hash_algorithm=c.hash_algorithm,
                                    issuer_name_hash=c.issuer_name_hash, issuer_key_hash=c.issuer_key_hash,
                                    serial_number=c.serial_number)


def certificates_view(c: StationCertificates) -> CertificatesView:
    client = c.client_certificate()
    return CertificatesView(
        issued=[issued_view(i) for i in c.issued],
        client_certificate=issued_view(client) if client is not None else None,
        installed=[installed_view(i) for _, held in sorted(c.installed.items()) for i in held],
        installed_read_at=utc_datetime(c.installed_read_at_us),
        last_failure=c.last_failure,
        last_failure_at=utc_datetime(c.last_failure_at_us),
    )


def current_certificate(c: StationCertificates) -> IssuedCertificate | None:
    """The certificate whose expiry matters: the one the station accepted, else the newest issued."""
    return c.client_certificate() or (c.issued[-1] if c.issued else None)


class CertificatePage(msgspec.Struct, kw_only=True):
    """GET /api/certificates: every station whose current certificate ends before `expiring_before`."""

    expiring_before: datetime
    total: int
    certificates: list[ExpiringCertificateView]
