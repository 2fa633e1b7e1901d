"""Station commands from the back office: the forms' fields as OCPP 1.6 payloads, and their outcome as the API states it.

The forms ask for the few fields an agent fills in on the phone; `payload_from_form` turns
them into the payload as on the wire (OCPP 1.6 section 5, each command's .req), and the
send goes the API's way (`StationHost.command`, one CALL in flight per connection).
"""

from __future__ import annotations

import json
from typing import Any

from serve_app.command_path import CommandResult, send_command

# The commands with a form of their own, in the order the station page shows them.
FORM_COMMANDS = ("RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector",
                 "ChangeAvailability", "TriggerMessage", "GetConfiguration", "ChangeConfiguration", "ClearCache")
# TriggerMessage.req's requestedMessage (OCPP 1.6 section 5.17).
TRIGGERABLE = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
               "Heartbeat", "MeterValues", "StatusNotification")


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
    """Send `action` the way POST /api/stations/{id}/commands/{action} does (the same outcome
    codes), with the station's answer pretty-printed for the page."""
    result = await send_command(api.config, api.hosts, station_id, action, payload)
    if result.response is not None:
        result.response = json.dumps(json.loads(result.response), indent=2, sort_keys=True)
    return result
