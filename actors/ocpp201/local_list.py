"""OCPP 2.0.1 local authorization list commands (Part 2 D01, D02): SendLocalList and GetLocalListVersion, the list kept per station."""

from __future__ import annotations

from actors.ocpp201 import messages as m
from actors.ocpp201.feature import Check, Fold, Mask
from actors.station_state import LocalAuthorization, StationState
from actors.timestamps import to_us


def local_list_key(token: m.IdTokenType) -> str:
    # IdToken is case-insensitive (IdTokenType); the same value of another type is another token.
    return f"{token.idToken.upper()}/{token.type}"


def check_send_local_list(request: m.SendLocalListRequest) -> None:
    # D01 (AuthorizationData.idTokenInfo): required in a Full update; in a Differential one
    # its absence removes the token from the list.
    if request.updateType == "Full" and any(e.idTokenInfo is None for e in request.localAuthorizationList or ()):
        raise ValueError("every entry of a Full SendLocalList needs its idTokenInfo (OCPP 2.0.1 D01)")
    # D01: versionNumber 0 is what GetLocalListVersion answers for "no list" (D02); a list
    # sent under it could not be told apart from none.
    if request.versionNumber <= 0:
        raise ValueError("SendLocalList versionNumber must be above 0 (OCPP 2.0.1 D01, D02: 0 means no list)")


def apply_send_local_list_result(state: StationState, request: m.SendLocalListRequest,
                                 response: m.SendLocalListResponse, at_us: int) -> None:
    if response.status != "Accepted":
        return  # Failed / VersionMismatch: the station's list did not change
    part = state.part201()
    if request.updateType == "Full":
        part.local_list = {}
    for entry in request.localAuthorizationList or ():
        key = local_list_key(entry.idToken)
        info = entry.idTokenInfo
        if info is None:
            part.local_list.pop(key, None)
            continue
        part.local_list[key] = LocalAuthorization(
            id_tag=entry.idToken.idToken, token_type=entry.idToken.type, status=info.status,
            expiry_us=to_us(info.cacheExpiryDateTime) if info.cacheExpiryDateTime else None,
            parent_id_tag=info.groupIdToken.idToken if info.groupIdToken else None)
    part.local_list_version = request.versionNumber


def apply_get_local_list_version_result(state: StationState, request: m.GetLocalListVersionRequest,
                                        response: m.GetLocalListVersionResponse, at_us: int) -> None:
    part = state.part201()
    part.station_local_list_version = response.versionNumber  # 0: no list installed (D02)
    part.station_local_list_version_at_us = at_us


COMMAND_RESULTS: dict[str, Fold] = {
    "GetLocalListVersion": apply_get_local_list_version_result,
    "SendLocalList": apply_send_local_list_result,
}
CHECKS: dict[str, Check] = {"SendLocalList": check_send_local_list}
MASKS: dict[str, Mask] = {}
