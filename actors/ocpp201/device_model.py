"""OCPP 2.0.1 device model commands (Part 2 B06-B08): GetBaseReport, GetReport, GetVariables, SetVariables, and how their answers fold into the stored device model."""

from __future__ import annotations

from actors.ocpp201.feature import Check, Fold, Mask

COMMAND_RESULTS: dict[str, Fold] = {}
CHECKS: dict[str, Check] = {}
MASKS: dict[str, Mask] = {}
