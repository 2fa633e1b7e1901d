"""The back office's plumbing inside an operator API replica: who is signed in, templates, security headers, host calls.

The back office is mounted on the operator API's FastAPI app, so it runs in the same
replicas and reads the same `Config` and hosts: `BackOffice.of_replica()` takes them from
the replica's OperatorApi instance (Serve's replica context), never from a copy.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
import msgspec
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from ray import serve

from actors import directory
from actors.config import ROLE_RANK, Role
from actors.fleet_page import FleetPage, FleetQuery, merge_pages
from actors.events import now_us
from serve_app.backoffice.session import COOKIE, Revocations, Session, SessionKeys
from serve_app.operator_token import data_root_secret

_HERE = Path(__file__).parent

# No inline script or style anywhere, so a station-sent string that slipped past escaping
# could still not run (CSP Level 3); nothing may frame the pages (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _us_when(us: int | None) -> str:
    return "—" if us is None else _when(datetime.fromtimestamp(us / 1e6, tz=timezone.utc))


def _us_day(us: int | None) -> str:
    return "" if us is None else datetime.fromtimestamp(us / 1e6, tz=timezone.utc).date().isoformat()


def _kwh(wh: float | None) -> str:
    return "—" if wh is None else f"{wh / 1000:.3f} kWh"


# Autoescape on for every template: all a station sends (ids, vendor strings, payloads) is hostile.
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = _when
TEMPLATES.filters["kwh"] = _kwh
TEMPLATES.filters["us_when"] = _us_when
TEMPLATES.filters["us_day"] = _us_day


class BackOffice:
    """One per API replica: the API's config and hosts, the session keys."""

    _by_replica: dict[int, "BackOffice"] = {}

    def __init__(self, api: Any) -> None:
        self.api = api
        self.config = api.config
        self.hosts: list[str] = api.hosts
        key, _ = data_root_secret(self.config.data_path, "backoffice-session-key")
        self.keys = SessionKeys(key.encode())
        self.revocations = Revocations(self.config.data_path / "backoffice" / "revoked-sessions")
        self._tokens = [(token.encode(), role) for token, role in self.config.token_roles() if token]
        self._fingerprints = {self.keys.fingerprint(token) for token, _ in self.config.token_roles() if token}

    @classmethod
    def of_replica(cls) -> "BackOffice":
        api = serve.get_replica_context().servable_object
        found = cls._by_replica.get(id(api))
        if found is None or found.api is not api:
            found = cls._by_replica[id(api)] = cls(api)
        return found

    # --- who is signed in ----------------------------------------------------------------

    def role_of_token(self, presented: str) -> Role | None:
        """The API's check (OperatorApi._authorize): constant time against every token."""
        role = None
        for token, token_role in self._tokens:
            if hmac.compare_digest(presented.encode(), token):
                role = token_role
        return role

    def session(self, request: Request) -> Session | None:
        session = self.keys.verify(request.cookies.get(COOKIE))
        if session is None or session.token_fingerprint not in self._fingerprints or self.revocations.revoked(session):
            return None
        return session

    def require(self, request: Request, need: Role = "viewer") -> Session:
        """The signed-in session with at least role `need`: else to the sign-in page (303) or 403."""
        session = self.session(request)
        if session is None:
            # htmx follows a 303 inside the page; HX-Redirect makes it load the sign-in page whole.
            raise HTTPException(303, "sign in first", headers={"Location": "/signin", "HX-Redirect": "/signin"})
        if ROLE_RANK[session.role] < ROLE_RANK[need]:
            raise HTTPException(403, f"this needs the {need} role; you are signed in as {session.role}")
        return session

    def require_change(self, request: Request, form: Any, need: Role) -> Session:
        """`require`, plus the form's CSRF token: every form that changes something carries it."""
        session = self.require(request, need)
        if not self.keys.csrf_ok(session, form.get("csrf")):
            raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
        return session

    def secure_cookies(self, request: Request) -> bool:
        """Secure when the browser came over TLS: to this replica directly, through a terminator
        that says so, or through the balancer when TLS is its only port."""
        return (request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
                or (self.config.tls_enabled() and not self.config.plain_port))

    # --- pages -------------------------------------------------------------------------

    def render(self, name: str, request: Request, session: Session | None, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        html = TEMPLATES.get_template(name).render(
            session=session, csrf=self.keys.csrf_token(session) if session else "",
            path=request.url.path, **context)
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def fragment(self, name: str, session: Session, **context: Any) -> str:
        return TEMPLATES.get_template(name).render(session=session, csrf=self.keys.csrf_token(session), **context)

    # --- backend calls (the API's, with its timeouts and 503s) ---------------------------

    async def call(self, ref) -> Any:
        return await self.api._call(ref)

    def host(self, station_id: str):
        return self.api._host(station_id)

    def host_named(self, name: str):
        return self.api._host_named(name)

    def registry(self):
        return self.api._registry()

    async def on_every_host(self, method: str, *args: Any) -> list[Any]:
        return list(await asyncio.gather(
            *(self.call(getattr(self.host_named(n), method).remote(*args)) for n in self.hosts)))

    async def fleet(self, query: FleetQuery) -> FleetPage:
        query = msgspec.structs.replace(query, now_us=now_us(), heartbeat_interval_s=self.config.heartbeat_interval_s)
        return merge_pages(await self.on_every_host("fleet_page", query), query)

    def hosts_by_station(self, station_ids: list[str]) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for station_id in station_ids:
            grouped.setdefault(directory.host_for(station_id, self.hosts), []).append(station_id)
        return grouped


STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}


def static_asset(name: str) -> Response:
    """A file of static/ (vendored htmx, uPlot, our CSS and JS); only names that are there."""
    path = _HERE / "static" / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise HTTPException(404, "no such asset")
    return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix],
                    headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"})
