"""A station's outbound command mailbox: one CALL in flight per connection, the rest in order.

OCPP-J 1.6 section 4.1.1: a sender must not send a CALL before the previous one is answered
(or timed out). Operator commands queue here up to a bound; beyond it the operator is told to
come back (429) instead of the host buffering without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal

import msgspec

CommandStatus = Literal[
    "answered", "call_error", "timeout", "not_connected", "not_accepted", "busy", "unknown_station", "disconnected",
    # Refused before anything is queued: not a command of the station's OCPP version, or not
    # a valid payload for it (`error_description` says why).
    "unknown_action", "invalid_payload",
]


class CommandOutcome(msgspec.Struct, frozen=True, kw_only=True):
    status: CommandStatus
    message_id: str | None = None
    # The station's CALLRESULT payload (answered) as JSON text.
    response: str | None = None
    error_code: str | None = None
    error_description: str | None = None


class PendingCommand:
    __slots__ = ("message_id", "action", "payload_json", "logged_payload_json", "future")

    def __init__(self, message_id: str, action: str, payload_json: str, logged_payload_json: str | None = None) -> None:
        self.message_id = message_id
        self.action = action
        self.payload_json = payload_json
        # What the event log keeps: the payload with secrets (a new AuthorizationKey) masked.
        self.logged_payload_json = payload_json if logged_payload_json is None else logged_payload_json
        self.future: asyncio.Future[CommandOutcome] = asyncio.get_running_loop().create_future()


class Mailbox:
    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._queue: deque[PendingCommand] = deque()
        self.in_flight: PendingCommand | None = None

    def __len__(self) -> int:
        return len(self._queue) + (self.in_flight is not None)

    def submit(self, command: PendingCommand) -> bool:
        """Queue a command; False when the mailbox is full."""
        if len(self) >= self._bound:
            return False
        self._queue.append(command)
        return True

    def next_to_send(self) -> PendingCommand | None:
        """The command to send now, if the line is free; it becomes the one in flight."""
        if self.in_flight is not None:
            return None
        while self._queue:
            command = self._queue.popleft()
            if not command.future.done():  # an operator who gave up while it waited
                self.in_flight = command
                return command
        return None

    def resolve(self, message_id: str, outcome: CommandOutcome) -> bool:
        """Complete the command in flight if `message_id` is its id (a late answer is not)."""
        command = self.in_flight
        if command is None or command.message_id != message_id:
            return False
        self.in_flight = None
        if not command.future.done():
            command.future.set_result(outcome)
        return True

    def abandon(self, command: PendingCommand) -> None:
        """The operator stopped waiting (timeout): free the line if it was in flight."""
        if self.in_flight is command:
            self.in_flight = None
        else:
            try:
                self._queue.remove(command)
            except ValueError:
                pass

    def fail_all(self, outcome: CommandOutcome) -> None:
        """Fail every command; the one in flight keeps its message id (the CALL went out under
        it and is in the events: issue 16, item 7)."""
        if self.in_flight is not None and not self.in_flight.future.done():
            self.in_flight.future.set_result(msgspec.structs.replace(outcome, message_id=self.in_flight.message_id))
        for command in self._queue:
            if not command.future.done():
                command.future.set_result(outcome)
        self.in_flight = None
        self._queue.clear()
