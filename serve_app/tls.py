"""TLS at the ingress (OCPP 1.6 security profiles 2 and 3) and the client identity it vouches for.

The StationBalancer terminates TLS. With a client CA configured it verifies each client's
certificate and tells the gateway which names the certificate holds by adding a header to
the HTTP upgrade request, next to a per-deployment secret: the gateway's own port is
reachable without the balancer, so the header alone proves nothing. The balancer removes
both headers from whatever a client sends, so a client cannot forge them even through it.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Mapping

from serve_app.handshake import valid_station_id

# Lower-case, as headers are compared. Set only by the balancer (or a terminator given the secret).
IDENTITY_HEADER = "x-csms-client-cert-identity"
SECRET_HEADER = "x-csms-ingress-secret"
# The station's own address as the balancer saw it (a replica behind it sees the balancer's).
ADDRESS_HEADER = "x-csms-client-address"
# "https" or "http": whether the client's connection to the balancer was TLS (the back office's
# session cookie is Secure only then; with plain_port one balancer serves both).
SCHEME_HEADER = "x-csms-client-scheme"
_OURS = (IDENTITY_HEADER.encode(), SECRET_HEADER.encode(), ADDRESS_HEADER.encode(), SCHEME_HEADER.encode())


class BadHead(ValueError):
    """A request head we refuse to forward; `status` is the HTTP status line to answer."""

    def __init__(self, status: bytes) -> None:
        super().__init__(status.decode())
        self.status = status


def server_context(cert_file: str, key_file: str, client_ca_file: str = "", station_ca_pem: str = "") -> ssl.SSLContext:
    """The balancer's TLS context: TLS 1.2 or newer (OCPP 1.6 security whitepaper, profile 2
    forbids anything older), Python's default (forward-secret, AEAD-first) cipher list.

    With a client CA (the operator's `client_ca_file`, and the CSMS's own station CA that signs
    what stations ask for with SignCertificate, `station_ca_pem`), certificates are asked for
    and verified when given (CERT_OPTIONAL): a certificate that does not verify fails the TLS
    handshake; a client without one (an operator's browser, a profile 2 station) gets through
    and is judged by the gateway.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(cafile=client_ca_file)
    if station_ca_pem:
        context.load_verify_locations(cadata=station_ca_pem)
    if client_ca_file or station_ca_pem:
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def certificate_names(peercert: Mapping | None) -> list[str]:
    """The names a verified client certificate holds that could be station ids: its subject
    CN(s) and DNS subjectAltNames (`ssl.SSLSocket.getpeercert()` form), in that order."""
    if not peercert:
        return []
    names: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.append(value)
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "DNS":
            names.append(value)
    # Only names that are valid station ids: they cannot hold the comma that separates them.
    return list(dict.fromkeys(n for n in names if valid_station_id(n)))


def rewrite_head(head: bytes, secret: str, names: list[str], client_address: str | None = None,
                 over_tls: bool | None = None) -> bytes:
    """The request head (up to and including the blank line) as forwarded to a replica: our
    headers removed, and set again for a certificate this balancer verified (`names`), for
    the address the connection came from (`client_address`) and whether it came over TLS.

    One exception: a sender that presents the secret itself is a TLS terminator in front of
    us (docs/security.md) and its identity header passes through, unless we verified a
    certificate on this connection ourselves.

    Raises BadHead for a header line that is not `name: value`, is folded (obsolete line
    folding, RFC 7230 section 3.2.4), or holds a bare CR, LF or NUL: a replica's parser might
    split such a line where this one does not, and so see a header this check never saw.
    """
    if b"\0" in head or head.count(b"\n") != head.count(b"\r\n") or head.count(b"\r") != head.count(b"\r\n"):
        raise BadHead(b"400 Bad Request")
    lines = head.split(b"\r\n")
    request_line, header_lines = lines[0], lines[1:]
    kept = [request_line]
    ours: dict[bytes, bytes] = {}
    for line in header_lines:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            raise BadHead(b"400 Bad Request")
        name, sep, _ = line.partition(b":")
        if not sep or name != name.strip() or not name:
            raise BadHead(b"400 Bad Request")
        if name.lower() in _OURS:
            ours[name.lower()] = line.partition(b":")[2].strip()
            continue
        kept.append(line)
    identity = None
    if names and secret:
        identity = ",".join(names).encode()
    elif secret and hmac.compare_digest(ours.get(_OURS[1], b""), secret.encode()) and _OURS[0] in ours:
        identity = ours[_OURS[0]]
    if secret and (identity is not None or client_address or over_tls is not None):
        # Once: the gateway trusts none of our headers when the secret comes twice.
        kept.append(SECRET_HEADER.encode() + b": " + secret.encode())
    if identity is not None:
        kept.append(IDENTITY_HEADER.encode() + b": " + identity)
    if secret and client_address:
        kept.append(ADDRESS_HEADER.encode() + b": " + client_address.encode())
    if secret and over_tls is not None:
        kept.append(SCHEME_HEADER.encode() + (b": https" if over_tls else b": http"))
    return b"\r\n".join(kept) + b"\r\n\r\n"


def _vouched(headers: Mapping[str, str], secret: str, header: str) -> str | None:
    """A header of ours the balancer set (next to the secret, each once), else None."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None and (len(getlist(SECRET_HEADER)) > 1 or len(getlist(header)) > 1):
        return None
    presented = headers.get(SECRET_HEADER)
    if not secret or presented is None or not hmac.compare_digest(presented.encode(), secret.encode()):
        return None
    return headers.get(header) or None


def forwarded_address(headers: Mapping[str, str], secret: str) -> str | None:
    """The station's address as the balancer saw it, or None if the balancer did not vouch for it."""
    return _vouched(headers, secret, ADDRESS_HEADER)


def forwarded_scheme(headers: Mapping[str, str], secret: str) -> str | None:
    """"https" or "http" as the balancer saw the client's connection, or None if it did not vouch for it."""
    return _vouched(headers, secret, SCHEME_HEADER)


def forwarded_identity(headers: Mapping[str, str], secret: str) -> frozenset[str]:
    """The certificate names the balancer vouches for, or none if the secret is missing or wrong."""
    # The balancer sends each header once: anything else went around it.
    value = _vouched(headers, secret, IDENTITY_HEADER) or ""
    return frozenset(name for name in value.split(",") if name)
