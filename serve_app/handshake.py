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


def basic_auth_password(header: str | None, station_id: str) -> str | None:
    """The password of an `Authorization: Basic` header whose user is the station id, else None."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or user != station_id:
        return None
    return password
