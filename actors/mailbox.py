"""A station's outbound command mailbox: one CALL in flight per connection, the rest in order.

OCPP-J 1.6 section 4.1.1: a sender must not send a CALL before the previous one is answered
(or timed out). Operator commands queue here up to a bound; beyond it the operator is told to
come back (429) instead of the host buffering without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec

CommandStatus = Literal[
    "answered", "call_error", "timeout", "not_connected", "not_accepted", "busy", "unknown_station", "disconnected",
    # Refused before anything is queued: not a command of the station's OCPP version, or not
    # a valid payload for it (`error_description` says why); or an action of another version
    # than the station's (`error_description` names the one to use instead).
    "unknown_action", "invalid_payload", "other_version",
    # Valid, but what the station holds forbids it now (Protocol.check_command_on).
    "not_allowed",
    # A raise to security profile 3 before the station holds a client certificate (whitepaper A05).
    "certificate_first",
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
    """The commands not sent yet, in order, and the callers waiting for the answer to a sent one.

    Which CALL is in flight is tracked in one place. A station's session passes `sent`: the
    message id of our CALL its state records as unanswered (`StationState.pending_command`,
    set by the fold of our CALL and cleared by the fold of its answer, live and on replay).
    The mailbox keeps only who waits for that answer: the line is busy while our CALL is
    unanswered and its caller still waits; a caller that stopped waiting (timeout, OCPP-J 1.6
    section 4.1.1) or failed (disconnect) frees it. Without `sent` (the mailbox on its own)
    it records the id of the command it handed out itself.
    """

    def __init__(self, bound: int, sent: Callable[[], str | None] | None = None) -> None:
        self._bound = bound
        # Made by the first command and let go when it empties: an empty deque is 0.76 KiB,
        # and most of a host's thousands of stations never have a command queued.
        self._queue: deque[PendingCommand] | None = None
        # Sent commands whose caller waits for the answer, by message id: at most one, but for
        # the moment between an answer's fold and its caller learning it once it is durable.
        self._waiting: dict[str, PendingCommand] = {}
        self._handed_out: str | None = None
        self._sent = sent if sent is not None else (lambda: self._handed_out)

    @property
    def in_flight(self) -> PendingCommand | None:
        """The command whose CALL is unanswered, if its caller still waits (the line is busy)."""
        message_id = self._sent()
        return None if message_id is None else self._waiting.get(message_id)

    def caller(self, message_id: str) -> PendingCommand | None:
        """The sent command with this message id whose caller still waits."""
        return self._waiting.get(message_id)

    def __len__(self) -> int:
        return (len(self._queue) if self._queue else 0) + len(self._waiting)

    def submit(self, command: PendingCommand) -> bool:
        """Queue a command; False when the mailbox is full."""
        if len(self) >= self._bound:
            return False
        if self._queue is None:
            self._queue = deque()
        self._queue.append(command)
        return True

    def next_to_send(self) -> PendingCommand | None:
        """The command to send now, if the line is free; its caller then waits for the answer."""
        if self.in_flight is not None:
            return None
        while self._queue:
            command = self._queue.popleft()
            if not self._queue:
                self._queue = None
            if not command.future.done():  # an operator who gave up while it waited
                self._waiting[command.message_id] = command
                self._handed_out = command.message_id
                return command
        return None

    def resolve(self, message_id: str, outcome: CommandOutcome) -> bool:
        """Complete the sent command with this message id, if its caller still waits (a late
        answer to a command given up on completes nothing); whether one was completed."""
        command = self._waiting.pop(message_id, None)
        if command is None:
            return False
        if self._handed_out == message_id:
            self._handed_out = None
        if not command.future.done():
            command.future.set_result(outcome)
        return True

    def abandon(self, command: PendingCommand) -> None:
        """The operator stopped waiting (timeout): free the line if it was in flight."""
        if self._waiting.pop(command.message_id, None) is None:
            if self._queue:
                try:
                    self._queue.remove(command)
                except ValueError:
                    pass
        elif self._handed_out == command.message_id:
            self._handed_out = None

    def fail_all(self, outcome: CommandOutcome) -> None:
        """Fail every command; a sent one keeps its message id (the CALL went out under it and
        is in the events: issue 16, item 7)."""
        for command in self._waiting.values():
            if not command.future.done():
                command.future.set_result(msgspec.structs.replace(outcome, message_id=command.message_id))
        for command in self._queue or ():
            if not command.future.done():
                command.future.set_result(outcome)
        self._waiting.clear()
        self._handed_out = None
        self._queue = None
