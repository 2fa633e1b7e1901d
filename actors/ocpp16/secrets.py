"""Secrets inside OCPP 1.6 payloads, masked before anything is logged or lands in the lake."""

from __future__ import annotations

import re
from typing import Any

import msgspec

MASK = "***"
# Security profile 1-2 station password (OCPP 1.6 security whitepaper, AuthorizationKey).
SECRET_CONFIGURATION_KEYS = frozenset({"authorizationkey"})
# Commands naming a URL the station downloads from or uploads to, and the field path to it:
# credentials in it (RFC 3986 userinfo, e.g. ftp://user:password@host/, the usual way to give
# a station an FTP login) are masked before the command is logged, so neither the lake nor the
# API (the state folds the logged command) ever shows them.
URL_FIELDS: dict[str, tuple[str, ...]] = {
    "UpdateFirmware": ("location",),
    "GetDiagnostics": ("location",),
    "SignedUpdateFirmware": ("firmware", "location"),
    "GetLog": ("log", "remoteLocation"),
}
# scheme://userinfo@ : greedy up to the authority's last "@" (an unencoded "@" in a password
# must not leave its tail in clear).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#]*)@")


def _sets_secret(action: str, request: Any) -> bool:
    return action == "ChangeConfiguration" and str(getattr(request, "key", "")).lower() in SECRET_CONFIGURATION_KEYS


def check_secret_command(action: str, request: Any) -> None:
    """Refuse (ValueError) a command that would set a station password the station could not use."""
    if _sets_secret(action, request):
        authorization_key_password(str(request.value))


def loggable_command(action: str, request: Any) -> Any:
    """The request as the event log may keep it: a new AuthorizationKey and the credentials in
    a location URL are masked."""
    if _sets_secret(action, request):
        return msgspec.structs.replace(request, value=MASK)
    path = URL_FIELDS.get(action)
    return request if path is None else _with_masked_url(request, path)


def masked_url(url: str) -> str:
    """`url` with the password of its userinfo masked (`user:***@`), or the whole userinfo
    when it has no password part (it may be a token: `***@`)."""
    found = _USERINFO.match(url)
    if found is None:
        return url
    user, colon, _password = found.group(2).partition(":")
    return f"{found.group(1)}{f'{user}:{MASK}' if colon else MASK}@{url[found.end():]}"


def _with_masked_url(struct: Any, path: tuple[str, ...]) -> Any:
    head, *rest = path
    value = getattr(struct, head)
    masked = _with_masked_url(value, tuple(rest)) if rest else masked_url(value)
    return struct if masked == value else msgspec.structs.replace(struct, **{head: masked})


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
