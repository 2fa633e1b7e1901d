"""Secrets inside OCPP 2.0.1 command payloads and answers: the station password, masked before anything is logged, landed or shown.

Security profile 1-2 stations authenticate with HTTP Basic auth, the password being the
device-model variable SecurityCtrlr.BasicAuthPassword (Part 2 A01, A00.FR.205), which the CSMS
sets with SetVariables. It is WriteOnly (Part 2 appendix, SecurityCtrlr), yet a station could
report it in a GetVariables answer: both are masked here.

`SECRET_BEARING` names every command whose payload can carry a secret, with how to tell; the
command is refused (ValueError, 422, nothing sent) while no feature module masks it
(actors/ocpp201/csms_side.py), so a secret is never logged in clear for want of a mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from actors.ocpp201 import messages as m

MASK = "***"

SECURITY_CTRLR = "securityctrlr"
BASIC_AUTH_PASSWORD = "basicauthpassword"
SECURITY_PROFILE = "securityprofile"

# A00.FR.205: "a randomly chosen passwordString ... consisting of minimum 16 and a maximum as
# defined by the maxLimit of configuration variable BasicAuthPassword", a maxLimit of at least
# 40 and at most 64: 40 is what every station takes. passwordString (Part 2 section 2.1.4,
# primitive datatypes) "can only contain characters from the following character set: a-z,
# A-Z, 0-9, '*', '-', '_', '=', ':', '+', '|', '@', '.'".
PASSWORD_MIN, PASSWORD_MAX = 16, 40
_PASSWORD_STRING = re.compile(r"[a-zA-Z0-9*\-_=:+|@.]*")


def names(component: str, variable: str, wanted_component: str, wanted_variable: str) -> bool:
    # Component and variable names are identifierString: case-insensitive (Part 2 section 2.1.4).
    return component.lower() == wanted_component and variable.lower() == wanted_variable


def is_password(component: Any, variable: Any) -> bool:
    """Whether a ComponentType / VariableType (Structs or JSON dicts) name SecurityCtrlr.BasicAuthPassword."""
    def name(x: Any) -> str:
        value = x.get("name") if isinstance(x, dict) else getattr(x, "name", None)
        return value if isinstance(value, str) else ""
    return names(name(component), name(variable), SECURITY_CTRLR, BASIC_AUTH_PASSWORD)


def check_basic_auth_password(value: str) -> None:
    """Raise ValueError for a BasicAuthPassword a station may refuse or could not use (A00.FR.205)."""
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValueError(f"SecurityCtrlr.BasicAuthPassword must be {PASSWORD_MIN} to {PASSWORD_MAX} characters "
                         f"(OCPP 2.0.1 A00.FR.205), not {len(value)}")
    if _PASSWORD_STRING.fullmatch(value) is None:
        raise ValueError("SecurityCtrlr.BasicAuthPassword may hold only a-z A-Z 0-9 * - _ = : + | @ . "
                         "(passwordString, OCPP 2.0.1 Part 2 section 2.1.4, A00.FR.205)")


def check_set_variables(request: m.SetVariablesRequest) -> None:
    passwords = [d for d in request.setVariableData if is_password(d.component, d.variable)]
    for data in passwords:
        check_basic_auth_password(data.attributeValue)
    for data in request.setVariableData:
        if names(data.component.name, data.variable.name, SECURITY_CTRLR, SECURITY_PROFILE) \
                and data.attributeValue.strip() not in ("1", "2", "3"):
            # Part 2 section 1.3 (security profiles): 1, 2 or 3.
            raise ValueError("SecurityCtrlr.SecurityProfile must be 1, 2 or 3 (OCPP 2.0.1 Part 2 section 1.3)")
    if len({d.attributeValue for d in passwords}) > 1:
        # Which one would the station keep? Its answer could not tell us which to store.
        raise ValueError("one SetVariables may set SecurityCtrlr.BasicAuthPassword once")


def mask_set_variables(request: dict[str, Any]) -> dict[str, Any]:
    for data in request.get("setVariableData") or ():
        if isinstance(data, dict) and is_password(data.get("component"), data.get("variable")):
            data["attributeValue"] = MASK
    return request


def mask_get_variables_result(answer: dict[str, Any]) -> bool:
    """Mask a reported BasicAuthPassword value in a GetVariables answer; whether one was masked."""
    masked = False
    for result in answer.get("getVariableResult") or ():
        if isinstance(result, dict) and is_password(result.get("component"), result.get("variable")) \
                and result.get("attributeValue") not in (None, MASK):
            result["attributeValue"] = MASK
            masked = True
    return masked


# Answers that may carry a secret, by the action they answer.
RESULT_MASKS: dict[str, Callable[[dict[str, Any]], bool]] = {"GetVariables": mask_get_variables_result}


def json_object(text: str) -> dict[str, Any] | None:
    """A JSON object's builtins, or None for anything else (a station's answer may be anything)."""
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def loggable_result(action: str, payload_json: str) -> str:
    """A station's CALLRESULT payload as the log and the operator may see it. An answer to a
    CALL we no longer wait for comes without a known action: every result mask applies then."""
    masks: Iterable[Callable[[dict[str, Any]], bool]] = (
        (RESULT_MASKS[action],) if action in RESULT_MASKS else () if action in m.RESPONSES else RESULT_MASKS.values())
    answer = json_object(payload_json) if masks else None
    if answer is None:
        return payload_json
    masked = [mask(answer) for mask in masks]
    return msgspec.json.encode(answer).decode() if any(masked) else payload_json


def password_of(request_json: str, response_json: str) -> bytes | None:
    """The new Basic-auth password of a SetVariables the station accepted (Accepted or
    RebootRequired, A01: it reconnects with it), else None."""
    return _accepted_value(request_json, response_json, BASIC_AUTH_PASSWORD, lambda v: v.encode())


def security_profile_of(request_json: str, response_json: str) -> int | None:
    """The security profile a SetVariables of SecurityCtrlr.SecurityProfile the station accepted moved it to."""
    def profile(value: str) -> int | None:
        try:
            number = int(value.strip())
        except ValueError:
            return None
        return number if 0 <= number <= 3 else None
    return _accepted_value(request_json, response_json, SECURITY_PROFILE, profile)


def _accepted_value(request_json: str, response_json: str, variable: str, convert: Callable[[str], Any]) -> Any:
    try:
        request = msgspec.json.decode(request_json, type=m.SetVariablesRequest)
        response = msgspec.json.decode(response_json, type=m.SetVariablesResponse)
    except msgspec.DecodeError:
        return None
    for data in request.setVariableData:
        if not names(data.component.name, data.variable.name, SECURITY_CTRLR, variable):
            continue
        for result in response.setVariableResult:
            # The result names the component/variable/attribute it answers (SetVariableResultType).
            if names(result.component.name, result.variable.name, SECURITY_CTRLR, variable) \
                    and (result.attributeType or "Actual") == (data.attributeType or "Actual") \
                    and result.attributeStatus in ("Accepted", "RebootRequired"):
                return convert(data.attributeValue)
    return None


def _location_has_credentials(location: object) -> bool:
    # A URL's userinfo (RFC 3986 section 3.2.1, user:password@host): L01 / N01 allow them.
    return isinstance(location, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*@", location) is not None


# Commands whose payload may carry a secret, and whether this one does (request JSON builtins).
SECRET_BEARING: dict[str, Callable[[dict[str, Any]], bool]] = {
    "SetVariables": lambda r: any(isinstance(d, dict) and is_password(d.get("component"), d.get("variable"))
                                  for d in r.get("setVariableData") or ()),
    # APN and VPN passwords, the VPN key (NetworkConnectionProfileType).
    "SetNetworkProfile": lambda r: True,
    "UpdateFirmware": lambda r: _location_has_credentials((r.get("firmware") or {}).get("location")),
    "PublishFirmware": lambda r: _location_has_credentials(r.get("location")),
    "GetLog": lambda r: _location_has_credentials((r.get("log") or {}).get("remoteLocation")),
}

CHECKS = {"SetVariables": check_set_variables}
MASKS = {"SetVariables": mask_set_variables}
