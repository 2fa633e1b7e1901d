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


def pending_after_accept(enforced: int, pending: int | None, changed_to: int | None) -> int | None:
    """The station's pending profile after it accepted a change to `changed_to`.

    An accepted raise is not enforced at once: the station switches only when it reconnects
    (1.6 whitepaper A05: it accepts, then reconnects with the new profile; 2.0.1 A05.FR.04:
    a SetNetworkProfile counts once NetworkConfigurationPriority puts its slot first and it
    reconnects, OCTT TC_A_19), and it may fall back to the profile it had when the new one
    does not connect (2.0.1 B10: the next profile of NetworkConfigurationPriority). Its
    newest accepted profile above the enforced one is what it will try next; one at or below
    the enforced one clears a raise under way and never lowers the enforced one (section 2:
    no fallback below it; only an operator lowers it, PUT /api/stations/{id})."""
    if changed_to is None:
        return pending
    return still_pending(changed_to, enforced)


def still_pending(pending: int | None, enforced: int) -> int | None:
    """A raise under way once `enforced` is the station's profile: gone when it no longer is
    one (an operator's PUT, or a handshake that proved it, reached it)."""
    return pending if pending is not None and pending > enforced else None


class ProfileHandshake(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted handshake of a station with a raise under way (the payload of
    SecurityProfileConfirmed / SecurityProfileFallback, actors/events.py)."""

    presented_profile: int
    pending_profile: int
    # The profile enforced before this handshake.
    enforced_profile: int


def confirms_pending(presented: int, pending: int) -> bool:
    """Whether an accepted handshake proving `presented` shows the station switched to its
    pending profile: from then on that one is enforced and lower handshakes are refused
    (TC_083 step 12). Below it (but at or above the enforced one) it came back on its old
    profile: accepted, the raise still pending."""
    return presented >= pending


def requested_security_profile_16(action: str, request_json: str) -> int | None:
    """The profile a 1.6 ChangeConfiguration SecurityProfile command asks the station to move to, else None."""
    if action != "ChangeConfiguration":
        return None
    request = msgspec.json.decode(request_json)
    if not isinstance(request, dict) or str(request.get("key", "")).lower() != SECURITY_PROFILE_KEY:
        return None
    try:
        profile = int(str(request.get("value", "")).strip())
    except ValueError:
        return None
    return profile if profile in PROFILES else None


def new_security_profile_16(action: str, request_json: str, response_json: str) -> int | None:
    """The profile a 1.6 station accepted with ChangeConfiguration SecurityProfile, else None."""
    profile = requested_security_profile_16(action, request_json)
    if profile is None or msgspec.json.decode(response_json).get("status") not in ("Accepted", "RebootRequired"):
        return None
    return profile


class ProfileRefused(msgspec.Struct, frozen=True):
    """Why an operator's raise of a station's security profile was refused (the API answers 409)."""

    reason: str


def certificate_first_refusal(current: int, requested: int, holds_client_certificate: bool) -> str | None:
    """Whitepaper A05 (and A05.FR.04 on the station's side): the prerequisites of a higher profile
    come first, then the change; for profile 3 that is a client certificate. A raise to 3 is
    refused unless the station holds one we issued (it accepted our CertificateSigned) or the
    operator said one was installed another way (`client_certificate_installed`)."""
    if requested < 3 or current >= 3 or holds_client_certificate:
        return None
    return ("raising the station to security profile 3 needs a client certificate first (OCPP 1.6 security "
            "whitepaper A05): none issued by this CSMS was accepted by the station; have it sign one "
            "(ExtendedTriggerMessage SignChargePointCertificate), or, if one was installed another way, "
            "say so with PUT /api/stations/{id} and \"client_certificate_installed\": true")
