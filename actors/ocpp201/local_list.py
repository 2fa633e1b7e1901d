"""OCPP 2.0.1 local authorization list commands (Part 2 D01, D02): SendLocalList and GetLocalListVersion, the list kept per station."""

from __future__ import annotations

from actors.ocpp201.feature import Check, Fold, Mask

COMMAND_RESULTS: dict[str, Fold] = {}
CHECKS: dict[str, Check] = {}
MASKS: dict[str, Mask] = {}
