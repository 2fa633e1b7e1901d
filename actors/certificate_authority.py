"""The CSMS certificate authority for station client certificates (security profile 3): CSR checks, signing, certificate facts; pure, no I/O.

What the OCPP 1.6 security whitepaper (edition 3) asks, and where it is enforced here:
- section 2.6.1, A00.FR.501-503: keys of at least 112-bit security: RSA of 2048 bits or more,
  elliptic curves of 224 bits or more; we take RSA >= 2048 and the NIST curves P-256 and P-384
  (the ones the whitepaper's ECDSA cipher suites, A00.FR.317, are used with).
- A00.FR.505-506: the CA signs with ECDSA (our CA key is P-256) over SHA-256.
- A00.FR.509 and A00.FR.404: the subject's O (organizationName) is the CPO's name, which the
  station copies from its CpoName key into the CSR (A02.FR.13 / A03.FR.13).
- A00.FR.511 and A00.FR.405: the subject's CN (commonName) is the station's identity; we
  require it to be the station id the station connects with, so the balancer's certificate
  check (serve_app/tls.py: the CN must name the station of the URL) holds for what we issue.
  No dnsName subjectAltName is copied from the CSR (A00.FR.511: it SHOULD NOT be used).
- A00.FR.508, A00.FR.512: a serial number; Key Usage restricts the certificate to client
  authentication.
The same rules serve 2.0.1's A02/A03 (the same requirement ids in the 2.0.1 security block).
"""

from __future__ import annotations

import datetime
import functools
import hashlib

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A00.FR.502: RSA keys of at least 2048 bits.
MIN_RSA_BITS = 2048
# A00.FR.503 allows any curve of 224 bits or more; these two are the ones stations and TLS
# libraries share.
ACCEPTED_CURVES = ("secp256r1", "secp384r1")
# A station's clock and ours may differ: a certificate valid from a few minutes ago works at once.
NOT_BEFORE_SLACK = datetime.timedelta(minutes=5)


class CertificateFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the CSMS keeps of a certificate (never its key): enough to find it, show it, and
    tell when it expires."""

    serial: str  # hex, upper case, as openssl prints it
    subject_cn: str
    issuer: str  # RFC 4514 string
    not_before_us: int
    not_after_us: int
    fingerprint_sha256: str  # hex of the DER's SHA-256


class CertificateAuthority(msgspec.Struct, frozen=True):
    """A CA's certificate and private key, as PEM (the key's PEM never leaves the store and
    the signer; nothing logs it)."""

    certificate_pem: str
    key_pem: str

    def __repr__(self) -> str:  # never the key, in a traceback or a log line
        return "CertificateAuthority(<certificate>, <key>)"


def _us(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def facts(certificate: x509.Certificate) -> CertificateFacts:
    cns = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertificateFacts(
        serial=format(certificate.serial_number, "X"),
        subject_cn=str(cns[0].value) if cns else "",
        issuer=certificate.issuer.rfc4514_string(),
        not_before_us=_us(certificate.not_valid_before_utc),
        not_after_us=_us(certificate.not_valid_after_utc),
        fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
    )


def chain_certificates(chain_pem: str) -> list[x509.Certificate]:
    """The certificates of a PEM chain, leaf first; ValueError if it holds none or is not PEM."""
    certificates = x509.load_pem_x509_certificates(chain_pem.encode())
    if not certificates:
        raise ValueError("no certificate in the chain")
    return certificates


def leaf_facts(chain_pem: str) -> CertificateFacts | None:
    """The facts of a chain's first (leaf) certificate, or None if it does not parse."""
    try:
        return facts(chain_certificates(chain_pem)[0])
    except ValueError:
        return None


class CheckedCsr(msgspec.Struct, frozen=True):
    """The verdict on a CSR: `refusal` says why it may not be signed (None: it may)."""

    refusal: str | None
    csr_der: bytes = b""


def _key_refusal(key: object) -> str | None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed (OCPP 1.6 security whitepaper A00.FR.502)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ACCEPTED_CURVES:
            return f"elliptic curve {key.curve.name} not accepted; use P-256 or P-384 (A00.FR.503)"
        return None
    return f"key type {type(key).__name__.removeprefix('_')} not accepted; use RSA (2048 bits or more) or EC P-256/P-384"


@functools.lru_cache(maxsize=256)
def check_csr(csr_pem: str, station_id: str, organization: str) -> CheckedCsr:
    """Whether the CSR a station sent may be signed for it: a PEM PKCS#10 request (RFC 2986,
    A02.FR.03) whose signature verifies, with an accepted key, CN = the station id and, when
    `organization` is configured, O = it. Cached: the answer and the session's event ask the
    same question of the same CSR (pure, so caching changes nothing but the cost)."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        return CheckedCsr("not a PEM-encoded PKCS#10 certificate signing request (RFC 2986)")
    try:
        if not csr.is_signature_valid:
            return CheckedCsr("the CSR's signature does not verify")
        key = csr.public_key()
    except (ValueError, InvalidSignature, TypeError):
        return CheckedCsr("the CSR's key or signature cannot be read")
    refusal = _key_refusal(key)
    if refusal is not None:
        return CheckedCsr(refusal)
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [station_id]:
        return CheckedCsr(f"subject CN must be the station id {station_id!r} (A00.FR.405, A00.FR.511), got {cns}")
    orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if organization and orgs != [organization]:
        return CheckedCsr(f"subject O must be the configured organisation {organization!r} "
                          f"(CpoName; A00.FR.404, A02.FR.13), got {orgs}")
    return CheckedCsr(None, csr.public_bytes(serialization.Encoding.DER))


def sign(checked: CheckedCsr, ca: CertificateAuthority, *, validity_days: int,
         now: datetime.datetime) -> tuple[str, CertificateFacts]:
    """A client certificate for a checked CSR, signed by `ca`: (the chain as PEM, leaf first
    then the CA's certificate; the leaf's facts)."""
    if checked.refusal is not None:
        raise ValueError(f"refused CSR: {checked.refusal}")
    csr = x509.load_der_x509_csr(checked.csr_der)
    ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
    public_key = csr.public_key()
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    certificate = (
        x509.CertificateBuilder()
        # Only the CN and O the checks passed (no SANs: A00.FR.511).
        .subject_name(x509.Name([a for a in csr.subject
                                 if a.oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - NOT_BEFORE_SLACK)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=rsa_key, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = certificate.public_bytes(serialization.Encoding.PEM).decode() + ca.certificate_pem
    return chain, facts(certificate)


def new_authority(*, common_name: str, organization: str, validity_days: int,
                  now: datetime.datetime) -> CertificateAuthority:
    """A fresh self-signed CA (EC P-256 key, A00.FR.505) for station certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attributes)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - NOT_BEFORE_SLACK).not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return CertificateAuthority(certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


def check_authority(ca: CertificateAuthority) -> None:
    """ValueError unless the key belongs to the certificate and the certificate is a CA's
    (an operator's files are checked once, at start, not at the first station's CSR)."""
    certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ValueError("the station CA key does not belong to its certificate")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError("the station CA certificate is not a CA certificate (basicConstraints CA:TRUE)")


def chain_matches(chain_pem: str, checked: CheckedCsr, station_id: str) -> str | None:
    """Why a chain an external CA returned is not the certificate that CSR asked for (its leaf
    must hold the CSR's public key and name the station), else None."""
    try:
        leaf = chain_certificates(chain_pem)[0]
    except ValueError as exc:
        return f"the external CA's answer is not a PEM certificate chain ({exc})"
    csr = x509.load_der_x509_csr(checked.csr_der)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            csr.public_key().public_bytes(serialization.Encoding.DER, spki):
        return "the external CA's certificate does not hold the key of the station's CSR"
    if facts(leaf).subject_cn != station_id:
        return f"the external CA's certificate does not name the station {station_id!r} in its CN"
    return None


def signing_refusal(csr_pem: str, station_id: str, *, organization: str, signing: bool) -> str | None:
    """Why a station's certificate request cannot be processed (A02.FR.12), else None."""
    if not signing:
        return 'this CSMS signs no station certificates (station_ca = "off")'
    return check_csr(csr_pem, station_id, organization).refusal


def _key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's content, as OCSP's issuerKeyHash hashes it (RFC 6960 4.1.1)."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hash_data(certificate_pem: str) -> dict[str, str] | None:
    """A CA certificate's CertificateHashData (whitepaper section 7, SHA-256): the hash of its
    issuer's DER name, of its issuer's public key, and its serial in hex. Root certificates are
    their own issuers, which is what InstallCertificate installs (M05). None if it is not PEM."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        return None
    # A root's issuer is itself; for another certificate the issuer's key is not at hand, and
    # its authority key identifier is no substitute for the hash, so only roots are computed.
    if certificate.issuer != certificate.subject:
        return None
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(_key_bits(certificate)).hexdigest(),
        "serial_number": format(certificate.serial_number, "x"),
    }
