"""Back-office sign-in sessions: HMAC-signed cookies carrying a session id, role and expiry, free of I/O.

The operator token is checked once, at sign-in, against the API's tokens and roles
(`Config.token_roles()`); the browser then holds only a signed session, never the token.
Any API replica verifies it with the key on the shared data root, so no session store is
needed; sign-out revokes the session id (`Revocations`, files on the data root) so a copied
cookie dies with it. A session also names which token it came from (a keyed fingerprint,
not the token): removing a token from the config ends its sessions at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path

import msgspec

from actors.config import Role

COOKIE = "csms_session"
# A support shift; after it the agent signs in again.
SESSION_TTL_S = 8 * 3600


class Session(msgspec.Struct, frozen=True):
    session_id: str
    role: Role
    expires_at: int
    # Keyed fingerprint of the token signed in with (see module docstring).
    token_fingerprint: str


class SessionKeys:
    """Signs and checks sessions and their CSRF tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, value: bytes) -> str:
        digest = hmac.new(self._key, purpose.encode() + b"\0" + value, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def fingerprint(self, token: str) -> str:
        return self._mac("token", token.encode())[:16]

    def issue(self, role: Role, token: str, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(session_id=secrets.token_urlsafe(16), role=role,
                          expires_at=int((time.time() if now is None else now) + SESSION_TTL_S),
                          token_fingerprint=self.fingerprint(token))
        body = base64.urlsafe_b64encode(msgspec.json.encode(session)).rstrip(b"=")
        return session, f"{body.decode()}.{self._mac('session', body)}"

    def verify(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None if it is missing, forged, altered or expired."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", body.encode())):
            return None
        try:
            session = msgspec.json.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), type=Session)
        except (ValueError, msgspec.DecodeError):
            return None
        if session.expires_at <= (time.time() if now is None else now):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The token every changing form of this session carries (synchronizer token, OWASP)."""
        return self._mac("csrf", session.session_id.encode())

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.csrf_token(session))

    def signin_nonce(self) -> tuple[str, str]:
        """For the sign-in form, before any session: a nonce (cookie) and its token (form field)."""
        nonce = secrets.token_urlsafe(16)
        return nonce, self._mac("signin", nonce.encode())

    def signin_ok(self, nonce: str | None, presented: str | None) -> bool:
        return bool(nonce) and bool(presented) and hmac.compare_digest(presented, self._mac("signin", nonce.encode()))


class Revocations:
    """Signed-out session ids, one empty file each under the data root, until they expire anyway."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, session_id: str) -> Path:
        # Session ids are token_urlsafe: no path separators; refuse anything else.
        if not session_id or not all(ch.isalnum() or ch in "-_" for ch in session_id):
            raise ValueError("not a session id")
        return self.directory / session_id

    def revoke(self, session: Session, now: float | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(session.session_id)
        path.write_text(str(session.expires_at))
        self._prune(time.time() if now is None else now)

    def revoked(self, session: Session) -> bool:
        try:
            return self._path(session.session_id).exists()
        except ValueError:
            return True

    def _prune(self, now: float) -> None:
        for path in self.directory.iterdir():
            try:
                if int(path.read_text() or 0) <= now:
                    path.unlink(missing_ok=True)
            except (OSError, ValueError):
                continue
