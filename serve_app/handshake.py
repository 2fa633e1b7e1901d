"""The station handshake rules (OCPP-J 1.6 section 3, security profile 1), as pure functions."""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple

from actors import protocols
from actors.host_protocol import HandshakeResult

SUPPORTED_SUBPROTOCOLS = protocols.SUBPROTOCOLS
# The subprotocol of OCPP 1.6J (its tests name it; the gateway asks the registry).
OCPP16 = protocols.PROTOCOLS["1.6"].subprotocol

# chargeBoxIdentity travels in the URL path: unreserved URL characters only, at most 48
# (the 2.0.1 identity limit, which we apply to 1.6 as well).
_STATION_ID = re.compile(r"[A-Za-z0-9._\-:*+|@]{1,48}")


def valid_station_id(station_id: str) -> bool:
    return _STATION_ID.fullmatch(station_id) is not None


def pick_subprotocol(offered: list[str]) -> str | None:
    """The subprotocol of the highest OCPP version both sides speak (actors.protocols), else None."""
    protocol = protocols.negotiate(offered)
    return None if protocol is None else protocol.subprotocol


def basic_auth_password(header: str | None, station_id: str) -> bytes | None:
    """The password of an `Authorization: Basic` header whose user is the station id, else None.

    Bytes, not text: a password set with ChangeConfiguration AuthorizationKey is whatever
    16-20 bytes its hex value stands for (OCPP-J 1.6 section 6.2.2).
    """
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except binascii.Error:
        return None
    user, sep, password = decoded.partition(b":")
    if not sep or user != station_id.encode():
        return None
    return password


class Refusal(NamedTuple):
    """A handshake refused before the station's host is asked: HTTP status, why, and its
    result for the handshake counter and the station's record (actors.host_protocol.HandshakeResult)."""

    status: int
    message: str
    result: HandshakeResult


class Credential(NamedTuple):
    # The Basic-auth password for the host to check; None when a verified client
    # certificate naming the station is the credential (security profile 3).
    password: bytes | None


def station_credential(station_id: str, authorization: str | None, certificate_names: frozenset[str], *,
                       require_certificate: bool, certificate_replaces_password: bool) -> Credential | Refusal:
    """What the station authenticates with (security profiles 1-3), or why it is refused.

    `certificate_names` are the names of a client certificate the ingress verified (empty if
    none). A certificate for another station is refused even with valid Basic auth: the
    transport says who is on the line, and it is not this station (403).
    """
    if certificate_names and station_id not in certificate_names:
        return Refusal(403, "the client certificate is not for this station", "wrong_certificate")
    if not certificate_names and require_certificate:
        return Refusal(401, "a TLS client certificate naming this station is required (security profile 3)",
                       "no_certificate")
    if certificate_names and certificate_replaces_password:
        return Credential(None)
    password = basic_auth_password(authorization, station_id)
    if password is None:
        return Refusal(401, "Basic authentication with the station id as user is required", "no_credentials")
    return Credential(password)
