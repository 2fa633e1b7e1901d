"""Sending a CSMS-initiated command to a station, for the operator API and the back office alike: validate it for its action, hand it to the station's host, say what came of it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from ray.exceptions import RayActorError

from actors import directory
from actors.config import Config
from actors.ocpp16.csms_side import COMMANDS, decode_command
from actors.ocpp16.secrets import check_secret_command, loggable_command

# Command outcomes other than an answer: HTTP status and what to tell the operator.
COMMAND_FAILURES: dict[str, tuple[int, str]] = {
    "unknown_station": (404, "unknown station"),
    "not_connected": (409, "station not connected"),
    "not_accepted": (409, "the station's BootNotification is not Accepted (OCPP 1.6 section 4.2 forbids "
                          "RemoteStartTransaction and RemoteStopTransaction while Pending)"),
    "disconnected": (409, "station disconnected before answering"),
    "busy": (429, "too many commands queued for this station; retry later"),
    "timeout": (504, "no answer from the station in time"),
}


class CommandResult(msgspec.Struct, kw_only=True):
    """What came of a command: the HTTP status the API answers, and why."""

    status_code: int
    action: str
    message: str
    # True when the station's host decided the outcome (the command got a message id, or the
    # host refused it); False when it was refused before (unknown action, invalid payload, no host).
    from_host: bool = False
    message_id: str | None = None
    # The station's CALLRESULT payload as JSON text (200).
    response: str | None = None
    error_code: str | None = None
    error_description: str | None = None


async def send_command(config: Config, hosts: list[str], station_id: str, action: str,
                       payload: dict[str, Any]) -> CommandResult:
    """Send `action` with `payload` (as on the wire) to the station and wait for its answer,
    through its host's mailbox (one CALL in flight per connection, OCPP-J 1.6 section 4.1.1)."""
    if action not in COMMANDS:
        return CommandResult(status_code=404, action=action, message=(
            f"{action!r} is not a CSMS-initiated OCPP 1.6 action; one of: {', '.join(sorted(COMMANDS))}"))
    try:
        request = decode_command(action, msgspec.json.encode(payload))
        check_secret_command(action, request)
    except (msgspec.ValidationError, ValueError) as exc:
        return CommandResult(status_code=422, action=action, message=f"invalid {action} payload: {exc}")
    name = directory.host_for(station_id, hosts)
    try:
        host = directory.get_actor(name)
    except ValueError:
        return CommandResult(status_code=503, action=action, message=f"station host {name} not running")
    timeout = config.command_timeout_s
    try:
        outcome = await asyncio.wait_for(
            host.command.remote(station_id, action, msgspec.json.encode(request).decode(),
                                msgspec.json.encode(loggable_command(action, request)).decode(), timeout),
            timeout + config.host_call_timeout_s,
        )
    except (RayActorError, asyncio.TimeoutError) as exc:
        return CommandResult(status_code=503, action=action,
                             message=f"station host unavailable, retry later ({type(exc).__name__})")
    if outcome.status == "answered":
        return CommandResult(status_code=200, action=action, message="answered", from_host=True,
                             message_id=outcome.message_id, response=outcome.response or "{}")
    if outcome.status == "call_error":
        return CommandResult(status_code=502, action=action, message="the station answered with a CALLERROR",
                             from_host=True, message_id=outcome.message_id, error_code=outcome.error_code,
                             error_description=outcome.error_description)
    status_code, message = COMMAND_FAILURES[outcome.status]
    return CommandResult(status_code=status_code, action=action, message=message, from_host=True,
                         message_id=outcome.message_id)
