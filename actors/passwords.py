"""Station passwords (OCPP 1.6 security profile 1 AuthorizationKey): salted PBKDF2 hashes only."""

from __future__ import annotations

import hashlib
import hmac
import os

_ALGORITHM = "pbkdf2_sha256"
# OCPP asks for 16-40 character AuthorizationKeys (the API enforces 16+), so the hash need not
# stretch much: 2,000 rounds cost about 0.8 ms here, so a 10,000-station reconnect storm spends
# about 8 s of CPU on it, off the event loop; the host caches verified secrets after that.
_ITERATIONS = 2_000


def _raw(password: str | bytes) -> bytes:
    # Basic-auth credentials are bytes on the wire: a password set through AuthorizationKey
    # may be any 16-20 bytes, not necessarily text. Text passwords are UTF-8.
    return password.encode() if isinstance(password, str) else password


def hash_password(password: str | bytes, *, iterations: int = _ITERATIONS) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", _raw(password), salt, iterations)
    return f"{_ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str | bytes, stored: str) -> bool:
    try:
        algorithm, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algorithm != _ALGORITHM:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", _raw(password), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)
