"""OCPP 2.0.1 CSMS-initiated actions: every request an operator may send, the rules the schemas leave out, secrets masked, and how each answer folds.

Requests are the generated Structs of `messages.CSMS_REQUESTS` (the ocpp library's 2.0.1
schemas), so an invalid payload is refused before anything is sent. What a command means
beyond its schema lives in the feature modules of this folder, each exporting the three
dicts of actors/ocpp201/feature.py (`COMMAND_RESULTS`, `CHECKS`, `MASKS`); this module only
merges them (`FEATURES`) and offers the Protocol face's functions (actors/protocol.py).

A station's answer decodes strictly, as its schema says (additionalProperties false): an
answer off the schema folds nothing, but is still logged and given to the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import msgspec

from actors.ocpp201 import (
    certificates,
    costs,
    customer_information,
    device_model,
    display_messages,
    firmware_logs,
    local_list,
    monitoring,
    network_profile,
    remote_control,
    reservations,
    secrets,
    smart_charging,
)
from actors.ocpp201 import messages as m
from actors.ocpp201.feature import Check, Fold, Mask
from actors.station_state import StationState

# Every action the CSMS may initiate in OCPP 2.0.1, with its request type.
COMMANDS: dict[str, type[m.Payload]] = m.CSMS_REQUESTS

# The feature modules, in the order their folds, checks and masks run for an action.
FEATURES: tuple[ModuleType, ...] = (
    secrets,
    device_model,
    remote_control,
    local_list,
    reservations,
    smart_charging,
    firmware_logs,
    display_messages,
    monitoring,
    network_profile,
    customer_information,
    costs,
    certificates,
)


def _merged(name: str) -> dict[str, tuple[Callable, ...]]:
    merged: dict[str, tuple[Callable, ...]] = {}
    for feature in FEATURES:
        for action, function in getattr(feature, name, {}).items():
            assert action in COMMANDS, f"{feature.__name__}.{name} names {action!r}, not a 2.0.1 command"
            merged[action] = merged.get(action, ()) + (function,)
    return merged


COMMAND_RESULTS: dict[str, tuple[Fold, ...]] = _merged("COMMAND_RESULTS")
CHECKS: dict[str, tuple[Check, ...]] = _merged("CHECKS")
# check(state, request): rules against what the station holds (a feature's STATE_CHECKS).
STATE_CHECKS: dict[str, tuple[Callable[[StationState, Any], None], ...]] = _merged("STATE_CHECKS")
MASKS: dict[str, tuple[Mask, ...]] = _merged("MASKS")


def decode_command(action: str, payload: bytes | str) -> m.Payload:
    """Decode and validate an operator's payload for `action` (a key of COMMANDS); raises
    msgspec.ValidationError (DecodeError, its base, for text that is not JSON)."""
    return m.decode_request(action, payload)  # type: ignore[arg-type]  (msgspec decodes str too)


def check_command(action: str, request: Any) -> None:
    """ValueError for a command the 2.0.1 text forbids or the station could not use; and for
    one carrying a secret no feature masks yet (never logged in clear, so never sent)."""
    carries_secret = secrets.SECRET_BEARING.get(action)
    if carries_secret is not None and action not in MASKS and carries_secret(msgspec.to_builtins(request)):
        raise ValueError(f"{action} with credentials is not offered yet: the CSMS cannot keep them out of its log")
    for check in CHECKS.get(action, ()):
        check(request)


def check_command_on(state: StationState, action: str, request: Any) -> None:
    """ValueError for a valid command that what the station holds forbids now (409)."""
    for check in STATE_CHECKS.get(action, ()):
        check(state, request)


def loggable_command(action: str, request: Any) -> Any:
    """The request as the event log, the lake and the API may keep it: secrets masked."""
    masks = MASKS.get(action)
    if not masks:
        return request
    loggable = msgspec.to_builtins(request)
    for mask in masks:
        loggable = mask(loggable)
    return loggable


def loggable_result(action: str, payload_json: str) -> str:
    return secrets.loggable_result(action, payload_json)


def apply_command_result(state: StationState, action: str, request_json: str, response_json: str,
                         at_us: int) -> bool:
    """Fold the station's CALLRESULT to our CALL (`request_json` as logged: masked) into the
    state; whether anything was applied. Never raises: an answer that does not decode for its
    action changes nothing; the raw answer stays in the log and goes to the operator."""
    folds: Sequence[Fold] = COMMAND_RESULTS.get(action, ())
    if not folds:
        return False
    try:
        request = m.decode_request(action, request_json.encode())
        response = m.decode_response(action, response_json.encode())
    except msgspec.DecodeError:
        return False
    for fold in folds:
        fold(state, request, response, at_us)
    return True


def new_password(action: str, request_json: str, response_json: str) -> bytes | None:
    """A station that accepted SetVariables of SecurityCtrlr.BasicAuthPassword authenticates
    with it from its next connection on (A01): its bytes are the Basic-auth password."""
    return secrets.password_of(request_json, response_json) if action == "SetVariables" else None


def new_security_profile(action: str, request_json: str, response_json: str) -> int | None:
    """The profile an accepted SetVariables of SecurityCtrlr.SecurityProfile, or an accepted
    SetNetworkProfile (B09, actors/ocpp201/network_profile.py), moved the station to."""
    if action == "SetVariables":
        return secrets.security_profile_of(request_json, response_json)
    return network_profile.new_security_profile(action, request_json, response_json)


def password_command(password: str) -> tuple[str, dict[str, Any]]:
    """The command that gives a station a new Basic-auth password (A01)."""
    return "SetVariables", {"setVariableData": [{
        "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
        "attributeValue": password,
    }]}


def command_status(action: str, response_json: str) -> str | None:
    """The status a station's answer reports: its `status`, or for SetVariables / GetVariables
    the first result's attributeStatus."""
    answer = secrets.json_object(response_json)
    if answer is None:
        return None
    for results in ("setVariableResult", "getVariableResult"):
        if isinstance(answer.get(results), list) and answer[results] and isinstance(answer[results][0], dict):
            return answer[results][0].get("attributeStatus")
    status = answer.get("status")
    return status if isinstance(status, str) else None
