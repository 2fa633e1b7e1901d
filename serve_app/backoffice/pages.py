"""The back office's live pages: sign-in, the fleet, a station (live through server-sent events), its commands."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
import msgspec

from actors.fleet_page import FleetQuery
from serve_app.api_views import event_view
from serve_app.backoffice import commands
from serve_app.backoffice.session import COOKIE, SESSION_TTL_S
from serve_app.backoffice.web import SECURITY_HEADERS, BackOffice, static_asset
from serve_app.command_path import commands_of
from serve_app.handshake import valid_station_id

router = APIRouter(include_in_schema=False)
log = logging.getLogger("csms.backoffice")

SIGNIN_COOKIE = "csms_signin"
FLEET_PAGE_SIZE = 50
# How often an open station page asks the station's host for changes: a status or meter value
# reaches the page within about this plus one render (tests/test_backoffice_station.py measures it).
LIVE_POLL_S = 0.25
# A comment line now and then keeps idle proxies from closing the stream.
LIVE_KEEPALIVE_S = 15.0
RECENT_EVENTS_SHOWN = 30


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


@router.get("/")
async def home(request: Request) -> Response:
    return _redirect("/fleet" if BackOffice.of_replica().session(request) else "/signin")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    return static_asset(name)


# --- sign in and out -------------------------------------------------------------------


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    bo = BackOffice.of_replica()
    nonce, token = bo.keys.signin_nonce()
    response = bo.render("signin.html", request, None, signin_token=token, error=None)
    _set_cookie(response, bo, request, SIGNIN_COOKIE, nonce, 600)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    if not bo.keys.signin_ok(request.cookies.get(SIGNIN_COOKIE), str(form.get("signin_token", ""))):
        return await _signin_again(bo, request, "The sign-in form expired; please try again.", 403)
    address = bo.origin(request).address
    if wait_s := bo.signin_limit.retry_after(address):
        # Before the token is even looked at: a guesser must not learn when it found one.
        log.warning("back office sign-in refused: too many failed sign-ins", extra={"address": address})
        response = await _signin_again(
            bo, request, f"Too many failed sign-ins from your address; try again in {wait_s} s.", 429)
        response.headers["Retry-After"] = str(wait_s)
        return response
    token = str(form.get("token", ""))
    role = bo.role_of_token(token) if token else None
    if role is None:
        bo.signin_limit.failed(address)
        # The address and nothing of what was typed: it may be a real token with a typo.
        log.warning("back office sign-in failed", extra={"address": address})
        return await _signin_again(bo, request, "That token is not valid.", 401)
    bo.signin_limit.succeeded(address)
    log.info("back office sign-in", extra={"address": address, "role": role})
    _, cookie = bo.keys.issue(role, token)
    response = _redirect("/fleet")
    _set_cookie(response, bo, request, COOKIE, cookie, SESSION_TTL_S)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


async def _signin_again(bo: BackOffice, request: Request, error: str, status_code: int) -> Response:
    nonce, token = bo.keys.signin_nonce()
    response = bo.render("signin.html", request, None, status_code=status_code, signin_token=token, error=error)
    _set_cookie(response, bo, request, SIGNIN_COOKIE, nonce, 600)
    return response


def _set_cookie(response: Response, bo: BackOffice, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=bo.secure_cookies(request))


@router.post("/signout")
async def signout(request: Request) -> Response:
    bo = BackOffice.of_replica()
    session = bo.require_change(request, await request.form(), "viewer")
    bo.revocations.revoke(session)
    response = _redirect("/signin")
    response.delete_cookie(COOKIE, path="/")
    return response


# --- fleet -------------------------------------------------------------------------------


def _fleet_query(search: str, site: str, connected: str, connector_status: str, stale: str,
                 after: str, before: str) -> FleetQuery:
    def flag(value: str) -> bool | None:
        return {"yes": True, "no": False}.get(value)

    return FleetQuery(search=search.strip(), site=site or None, connected=flag(connected),
                      connector_status=connector_status or None, stale=flag(stale),
                      after=after or None, before=before or None, limit=FLEET_PAGE_SIZE)


FleetParam = Annotated[str, Query(max_length=100)]


@router.get("/fleet")
async def fleet_page(request: Request, search: FleetParam = "", site: FleetParam = "", connected: FleetParam = "",
                     connector_status: FleetParam = "", stale: FleetParam = "", after: FleetParam = "",
                     before: FleetParam = "") -> Response:
    bo = BackOffice.of_replica()
    session = bo.require(request)
    query = _fleet_query(search, site, connected, connector_status, stale, after, before)
    page = await bo.fleet(query)
    # htmx asks for the list alone when a filter changes; a plain GET, and htmx restoring a
    # page from history it no longer holds, get the whole page.
    partial = request.headers.get("hx-request") and not request.headers.get("hx-history-restore-request")
    template = "_fleet_list.html" if partial else "fleet.html"
    return bo.render(template, request, session, page=page, query=query,
                     statuses=("Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
                               "Finishing", "Reserved", "Unavailable", "Faulted"))


# --- one station ---------------------------------------------------------------------------


def _station_id(station_id: str) -> str:
    if not valid_station_id(station_id):
        raise HTTPException(404, "no such station")
    return station_id


async def _station_data(bo: BackOffice, station_id: str) -> tuple[object, list] | None:
    host = bo.host(station_id)
    view, page = await asyncio.gather(bo.call(host.station.remote(station_id)),
                                      bo.call(host.recent_events.remote(station_id, 0, RECENT_EVENTS_SHOWN)))
    if view is None or page is None:
        return None
    return view, [msgspec.to_builtins(event_view(e)) for e in page[1]]


@router.get("/station/{station_id}")
async def station_page(station_id: str, request: Request) -> Response:
    bo = BackOffice.of_replica()
    session = bo.require(request)
    data = await _station_data(bo, _station_id(station_id))
    if data is None:
        return bo.render("not_found.html", request, session, status_code=404, what=f"station {station_id}")
    view, events = data
    return bo.render("station.html", request, session, station=view, events=events,
                     form_commands=commands.form_commands(view.ocpp_version),
                     all_commands=commands_of(view.ocpp_version),
                     triggerable=commands.TRIGGERABLE.get(view.ocpp_version, ()),
                     # A fresh RequestStartTransaction remoteStartId to offer (F01: the CSMS picks it).
                     remote_start_id=int(time.time()) % 2**31)


@router.get("/station/{station_id}/live")
async def station_live(station_id: str, request: Request) -> Response:
    """Server-sent events: the station's live part, re-rendered whenever it changes (htmx sse)."""
    bo = BackOffice.of_replica()
    session = bo.require(request)
    station_id = _station_id(station_id)

    async def stream():
        last_html, last_sent = None, time.monotonic()
        while bo.session(request) is not None:  # ends when the session expires or signs out
            data = await _station_data(bo, station_id)
            if data is None:
                return
            html = bo.fragment("_station_live.html", session, station=data[0], events=data[1])
            if html != last_html:
                yield "event: live\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
                last_html, last_sent = html, time.monotonic()
            elif time.monotonic() - last_sent > LIVE_KEEPALIVE_S:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(LIVE_POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"})


@router.post("/station/{station_id}/command")
async def station_command(station_id: str, request: Request) -> Response:
    """One command from the station page's forms; the answer (or the reason) replaces the form's output."""
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "operator")
    station_id = _station_id(station_id)
    fields = {k: str(v) for k, v in form.items() if k != "csrf"}
    action = fields.pop("action", "")
    # Which version's form it was: only chooses how the fields are read; the operator API checks
    # the payload against the station's real version.
    version = fields.pop("ocpp_version", "1.6")
    try:
        payload = commands.payload_from_form(action, fields, version)
    except ValueError as exc:
        result = commands.CommandResult(status_code=422, action=action, message=str(exc))
    else:
        result = await commands.send(bo.api, station_id, action, payload)
    return bo.render("_command_result.html", request, session, result=result)
