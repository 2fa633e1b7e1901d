"""A pure harness for the 2.0.1 command feature modules (actors/ocpp201/{smart_charging, firmware_logs, ...}.py).

`Station` holds one station's state and everything that would be logged for it: our commands
as the log keeps them (the request JSON masked by actors/ocpp201/csms_side.py, which merges the
features' MASKS, and the station's answer JSON) and the station's own requests. Each is folded
as the session folds it (csms_side.apply_command_result; the version's table of actions), from
the logged JSON, so `replayed()` rebuilds the state from the log alone: replay equality is
`replayed() == state`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from actors.ocpp201 import (
    costs,
    customer_information,
    display_messages,
    firmware_logs,
    monitoring,
    network_profile,
    smart_charging,
)
from actors.ocpp201 import csms_side as c
from actors.ocpp201 import messages as m
from actors.protocols import PROTOCOLS
from actors.station_state import Registration, StationState
from actors.timestamps import to_us

FEATURES = (smart_charging, firmware_logs, display_messages, monitoring, network_profile, customer_information, costs)
DAY = datetime(2024, 3, 1, tzinfo=timezone.utc)
T0 = to_us(DAY)


def ts(minutes: float = 0) -> str:
    return (DAY + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def feature(action: str) -> Any:
    [module] = [f for f in FEATURES if action in f.COMMAND_RESULTS]
    return module


def decoded(action: str, payload: dict) -> Any:
    """The typed request, as the command path decodes it; raises msgspec.ValidationError."""
    return m.decode_request(action, json.dumps(payload).encode())


def check(action: str, payload: dict, state: StationState | None = None) -> Any:
    """Decode and run the rules the command path runs (CHECKS; with a state, STATE_CHECKS too):
    ValueError (msgspec.ValidationError for the schema) for a command that may not be sent."""
    request = c.decode_command(action, json.dumps(payload))
    c.check_command(action, request)
    if state is not None:
        c.check_command_on(state, action, request)
    return request


def logged(action: str, payload: dict) -> str:
    """The request JSON as the log, the lake and the API keep it."""
    return msgspec.json.encode(c.loggable_command(action, decoded(action, payload))).decode()


def fresh_state(security_profile: int = 0) -> StationState:
    return StationState(station_id="CP-201", ocpp_version="2.0.1",
                        registration=Registration(password_hash="x", security_profile=security_profile))


class Station:
    def __init__(self, security_profile: int = 0) -> None:
        self.state = fresh_state(security_profile)
        self.security_profile = security_profile
        self.log: list[tuple[str, str, str, str, int]] = []
        self.clock_us = T0

    def _fold(self, state: StationState, entry: tuple[str, str, str, str, int]) -> None:
        kind, action, request_json, response_json, at_us = entry
        if kind == "command":
            assert c.apply_command_result(state, action, request_json, response_json, at_us)
        else:
            state.last_seen_us = at_us  # as StationSession.apply does for what the station sends
            station_action = PROTOCOLS["2.0.1"].actions[action]
            request = m.decode_request(action, request_json.encode())
            response = msgspec.json.decode(response_json.encode(), type=station_action.result_type)
            station_action.apply(state, request, response, at_us)

    def _append(self, entry: tuple[str, str, str, str, int]) -> None:
        self.log.append(entry)
        self._fold(self.state, entry)

    def command(self, action: str, request: dict, response: dict) -> None:
        """Our CALL (checked against the state first) and the station's CALLRESULT, folded."""
        check(action, request, self.state)
        self.clock_us += 1_000_000
        self._append(("command", action, logged(action, request), json.dumps(response), self.clock_us))

    def sends(self, action: str, request: dict, response: dict | None = None) -> None:
        """A station-initiated request and our answer, folded by the version's table of actions."""
        self.clock_us += 1_000_000
        self._append(("station", action, json.dumps(request), json.dumps(response or {}), self.clock_us))

    def replayed(self) -> StationState:
        state = fresh_state(self.security_profile)
        for entry in self.log:
            self._fold(state, entry)
        return state

    @property
    def part(self) -> Any:
        return self.state.v201

    def start_transaction(self, tx_id: str = "tx-1", evse_id: int = 1) -> None:
        self.sends("TransactionEvent", {
            "eventType": "Started", "timestamp": ts(1), "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": tx_id}, "evse": {"id": evse_id, "connectorId": 1}})

    def end_transaction(self, tx_id: str = "tx-1", seq_no: int = 1) -> None:
        self.sends("TransactionEvent", {
            "eventType": "Ended", "timestamp": ts(30), "triggerReason": "EVDeparted", "seqNo": seq_no,
            "transactionInfo": {"transactionId": tx_id, "stoppedReason": "EVDisconnected"}})


def builtins(state: StationState) -> Any:
    return msgspec.to_builtins(state)
