"""The shape of an OCPP 2.0.1 command feature module: the three dicts actors/ocpp201/csms_side.py merges.

A feature module (device_model.py, remote_control.py, ...) exports any of:

- `COMMAND_RESULTS: dict[str, Fold]`: how the station's answer to our command changes the
  state; runs live when the CALLRESULT arrives and again on replay, from the logged CALL (its
  secrets masked: a fold must never need a secret) and CALLRESULT.
- `CHECKS: dict[str, Check]`: rules the 2.0.1 text states but the JSON schema leaves out;
  raise ValueError (the operator gets 422, nothing is sent). Each names its requirement.
- `MASKS: dict[str, Mask]`: the request as JSON builtins -> the same with its secrets masked,
  for the log, the lake and the API. What a mask leaves must still decode as the request
  (a fold decodes the logged, masked request).

Several modules may claim the same action: csms_side runs every fold and check, and applies
every mask, in the order of its FEATURES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.station_state import StationState

# fold(state, request, response, at_us): request and response are the generated Structs of
# actors/ocpp201/messages.py (CSMS_REQUESTS, RESPONSES).
Fold = Callable[[StationState, Any, Any, int], None]
Check = Callable[[Any], None]
Mask = Callable[[dict[str, Any]], dict[str, Any]]
