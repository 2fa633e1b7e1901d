"""OCPP 2.0.1 SetNetworkProfile (Part 2 B09): the connection profiles a station keeps in its slots, their secrets, and the security profile they move it to.

A profile carries credentials: the APN password and SIM PIN, the VPN password and shared
secret, and possibly a user:password in the CSMS URL. The log, the lake and the API keep them
masked (the PIN, an integer, is dropped: it is optional, and a masked integer would not be
one); the station gets them as sent. The state keeps no secret at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from actors.command_urls import MASK, is_uri, masked_url
from actors.ocpp201 import messages as m

# 2.0.1 has profiles 1-3 only (Part 2 A00); 0 ("unsecured") is the 1.6 whitepaper's.
PROFILES_201 = (1, 2, 3)
from actors.station_state import NetworkProfile201, StationState


def check_set_network_profile(req: m.SetNetworkProfileRequest) -> None:
    data = req.connectionData
    if data.ocppTransport != "JSON":
        raise ValueError("OCPP 2.0.1 runs over JSON only: SOAP is not supported in OCPP 2.0 (OCPPTransportEnumType)")
    if data.securityProfile not in PROFILES_201:
        raise ValueError("securityProfile is 1, 2 or 3 (OCPP 2.0.1 Part 2 A00: the three security profiles)")
    if not is_uri(data.ocppCsmsUrl) or not data.ocppCsmsUrl.lower().startswith(("ws://", "wss://")):
        raise ValueError("ocppCsmsUrl is the ws:// or wss:// URL of the CSMS (OCPP 2.0.1 B09; OCPP-J section 3)")
    if data.securityProfile >= 2 and not data.ocppCsmsUrl.lower().startswith("wss://"):
        raise ValueError("security profiles 2 and 3 need TLS: a wss:// ocppCsmsUrl (OCPP 2.0.1 A00)")
    if data.messageTimeout <= 0:
        raise ValueError("messageTimeout is a duration in seconds > 0 (OCPP 2.0.1 NetworkConnectionProfileType)")


CHECKS: dict[str, Callable[[Any], None]] = {"SetNetworkProfile": check_set_network_profile}


def check_set_network_profile_on(state: StationState, req: m.SetNetworkProfileRequest) -> None:
    registration = state.registration
    current = registration.security_profile if registration is not None else 0
    # A04/A05: a station only moves up; the station rejects a lower profile than the one it
    # uses, and the CSMS never accepts it lower again (actors/security_profiles.py).
    if req.connectionData.securityProfile < current:
        raise ValueError(f"securityProfile {req.connectionData.securityProfile} is below the station's "
                         f"{current}: never downgraded (OCPP 2.0.1 A05)")


STATE_CHECKS: dict[str, Callable[[StationState, Any], None]] = {"SetNetworkProfile": check_set_network_profile_on}


def mask_set_network_profile(payload: dict) -> dict:
    data = payload.get("connectionData")
    if not isinstance(data, dict):
        return payload
    data = dict(data)
    if isinstance(data.get("ocppCsmsUrl"), str):
        data["ocppCsmsUrl"] = masked_url(data["ocppCsmsUrl"])
    apn = data.get("apn")
    if isinstance(apn, dict):
        apn = {k: v for k, v in apn.items() if k != "simPin"}
        if "apnPassword" in apn:
            apn["apnPassword"] = MASK
        data["apn"] = apn
    vpn = data.get("vpn")
    if isinstance(vpn, dict):
        data["vpn"] = {**vpn, **{k: MASK for k in ("password", "key") if k in vpn}}
    return {**payload, "connectionData": data}


MASKS: dict[str, Callable[[dict], dict]] = {"SetNetworkProfile": mask_set_network_profile}


def apply_set_network_profile_result(state: StationState, req: m.SetNetworkProfileRequest,
                                     res: m.SetNetworkProfileResponse, at_us: int) -> None:
    # B09.FR.01 Accepted: stored in the slot. Rejected / Failed (B09.FR.02, B09.FR.03): unchanged.
    if res.status != "Accepted":
        return
    data = req.connectionData
    state.part201().network_profiles[req.configurationSlot] = NetworkProfile201(
        slot=req.configurationSlot, ocpp_version=data.ocppVersion, ocpp_transport=data.ocppTransport,
        csms_url=masked_url(data.ocppCsmsUrl), message_timeout_s=data.messageTimeout,
        security_profile=data.securityProfile, ocpp_interface=data.ocppInterface,
        apn=data.apn.apn if data.apn else None, apn_authentication=data.apn.apnAuthentication if data.apn else None,
        vpn_server=data.vpn.server if data.vpn else None, vpn_type=data.vpn.type if data.vpn else None,
        set_at_us=at_us,
    )


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "SetNetworkProfile": apply_set_network_profile_result,
}


def new_security_profile(action: str, request_json: str, response_json: str) -> int | None:
    """The security profile of a network profile the station accepted (the face's
    `new_security_profile`: it becomes the station's pending profile, never a lower one).

    A05.FR.04: the station switches to it only once NetworkConfigurationPriority puts its
    slot first (SetVariables) and it reconnects, so it is enforced only from the first
    handshake that proves it (actors/security_profiles.py, `confirms_pending`)."""
    if action != "SetNetworkProfile":
        return None
    try:
        request = msgspec.json.decode(request_json)
        status = msgspec.json.decode(response_json).get("status")
        profile = request["connectionData"]["securityProfile"]
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return None
    if status != "Accepted" or not isinstance(profile, int) or profile not in PROFILES_201:
        return None
    return profile
