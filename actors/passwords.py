"""Station passwords (OCPP 1.6 security profile 1 AuthorizationKey): salted PBKDF2 hashes only."""

from __future__ import annotations

import hashlib
import hmac
import os

_ALGORITHM = "pbkdf2_sha256"
# Station passwords are machine secrets of 16-40 characters (OCPP 1.6 security whitepaper,
# AuthorizationKey; the API enforces the length), not words people remember: a random
# 16-character one holds about 95 bits, which no guessing rate reaches, stretched or not.
# Stretching buys bits only for guessable secrets, and 2,000 rounds bought 11 of them at
# 0.64 ms a hash here: 13 s of CPU to onboard 20,000 stations and as much again in every
# reconnect storm. So a new hash is PBKDF2-HMAC-SHA256 with one round (HMAC-SHA256 keyed by
# the password over a random 16-byte salt, 2.6 us): salted, so equal passwords differ and no
# precomputed table helps, and compared in constant time. The rounds are stored with each
# hash, so hashes made with more still verify. (Measured: 1 round 2.6 us, 100: 32 us,
# 1,000: 284 us, 2,000: 642 us; BENCHMARKS.md.)
_ITERATIONS = 1


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
