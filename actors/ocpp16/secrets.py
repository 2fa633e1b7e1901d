"""Secrets inside OCPP 1.6 payloads, masked before anything is logged or lands in the lake."""

from __future__ import annotations

from typing import Any

import msgspec

MASK = "***"
# Security profile 1-2 station password (OCPP 1.6 security whitepaper, AuthorizationKey).
SECRET_CONFIGURATION_KEYS = frozenset({"authorizationkey"})


def loggable_command(action: str, request: Any) -> Any:
    """The request as the event log may keep it: a new AuthorizationKey is masked."""
    if action == "ChangeConfiguration" and str(getattr(request, "key", "")).lower() in SECRET_CONFIGURATION_KEYS:
        return msgspec.structs.replace(request, value=MASK)
    return request
