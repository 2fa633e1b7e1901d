"""What the CSMS knows of a station's certificates, whatever its OCPP version: what our CA issued to it, what it holds, why a request failed.

Folded from events like the rest of the station's state (StationSession.apply): the
CertificateIssued / CertificateRequestRefused / CertificateIssueFailed system events, the
station's answers to CertificateSigned, InstallCertificate, DeleteCertificate and
GetInstalledCertificateIds. Only facts are kept (serial, validity, fingerprint, hash data),
never a certificate's key, and never a whole chain.
"""

from __future__ import annotations

import msgspec

# Certificates issued per station kept in live state (newest last): renewals every year or so
# make this years of history; the lake keeps every CertificateIssued event.
ISSUED_KEPT = 8
# Certificates a station reports per type (GetInstalledCertificateIds): bounded, as it is
# the station's word.
INSTALLED_KEPT = 32


class IssuedCertificate(msgspec.Struct, kw_only=True, gc=False):
    """A client certificate our CA (own or external) issued for the station: the payload of the
    CertificateIssued event, and `delivery` once the station answered CertificateSigned."""

    serial: str
    subject_cn: str
    issuer: str
    not_before_us: int
    not_after_us: int
    fingerprint_sha256: str
    issued_at_us: int
    # "own": signed by the CSMS's CA; "external": by the CA behind station_ca_url.
    source: str
    # The station's CertificateSigned answer: Accepted, Rejected; None until it answered.
    delivery: str | None = None
    delivered_at_us: int | None = None


class InstalledCertificate(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A CA certificate the station holds, as OCPP names it (CertificateHashData)."""

    certificate_type: str
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def same(self, other: InstalledCertificate) -> bool:
        # Hex digests and serials compare case-insensitively; a serial's leading zeros are not
        # significant (whitepaper edition 3 clarified certificateHashData).
        return (self.hash_algorithm == other.hash_algorithm
                and self.issuer_name_hash.lower() == other.issuer_name_hash.lower()
                and self.issuer_key_hash.lower() == other.issuer_key_hash.lower()
                and self.serial_number.lower().lstrip("0") == other.serial_number.lower().lstrip("0"))


class StationCertificates(msgspec.Struct, kw_only=True, gc=False):
    issued: list[IssuedCertificate] = []
    # By certificateType (CentralSystemRootCertificate, ManufacturerRootCertificate, ...): from
    # GetInstalledCertificateIds answers (the whole list of that type), and accepted
    # InstallCertificate / DeleteCertificate between them.
    installed: dict[str, list[InstalledCertificate]] = {}
    installed_read_at_us: int | None = None
    # Why the station's last certificate request came to nothing (its SignCertificate was
    # Rejected, or the CA did not issue), for a support agent; None after a success.
    last_failure: str | None = None
    last_failure_at_us: int | None = None
    # The CSR of a SignCertificate we answered Accepted whose outcome (CertificateIssued or
    # CertificateIssueFailed) is not logged yet: a host that restarts meanwhile asks again.
    pending_csr: str | None = None

    def client_certificate(self) -> IssuedCertificate | None:
        """The newest certificate we issued that the station accepted (CertificateSigned Accepted)."""
        for issued in reversed(self.issued):
            if issued.delivery == "Accepted":
                return issued
        return None

    def record_issued(self, issued: IssuedCertificate) -> None:
        self.issued = [c for c in self.issued if c.fingerprint_sha256 != issued.fingerprint_sha256] + [issued]
        del self.issued[:-ISSUED_KEPT]
        self.last_failure = self.last_failure_at_us = self.pending_csr = None

    def record_failure(self, reason: str, at_us: int) -> None:
        self.last_failure, self.last_failure_at_us = reason, at_us
        self.pending_csr = None

    def record_delivery(self, fingerprint_sha256: str, status: str, at_us: int) -> None:
        for issued in self.issued:
            if issued.fingerprint_sha256 == fingerprint_sha256:
                issued.delivery, issued.delivered_at_us = status, at_us

    def replace_installed(self, certificate_type: str, reported: list[InstalledCertificate], at_us: int) -> None:
        self.installed[certificate_type] = reported[:INSTALLED_KEPT]
        self.installed_read_at_us = at_us

    def add_installed(self, certificate: InstalledCertificate) -> None:
        held = [c for c in self.installed.get(certificate.certificate_type, []) if not c.same(certificate)]
        self.installed[certificate.certificate_type] = (held + [certificate])[-INSTALLED_KEPT:]

    def remove_installed(self, certificate: InstalledCertificate) -> None:
        for kind, held in self.installed.items():
            self.installed[kind] = [c for c in held if not c.same(msgspec.structs.replace(certificate, certificate_type=kind))]


class CertificateFailure(msgspec.Struct, frozen=True):
    """Payload of CertificateRequestRefused and CertificateIssueFailed."""

    reason: str
