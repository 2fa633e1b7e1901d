"""Sending a CSMS-initiated command to a station, for the operator API and the back office alike: hand it to the station's host (which checks it against the station's OCPP version), say what came of it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from ray.exceptions import RayActorError

from actors import directory
from actors.config import Config
from actors.protocols import DEFAULT_VERSION, PROTOCOLS


def commands_of(version: str) -> list[str]:
    """The CSMS-initiated actions of a station's OCPP version, for the back office to offer;
    the station's host checks each command against the station's version again
    (StationSession.check_command: 422 for another version's action, naming the one to use)."""
    protocol = PROTOCOLS.get(version) or PROTOCOLS[DEFAULT_VERSION]
    return sorted(protocol.commands)


# Command outcomes other than an answer: HTTP status and what to tell the operator.
COMMAND_FAILURES: dict[str, tuple[int, str]] = {
    "unknown_station": (404, "unknown station"),
    "not_connected": (409, "station not connected"),
    # The host's error_description names the version's rule (1.6 section 4.2, 2.0.1 B02).
    "not_accepted": (409, "the station's BootNotification is not Accepted"),
    "disconnected": (409, "station disconnected before answering"),
    "busy": (429, "too many commands queued for this station; retry later"),
    # Refused by the station's host, nothing sent: not a command of the station's OCPP version,
    # or not a valid payload for it (the host's error_description says which and why).
    "unknown_action": (404, ""),
    "invalid_payload": (422, ""),
    # A raise to security profile 3 before the station holds a client certificate (whitepaper A05).
    "certificate_first": (409, ""),
    "other_version": (422, ""),
    # Valid, but not in the station's state (e.g. a TxProfile for a transaction not open there).
    "not_allowed": (409, ""),
    "timeout": (504, "no answer from the station in time"),
}


class CommandResult(msgspec.Struct, kw_only=True):
    """What came of a command: the HTTP status the API answers, and why."""

    status_code: int
    action: str
    message: str
    # True when the outcome concerns a command the station's host took up (it got a message id,
    # or the host refused to queue it for the station); False when the command itself was
    # refused (unknown action, invalid payload: nothing queued) or no host answered.
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
    name = directory.host_for(station_id, hosts)
    try:
        host = directory.get_actor(name)
    except ValueError:
        return CommandResult(status_code=503, action=action, message=f"station host {name} not running")
    timeout = config.command_timeout_s
    try:
        outcome = await asyncio.wait_for(
            host.command.remote(station_id, action, msgspec.json.encode(payload).decode(), timeout),
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
    if outcome.status in ("unknown_action", "invalid_payload", "other_version", "not_allowed"):
        return CommandResult(status_code=status_code, action=action, message=outcome.error_description or message)
    return CommandResult(status_code=status_code, action=action, message=outcome.error_description or message,
                         from_host=True, message_id=outcome.message_id)
