"""OCPP 2.0.1 reservation commands (Part 2 H01-H04): ReserveNow and CancelReservation, the reservations kept per station."""

from __future__ import annotations

from actors.ocpp201.feature import Check, Fold, Mask

COMMAND_RESULTS: dict[str, Fold] = {}
CHECKS: dict[str, Check] = {}
MASKS: dict[str, Mask] = {}
