"""A throwaway PKI for tests: a CA, a server certificate for 127.0.0.1, station client certificates."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_suffix(".key")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return path.with_suffix(".crt"), key_path


@dataclass
class CertificateAuthority:
    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path

    @classmethod
    def create(cls, directory: Path, name: str = "CSMS test CA") -> CertificateAuthority:
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        cert_file, _ = _write(directory / name.replace(" ", "-"), cert, key)
        return cls(name, cert, key, cert_file)

    def issue(self, directory: Path, common_name: str, *, dns: list[str] = (), ips: list[str] = (),
              server: bool = False) -> tuple[Path, Path]:
        """A leaf certificate (server or client) signed by this CA: its (cert file, key file)."""
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in common_name)
        return _write(directory / f"{safe}-{x509.random_serial_number() % 10**8}", cert, key)


@dataclass
class TestPki:
    """What a CSMS test deployment needs: a CA trusted for both server and client certificates."""

    __test__ = False

    directory: Path
    ca: CertificateAuthority
    server_cert: Path
    server_key: Path

    @classmethod
    def create(cls, directory: Path) -> TestPki:
        ca = CertificateAuthority.create(directory)
        cert, key = ca.issue(directory, "127.0.0.1", dns=["localhost"], ips=["127.0.0.1"], server=True)
        return cls(directory, ca, cert, key)

    def client_context(self, station_cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A station's TLS context: trusts our CA, presents `station_cert` if given."""
        context = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if station_cert is not None:
            context.load_cert_chain(str(station_cert[0]), str(station_cert[1]))
        return context

    def station_certificate(self, common_name: str, dns: list[str] = ()) -> tuple[Path, Path]:
        return self.ca.issue(self.directory, common_name, dns=list(dns))
