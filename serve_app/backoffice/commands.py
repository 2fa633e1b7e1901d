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
# The station page's forms, per OCPP version: the same action name may take another payload
# in another version (Reset: Hard/Soft in 1.6, Immediate/OnIdle in 2.0.1), so a form is
# chosen, and read, by the station's version.
FORM_COMMANDS: dict[str, tuple[str, ...]] = {
    "1.6": ("RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector",
            "ChangeAvailability", "TriggerMessage", "GetConfiguration", "ChangeConfiguration", "ClearCache"),
    "2.0.1": ("RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector",
              "ChangeAvailability", "TriggerMessage", "ClearCache"),
}
# TriggerMessage's requestedMessage (OCPP 1.6 section 5.17; 2.0.1 MessageTriggerEnumType).
TRIGGERABLE: dict[str, tuple[str, ...]] = {
    "1.6": ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
            "Heartbeat", "MeterValues", "StatusNotification"),
    "2.0.1": ("BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat",
              "MeterValues", "SignChargingStationCertificate", "SignV2GCertificate", "StatusNotification",
              "TransactionEvent", "SignCombinedCertificate", "PublishFirmwareStatusNotification"),
}


def form_commands(version: str) -> tuple[str, ...]:
    return FORM_COMMANDS.get(version, ())


def _evse(form: dict[str, str], connector: bool = False) -> dict[str, int] | None:
    """An EVSEType from the form's evseId (and connectorId), or None when no EVSE is given."""
    evse_id = _int(form, "evseId", required=False)
    if evse_id is None:
        return None
    evse = {"id": evse_id}
    if connector and (connector_id := _int(form, "connectorId", required=False)) is not None:
        evse["connectorId"] = connector_id
    return evse


def _payload_201(action: str, form: dict[str, str]) -> dict[str, Any] | None:
    """The 2.0.1 forms' payloads (Part 2 F01, F03, B11/B12, F05, G03/G04, F06, C11); None: no form."""
    if action == "RequestStartTransaction":
        payload: dict[str, Any] = {"idToken": {"idToken": _text(form, "idToken"), "type": form.get("tokenType") or "ISO14443"},
                                   "remoteStartId": _int(form, "remoteStartId")}
        if (evse_id := _int(form, "evseId", required=False)) is not None:
            payload["evseId"] = evse_id
        return payload
    if action == "RequestStopTransaction":
        return {"transactionId": _text(form, "transactionId")}
    if action == "Reset":
        payload = {"type": _text(form, "type")}
        if (evse_id := _int(form, "evseId", required=False)) is not None:
            payload["evseId"] = evse_id
        return payload
    if action == "UnlockConnector":
        return {"evseId": _int(form, "evseId"), "connectorId": _int(form, "connectorId")}
    if action == "ChangeAvailability":
        payload = {"operationalStatus": _text(form, "operationalStatus")}
        if (evse := _evse(form, connector=True)) is not None:
            payload["evse"] = evse
        return payload
    if action == "TriggerMessage":
        payload = {"requestedMessage": _text(form, "requestedMessage")}
        if (evse := _evse(form)) is not None:
            payload["evse"] = evse
        return payload
    if action == "ClearCache":
        return {}
    return None


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


def payload_from_form(action: str, form: dict[str, str], version: str = "1.6") -> dict[str, Any]:
    """The request payload a command form describes, read as the station's OCPP version's form;
    ValueError names the field that is wrong. `payload` (JSON text) is the payload itself, for
    any action without a form of its own (the operator API validates it for the station's
    real version either way)."""
    if "payload" in form:
        return _json_payload(form)
    if version == "2.0.1":
        payload = _payload_201(action, form)
        return payload if payload is not None else _json_payload(form)
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
    return _json_payload(form)


def _json_payload(form: dict[str, str]) -> dict[str, Any]:
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
