"""Security profiles (OCPP 1.6 security whitepaper edition 3, section 2): what a handshake proves, what is needed."""

from __future__ import annotations

import msgspec

# Section 2: 1 = HTTP Basic auth over plain ws, 2 = Basic auth over TLS, 3 = a TLS client
# certificate. 0 = no profile set (the whitepaper's "unsecured"): nothing required.
PROFILES = (0, 1, 2, 3)
# The ChangeConfiguration key that moves a 1.6 station to another profile (section 3.1 of
# the whitepaper's configuration keys; the station reconnects with it after accepting).
SECURITY_PROFILE_KEY = "securityprofile"


def presented_profile(*, over_tls: bool, certificate: bool) -> int:
    """The profile a handshake proves: a verified client certificate naming the station is 3
    (it was verified by TLS, at the balancer or at a terminator given the ingress secret),
    Basic auth over TLS is 2, Basic auth over plain ws is 1."""
    if certificate:
        return 3
    return 2 if over_tls else 1


def required_profile(station_profile: int, fleet_minimum: int) -> int:
    return max(station_profile, fleet_minimum)


def below_required(presented: int, station_profile: int, fleet_minimum: int) -> bool:
    """Whether a handshake proving `presented` must be refused (TC_083 step 12: a station on
    profile 2 is not accepted over plain ws, whatever port that arrives on)."""
    return presented < required_profile(station_profile, fleet_minimum)


def accepted_profile(current: int, changed_to: int | None) -> int:
    """The station's profile after it accepted a change to `changed_to`: a station only moves
    up (section 2: a Central System shall not let a station fall back to a lower profile);
    only an operator lowers it (PUT /api/stations/{id})."""
    if changed_to is None:
        return current
    return max(current, changed_to)


def new_security_profile_16(action: str, request_json: str, response_json: str) -> int | None:
    """The profile a 1.6 station accepted with ChangeConfiguration SecurityProfile, else None."""
    if action != "ChangeConfiguration":
        return None
    request = msgspec.json.decode(request_json)
    if str(request.get("key", "")).lower() != SECURITY_PROFILE_KEY:
        return None
    if msgspec.json.decode(response_json).get("status") not in ("Accepted", "RebootRequired"):
        return None
    try:
        profile = int(str(request.get("value", "")).strip())
    except ValueError:
        return None
    return profile if profile in PROFILES else None
