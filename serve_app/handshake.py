"""The station handshake rules (OCPP-J 1.6 section 3, security profile 1), as pure functions."""

from __future__ import annotations

import base64
import binascii
import re

OCPP16 = "ocpp1.6"
SUPPORTED_SUBPROTOCOLS = (OCPP16,)

# chargeBoxIdentity travels in the URL path: unreserved URL characters only, at most 48
# (the 2.0.1 identity limit, which we apply to 1.6 as well).
_STATION_ID = re.compile(r"[A-Za-z0-9._\-:*+|@]{1,48}")


def valid_station_id(station_id: str) -> bool:
    return _STATION_ID.fullmatch(station_id) is not None


def pick_subprotocol(offered: list[str]) -> str | None:
    """The first subprotocol we support, in the station's order of preference."""
    for name in offered:
        if name in SUPPORTED_SUBPROTOCOLS:
            return name
    return None


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
