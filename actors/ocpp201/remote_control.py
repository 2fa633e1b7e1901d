"""OCPP 2.0.1 remote control and the rest of the core commands: RequestStart/StopTransaction, GetTransactionStatus, Reset, ChangeAvailability, UnlockConnector, TriggerMessage, ClearCache, DataTransfer."""

from __future__ import annotations

from actors.ocpp201.feature import Check, Fold, Mask

COMMAND_RESULTS: dict[str, Fold] = {}
CHECKS: dict[str, Check] = {}
MASKS: dict[str, Mask] = {}
