"""Secrets inside OCPP 1.6 payloads, masked before anything is logged or lands in the lake."""

from __future__ import annotations

from typing import Any

import msgspec

MASK = "***"
# Security profile 1-2 station password (OCPP 1.6 security whitepaper, AuthorizationKey).
SECRET_CONFIGURATION_KEYS = frozenset({"authorizationkey"})


def _sets_secret(action: str, request: Any) -> bool:
    return action == "ChangeConfiguration" and str(getattr(request, "key", "")).lower() in SECRET_CONFIGURATION_KEYS


def check_secret_command(action: str, request: Any) -> None:
    """Refuse (ValueError) a command that would set a station password the station could not use."""
    if _sets_secret(action, request):
        authorization_key_password(str(request.value))


def loggable_command(action: str, request: Any) -> Any:
    """The request as the event log may keep it: a new AuthorizationKey is masked."""
    if _sets_secret(action, request):
        return msgspec.structs.replace(request, value=MASK)
    return request


def password_command(password: str) -> tuple[str, dict[str, Any]]:
    """The command that gives a 1.6 station a new Basic-auth password: ChangeConfiguration of
    AuthorizationKey, its value the password's hex form (OCPP-J 1.6 section 6.2.2)."""
    return "ChangeConfiguration", {"key": "AuthorizationKey", "value": password.encode().hex()}


def authorization_key_password(value: str) -> bytes:
    """The Basic-auth password an AuthorizationKey value stands for.

    OCPP-J 1.6 section 6.2.2 (security whitepaper A00.FR.205): the configuration value is the
    hexadecimal representation of the password, 16 to 20 bytes; the station then
    authenticates with the bytes themselves. Raises ValueError for anything else.
    """
    if len(value) % 2:
        raise ValueError("AuthorizationKey must be an even number of hex digits")
    try:
        password = bytes.fromhex(value)
    except ValueError:
        raise ValueError("AuthorizationKey must be hexadecimal (the hex form of the password)") from None
    if not 16 <= len(password) <= 20:
        raise ValueError(f"AuthorizationKey must stand for 16 to 20 bytes, not {len(password)}")
    return password
