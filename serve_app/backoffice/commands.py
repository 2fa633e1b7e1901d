"""Station commands from the back office: the forms' fields as OCPP 1.6 payloads, and their outcome as the API states it.

The forms ask for the few fields an agent fills in on the phone; `payload_from_form` turns
them into the payload as on the wire (OCPP 1.6 section 5, each command's .req), and the
send goes the API's way (`StationHost.command`, one CALL in flight per connection).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
from ray.exceptions import RayActorError

from actors import directory
from actors.ocpp16.csms_side import COMMANDS, decode_command
from actors.ocpp16.secrets import check_secret_command, loggable_command

# The commands with a form of their own, in the order the station page shows them.
FORM_COMMANDS = ("RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector",
                 "ChangeAvailability", "TriggerMessage", "GetConfiguration", "ChangeConfiguration", "ClearCache")
# TriggerMessage.req's requestedMessage (OCPP 1.6 section 5.17).
TRIGGERABLE = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
               "Heartbeat", "MeterValues", "StatusNotification")


class CommandResult(msgspec.Struct, kw_only=True):
    """What the station page shows in place: the HTTP status the API would answer, and why."""

    status_code: int
    action: str
    message: str
    message_id: str | None = None
    # The station's CALLRESULT payload (200), pretty-printed.
    response: str | None = None
    error_code: str | None = None
    error_description: str | None = None


def _int(form: dict[str, str], name: str, required: bool = True) -> int | None:
    value = form.get(name, "").strip()
    if not value:
        if required:
            raise ValueError(f"{name} is required")
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None


def _text(form: dict[str, str], name: str, required: bool = True) -> str | None:
    value = form.get(name, "").strip()
    if required and not value:
        raise ValueError(f"{name} is required")
    return value or None


def payload_from_form(action: str, form: dict[str, str]) -> dict[str, Any]:
    """The .req payload a command form describes; ValueError names the field that is wrong.
    `payload` (JSON text) is the payload itself, for any action without a form of its own."""
    if action == "RemoteStartTransaction":
        payload: dict[str, Any] = {"idTag": _text(form, "idTag")}
        if (connector := _int(form, "connectorId", required=False)) is not None:
            payload["connectorId"] = connector
        return payload
    if action == "RemoteStopTransaction":
        return {"transactionId": _int(form, "transactionId")}
    if action == "Reset":
        return {"type": _text(form, "type")}
    if action == "UnlockConnector":
        return {"connectorId": _int(form, "connectorId")}
    if action == "ChangeAvailability":
        return {"connectorId": _int(form, "connectorId"), "type": _text(form, "type")}
    if action == "TriggerMessage":
        payload = {"requestedMessage": _text(form, "requestedMessage")}
        if (connector := _int(form, "connectorId", required=False)) is not None:
            payload["connectorId"] = connector
        return payload
    if action == "GetConfiguration":
        keys = [k.strip() for k in form.get("key", "").split(",") if k.strip()]
        return {"key": keys} if keys else {}
    if action == "ChangeConfiguration":
        return {"key": _text(form, "key"), "value": form.get("value", "")}
    if action == "ClearCache":
        return {}
    text = form.get("payload", "").strip() or "{}"
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the payload is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(payload, dict):
        raise ValueError("the payload must be a JSON object")
    return payload


async def send(api: Any, station_id: str, action: str, payload: dict[str, Any]) -> CommandResult:
    """Send `action` the way POST /api/stations/{id}/commands/{action} does, through the
    station's host; the same outcome codes (404, 409, 422, 429, 502, 503, 504)."""
    # Imported here: operator_api imports this package to mount it.
    from serve_app.operator_api import _COMMAND_FAILURES

    if action not in COMMANDS:
        return CommandResult(status_code=404, action=action, message=f"{action!r} is not a CSMS-initiated OCPP 1.6 action")
    try:
        request = decode_command(action, msgspec.json.encode(payload))
        check_secret_command(action, request)
    except (msgspec.ValidationError, ValueError) as exc:
        return CommandResult(status_code=422, action=action, message=f"invalid {action} payload: {exc}")
    timeout = api.config.command_timeout_s
    try:
        host = directory.get_actor(directory.host_for(station_id, api.hosts))
        outcome = await asyncio.wait_for(
            host.command.remote(station_id, action, msgspec.json.encode(request).decode(),
                                msgspec.json.encode(loggable_command(action, request)).decode(), timeout),
            timeout + api.config.host_call_timeout_s,
        )
    except (ValueError, RayActorError, asyncio.TimeoutError) as exc:
        return CommandResult(status_code=503, action=action, message=f"station host unavailable, retry later ({type(exc).__name__})")
    if outcome.status == "answered":
        response = json.dumps(json.loads(outcome.response or "{}"), indent=2, sort_keys=True)
        return CommandResult(status_code=200, action=action, message="answered", message_id=outcome.message_id,
                             response=response)
    if outcome.status == "call_error":
        return CommandResult(status_code=502, action=action, message="the station answered with a CALLERROR",
                             message_id=outcome.message_id, error_code=outcome.error_code,
                             error_description=outcome.error_description)
    status_code, message = _COMMAND_FAILURES[outcome.status]
    return CommandResult(status_code=status_code, action=action, message=message, message_id=outcome.message_id)
