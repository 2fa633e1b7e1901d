"""OperatorApi: the operators' HTTP JSON API under /api (bearer token; OpenAPI at /docs).

Reads and writes go to the station's StationHost (or to every host for lists) and to the
id-tag registry; the API keeps no state of its own, so any replica answers any request.
"""


# No `from __future__ import annotations`: FastAPI reads these route signatures at runtime
# through Serve's ingress wrapper, which cannot resolve string annotations.
import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictInt
from ray import serve
from ray.exceptions import RayActorError

from actors import directory, logs
from actors.bulk_registration import BulkOutcome, IdTagRow, StationRow
from actors.certificate_views import CertificatePage
from actors.config import Config
from actors.events import now_us, utc_datetime
from actors.id_tags import normalise
from actors.passwords import hash_password
from actors.protocols import DEFAULT_VERSION, PROTOCOLS
from actors.security_profiles import ProfileRefused
from actors.station_state import IdTagRecord, Registration
from actors.storage import NotStored
from actors.timestamps import to_us
from actors.views import StationView, TransactionFilter, TransactionView, transaction_order
from analytics import catalog, gold_views, scheduler
from serve_app.backoffice import router as backoffice_router
from serve_app.api_schema import ResponseSchemas, StructResponse
from serve_app.api_views import (
    AuthorizationOverview,
    EventPage,
    Health,
    IdTagList,
    IdTagView,
    PasswordChanged,
    StationPage,
    StationRegistered,
    StationVariables,
    TransactionPage,
    UnknownStationPage,
    event_view,
    id_tag_view,
    station_variables,
)
from serve_app import bulk_rows
from serve_app.command_path import send_command
from serve_app.handshake import valid_station_id
from serve_app.operator_auth import TokenTable, document_roles, requires

api_app = FastAPI(
    title="CSMS operator API",
    description="Live status, transactions and id tags of an OCPP charge station network.",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api_app.include_router(backoffice_router)  # the back office's pages (serve_app/backoffice/), same port and tokens
_schemas = ResponseSchemas()
typed = _schemas.typed
_schemas.install(api_app, document_roles)
viewer, operator, admin = requires("viewer"), requires("operator"), requires("admin")
# Gold reads are small Parquet files on the data root; a slow shared filesystem gets a 503.
_GOLD_READ_TIMEOUT_S = 30.0
# A host that does not answer health within this is reported as not answering.
_HEALTH_TIMEOUT_S = 5.0
# Bulk registration: rows per request, and per host call (a call holds its host's event loop
# for about 10 us a row, so frames of its stations wait at most a few ms behind one).
_BULK_MAX_ROWS = 100_000
_BULK_ROWS_PER_HOST_CALL = 500


def _bulk_body(row_type: type, csv_columns: str) -> dict[str, Any]:
    """The OpenAPI request body of a bulk endpoint: a JSON array of rows, or CSV."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": _schemas.schema_of(list[row_type])},
        "text/csv": {"schema": {"type": "string", "description": f"a header line ({csv_columns}), then one row a line"}},
    }}}


class StationRegistrationBody(BaseModel):
    # OCPP security profiles ask for 16 to 40 character AuthorizationKeys.
    password: str = Field(min_length=16, max_length=40, description="Basic-auth password; stored only as a salted hash")
    site: str | None = Field(default=None, max_length=100)
    metadata: dict[str, str] = Field(default_factory=dict)
    boot_status: Literal["Accepted", "Pending", "Rejected"] = Field(
        default="Accepted", description="What BootNotification answers this station")
    security_profile: StrictInt | None = Field(default=None, ge=0, le=3, description=(
        "the lowest OCPP security profile its handshakes must prove (1 Basic auth over ws, 2 over TLS, "
        "3 a client certificate); omitted: kept (0 for a new station); lowering it is logged; raising a "
        "registered station to 3 is refused (409) until it holds a client certificate (docs/security.md)"))
    client_certificate_installed: bool | None = Field(default=None, description=(
        "the operator's word that the station holds a client certificate this CSMS did not issue "
        "(installed at manufacturing or by hand), so it may be raised to profile 3; omitted: kept"))


class StationPasswordBody(BaseModel):
    password: str = Field(min_length=16, max_length=40, description="the new Basic-auth password; stored only as a salted hash")
    push: bool = Field(default=False, description=(
        "send it to the connected station first and store it only once the station accepts: a 1.6 station gets "
        "ChangeConfiguration AuthorizationKey (then it must be 16-20 bytes in UTF-8, OCPP-J 1.6 section 6.2.2), "
        "a 2.0.1 one SetVariables of SecurityCtrlr.BasicAuthPassword (16-40 characters of a-z A-Z 0-9 * - _ = : + | @ ., "
        "OCPP 2.0.1 A00.FR.205)"))


@api_app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the offending value, and a body may hold a password: say where
    # and why it is invalid, never what was sent.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


class TransactionCloseBody(BaseModel):
    # Not blank: a close nobody can explain later is no help to billing.
    reason: str = Field(min_length=1, max_length=500, pattern=r"\S", description=(
        "why the operator closes it, kept with the transaction and in its event (e.g. a ticket reference)"))


class IdTagBody(BaseModel):
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(default=None, max_length=20)


def _not_stored(refused: NotStored) -> HTTPException:
    return HTTPException(507 if refused.no_space else 503,
                         {"message": "not stored, nothing changed; retry once the data root can take writes",
                          "reason": refused.reason})


class _PartFailed(Exception):
    """A host's part of a bulk batch failed after `applied` of its rows were made durable."""

    def __init__(self, applied: BulkOutcome, reason: str) -> None:
        super().__init__(reason)
        self.applied = applied


@serve.deployment(name="OperatorApi")
@serve.ingress(api_app)
class OperatorApi:
    def __init__(self, config: Config) -> None:
        logs.configure()
        self.config = config
        self.hosts = directory.host_names(config.resolved_station_hosts())
        # Read by the role dependency (serve_app/operator_auth.py) through the replica context.
        self.token_table = TokenTable(config)

    # --- plumbing ----------------------------------------------------------------------

    async def _call(self, ref) -> Any:
        try:
            return await asyncio.wait_for(ref, self.config.host_call_timeout_s)
        except (RayActorError, asyncio.TimeoutError) as exc:
            raise HTTPException(503, f"backend unavailable, retry later ({type(exc).__name__})") from None

    async def _write(self, ref) -> Any:
        """A change's answer; 507 (disk full) or 503 when it was refused as not durable, in which
        case nothing of it took effect."""
        result = await self._call(ref)
        if isinstance(result, NotStored):
            raise _not_stored(result)
        return result

    def _host(self, station_id: str):
        return self._host_named(directory.host_for(station_id, self.hosts))

    def _host_named(self, name: str):
        try:
            return directory.get_actor(name)
        except ValueError:
            raise HTTPException(503, f"station host {name} not running") from None

    def _registry(self):
        try:
            return directory.get_actor(directory.ID_TAG_REGISTRY)
        except ValueError:
            raise HTTPException(503, "id-tag registry not running") from None

    # --- health ------------------------------------------------------------------------

    @api_app.get("/api/health", **typed(Health))
    async def health(self) -> StructResponse:
        """Every StationHost answering and able to make events durable? (no token) "degraded"
        names each host's problem: not answering, or why its events cannot be made durable
        (a full or read-only data root: statvfs, so this stays fast)."""
        async def check(name: str) -> tuple[bool, str | None]:
            """(answered, what keeps its events from being durable)"""
            try:
                problem = await asyncio.wait_for(directory.get_actor(name).write_problem.remote(), _HEALTH_TIMEOUT_S)
            except Exception as exc:
                return False, f"not answering ({type(exc).__name__})"
            return True, None if problem is None else problem.reason

        results = dict(zip(self.hosts, await asyncio.gather(*(check(n) for n in self.hosts))))
        problems = {name: problem for name, (_, problem) in results.items() if problem is not None}
        return StructResponse(Health(status="degraded" if problems else "ok", problems=problems,
                                     station_hosts={name: answered for name, (answered, _) in results.items()}))

    # --- stations ----------------------------------------------------------------------

    @api_app.get("/api/stations", dependencies=viewer, **typed(StationPage))
    async def list_stations(
        self,
        connected: bool | None = None,
        site: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> StructResponse:
        parts = await asyncio.gather(*(self._call(self._host_named(n).stations.remote()) for n in self.hosts))
        stations = sorted((s for part in parts for s in part), key=lambda s: s.station_id)
        if connected is not None:
            stations = [s for s in stations if s.connected == connected]
        if site is not None:
            stations = [s for s in stations if s.site == site]
        return StructResponse(StationPage(total=len(stations), stations=stations[offset : offset + limit]))

    @api_app.get("/api/unknown-stations", dependencies=viewer, **typed(UnknownStationPage))
    async def unknown_stations(self, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> StructResponse:
        """Station ids that tried to connect but are not registered (a charger installed but not
        yet registered): attempts, first and last seen, source address, subprotocols offered;
        most recently seen first. Kept in memory per host, so a host restart starts them afresh."""
        parts = await asyncio.gather(*(self._call(self._host_named(n).unknown.remote()) for n in self.hosts))
        knocks = sorted((k for part in parts for k in part), key=lambda k: k.last_seen, reverse=True)
        return StructResponse(UnknownStationPage(total=len(knocks), stations=knocks[:limit]))

    @api_app.get("/api/certificates", dependencies=viewer, **typed(CertificatePage))
    async def expiring_certificates(
        self, expiring_within_days: Annotated[float, Query(ge=0, le=36_500)] = 30,
    ) -> StructResponse:
        """Client certificates our CA issued that end within `expiring_within_days` (the one each
        station accepted, else the newest issued), soonest first: renew them with
        ExtendedTriggerMessage SignChargePointCertificate (`csms certificates --renew`)."""
        before = now_us() + int(expiring_within_days * 86_400 * 1_000_000)
        parts = await asyncio.gather(*(self._call(self._host_named(n).expiring_certificates.remote(before))
                                       for n in self.hosts))
        expiring = sorted((c for part in parts for c in part), key=lambda c: (c.certificate.not_after, c.station_id))
        return StructResponse(CertificatePage(expiring_before=utc_datetime(before), total=len(expiring),
                                              certificates=expiring))

    @api_app.get("/api/stations/{station_id}", dependencies=viewer, **typed(StationView))
    async def get_station(self, station_id: str) -> StructResponse:
        view = await self._call(self._host(station_id).station.remote(station_id))
        if view is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        return StructResponse(view)

    @api_app.get("/api/stations/{station_id}/variables", dependencies=viewer, **typed(StationVariables))
    async def get_station_variables(self, station_id: str, component: str | None = None,
                                    variable: str | None = None) -> StructResponse:
        """A 2.0.1 station's device model as the CSMS stores it (NotifyReport parts, GetVariables and
        SetVariables answers), without a round trip to the station; `component` and `variable`
        filter by name (case-insensitive). 404 unknown station."""
        view = await self._call(self._host(station_id).station.remote(station_id))
        if view is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        return StructResponse(station_variables(view, component, variable))

    @api_app.put("/api/stations/{station_id}", dependencies=admin,
                 **typed(StationRegistered, description="updated (201: created)"))
    async def register_station(self, station_id: str, body: StationRegistrationBody) -> StructResponse:
        if not valid_station_id(station_id):
            raise HTTPException(422, "station id must be 1-48 characters of A-Z a-z 0-9 . _ - : * + | @")
        registration = Registration(
            password_hash=hash_password(body.password),
            site=body.site,
            metadata=body.metadata,
            boot_status=body.boot_status,
        )
        created = await self._write(self._host(station_id).register.remote(
            station_id, registration, body.security_profile, body.client_certificate_installed))
        if isinstance(created, ProfileRefused):
            raise HTTPException(409, {"station_id": station_id, "message": created.reason})
        return StructResponse(StationRegistered(station_id=station_id, created=created),
                              status_code=201 if created else 200)

    @api_app.put("/api/stations/{station_id}/password", dependencies=admin, **typed(PasswordChanged))
    async def change_station_password(self, station_id: str, body: StationPasswordBody) -> StructResponse:
        """Change a station's Basic-auth password. With `push`, the station is sent the new
        password in its version's command (1.6: ChangeConfiguration AuthorizationKey; 2.0.1:
        SetVariables of SecurityCtrlr.BasicAuthPassword) and the password changes only if it
        answers Accepted (or RebootRequired): 409 when it is not connected or refuses, 422 a
        password its version does not allow, 502/504 as for commands. Without `push` it
        changes at once (for a station configured out of band)."""
        if body.push:
            view = await self._call(self._host(station_id).station.remote(station_id))
            if view is None:
                raise HTTPException(404, f"unknown station {station_id!r}")
            protocol = PROTOCOLS.get(view.ocpp_version) or PROTOCOLS[DEFAULT_VERSION]
            assert protocol.password_command is not None, f"OCPP {protocol.version} names no password command"
            action, payload = protocol.password_command(body.password)
            # The command path stores the new hash with the station's Accepted (StationHost).
            sent = await self.send_command(station_id, action, payload)
            answer = protocol.command_status(action, msgspec.json.encode(sent["response"]).decode())
            if answer not in ("Accepted", "RebootRequired"):
                raise HTTPException(409, {"station_id": station_id, "station_status": answer,
                                          "message": "the station did not accept the new password; the old one stays"})
            return StructResponse(PasswordChanged(station_id=station_id, changed=True, pushed=True,
                                                  station_status=answer))
        if not await self._write(self._host(station_id).set_password.remote(station_id, hash_password(body.password))):
            raise HTTPException(404, f"unknown station {station_id!r}")
        return StructResponse(PasswordChanged(station_id=station_id, changed=True, pushed=False))

    @api_app.delete("/api/stations/{station_id}", status_code=204, dependencies=admin)
    async def delete_station(self, station_id: str) -> Response:
        if not await self._write(self._host(station_id).deregister.remote(station_id)):
            raise HTTPException(404, f"unknown station {station_id!r}")
        return Response(status_code=204)

    @api_app.get("/api/stations/{station_id}/events", dependencies=viewer, **typed(EventPage))
    async def station_events(
        self,
        station_id: str,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> StructResponse:
        """The station's recent events in both directions, newest first (older ones: the lake)."""
        page = await self._call(self._host(station_id).recent_events.remote(station_id, offset, limit))
        if page is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        kept, events = page
        return StructResponse(EventPage(station_id=station_id, total_kept=kept, offset=offset,
                                        events=[event_view(e) for e in events]))

    # --- commands ----------------------------------------------------------------------

    @api_app.post("/api/stations/{station_id}/commands/{action}", dependencies=operator)
    async def send_command(
        self,
        station_id: str,
        action: str,
        payload: Annotated[dict[str, Any], Body(description=(
            "the request payload of the station's OCPP version (1.6 or 2.0.1), as on the wire"))] = {},
    ) -> dict[str, Any]:
        """Send a CSMS-initiated CALL of the station's OCPP version and return the station's answer.

        404 unknown station or action (of any version), 409 not connected (or a command its
        version forbids while the boot is Pending), 422 payload invalid for the action in the
        station's version, or an action of the other version (the detail names the one to use),
        429 too many commands queued for the station, 502 the station answered with a
        CALLERROR, 504 no answer within the command timeout.
        """
        result = await send_command(self.config, self.hosts, station_id, action, payload)
        if not result.from_host:
            raise HTTPException(result.status_code, result.message)
        body = {"station_id": station_id, "action": action, "message_id": result.message_id}
        if result.status_code == 200:
            return {**body, "response": msgspec.json.decode(result.response or "{}")}
        if result.status_code == 502:
            raise HTTPException(502, {**body, "error_code": result.error_code,
                                      "error_description": result.error_description, "message": result.message})
        raise HTTPException(result.status_code, {**body, "message": result.message})

    @api_app.post("/api/stations/{station_id}/certificate-renewal", dependencies=operator)
    async def renew_certificate(self, station_id: str) -> dict[str, Any]:
        """Ask the station for a new key and CSR (1.6: ExtendedTriggerMessage
        SignChargePointCertificate; 2.0.1: TriggerMessage SignChargingStationCertificate); its
        answer as for commands. The new certificate follows its SignCertificate (docs/security.md)."""
        view = await self._call(self._host(station_id).station.remote(station_id))
        if view is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        renewal = PROTOCOLS[view.ocpp_version].certificate_renewal
        if renewal is None:
            raise HTTPException(404, f"OCPP {view.ocpp_version} has no certificate renewal command")
        action, payload = renewal
        return await self.send_command(station_id, action, payload)

    # --- bulk onboarding (issue 15 item 6) ------------------------------------------------

    def _bulk_rows(self, body: bytes, content_type: str, row_type: type, id_field: str,
                   normalise=lambda key: key) -> list:
        """Every row of the body, valid, or 422 naming each bad row (nothing is applied then).
        The back office's CSV import calls it too (serve_app/backoffice/admin.py)."""
        try:
            rows, errors = bulk_rows.decode(body, content_type, row_type, id_field, _BULK_MAX_ROWS, normalise)
        except bulk_rows.BadBatch as exc:
            raise HTTPException(422, str(exc)) from None
        if errors:
            raise HTTPException(422, {"message": f"{len(errors)} of {len(rows) + len(errors)} rows invalid; "
                                                 "nothing was applied", "errors": msgspec.to_builtins(errors)})
        return rows

    @api_app.post("/api/bulk/stations", dependencies=admin,
                  openapi_extra=_bulk_body(StationRow, "station_id,password,site,boot_status,metadata.<key>..."),
                  **typed(BulkOutcome))
    async def bulk_stations(self, request: Request) -> StructResponse:
        """Register or update many stations at once: a JSON array of rows or CSV (Content-Type
        text/csv). Every row is validated first; if any is invalid, 422 lists each bad row and
        nothing is applied. Idempotent: a row that says what is registered changes nothing, so
        a batch may be sent again after any failure. 507 (disk full) or 503 before anything is
        applied when a host cannot take writes; if a host fails midway, 503 says how many rows
        were applied."""
        return StructResponse(await self._register_rows(
            self._bulk_rows(await request.body(), request.headers.get("content-type", ""), StationRow, "station_id")))

    async def _register_rows(self, rows: list[StationRow]) -> BulkOutcome:
        """Apply valid station rows (bulk_stations' errors as HTTPException); the back office's too."""
        parts: dict[str, list[StationRow]] = {}
        for row in rows:
            parts.setdefault(directory.host_for(row.station_id, self.hosts), []).append(row)
        # Every host must be able to take its part before any part is applied.
        for refused in await asyncio.gather(*(self._call(self._host_named(n).write_problem.remote()) for n in parts)):
            if refused is not None:
                raise _not_stored(refused)
        outcome = BulkOutcome()
        results = await asyncio.gather(*(self._register_part(name, part) for name, part in parts.items()),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for result in results:
            if isinstance(result, BulkOutcome):
                outcome.add(result)
            elif isinstance(result, _PartFailed):
                outcome.add(result.applied)
        if failures:
            raise HTTPException(503, {"message": f"{outcome.rows} of {len(rows)} rows applied before a station host "
                                                 "failed; the batch is idempotent: send it again",
                                      "applied": msgspec.to_builtins(outcome),
                                      "reasons": sorted({str(f) for f in failures})})
        return outcome

    async def _register_part(self, host_name: str, rows: list[StationRow]) -> BulkOutcome:
        """One host's rows, in calls of a few hundred; _PartFailed says how many were applied."""
        applied = BulkOutcome()
        host = self._host_named(host_name)
        for start in range(0, len(rows), _BULK_ROWS_PER_HOST_CALL):
            try:
                applied.add(await self._write(host.register_many.remote(rows[start:start + _BULK_ROWS_PER_HOST_CALL])))
            except HTTPException as exc:
                raise _PartFailed(applied, f"{host_name}: {exc.detail}") from None
        return applied

    @api_app.post("/api/bulk/id-tags", dependencies=admin,
                  openapi_extra=_bulk_body(IdTagRow, "id_tag,status,expiry_date,parent_id_tag"), **typed(BulkOutcome))
    async def bulk_id_tags(self, request: Request) -> StructResponse:
        """Create or replace many id tags at once, a JSON array of rows or CSV (Content-Type
        text/csv): all or nothing, with one write. 422 lists each bad row (nothing applied);
        unchanged rows are counted as such (idempotent)."""
        rows = self._bulk_rows(await request.body(), request.headers.get("content-type", ""), IdTagRow, "id_tag",
                               normalise)
        return StructResponse(await self._put_id_tag_rows(rows))

    async def _put_id_tag_rows(self, rows: list[IdTagRow]) -> BulkOutcome:
        """Apply valid id tag rows with one write (bulk_id_tags' errors as HTTPException); the back office's too."""
        records = {row.id_tag: IdTagRecord(status=row.status, parent_id_tag=row.parent_id_tag,
                                           expiry_us=to_us(row.expiry_date) if row.expiry_date else None)
                   for row in rows}
        created, updated, unchanged = await self._write(self._registry().put_many.remote(records))
        return BulkOutcome(rows=len(rows), created=created, updated=updated, unchanged=unchanged)

    # --- transactions ------------------------------------------------------------------

    @api_app.get("/api/transactions", dependencies=viewer, **typed(TransactionPage))
    async def list_transactions(
        self,
        station_id: str | None = None,
        active: bool | None = None,
        since: datetime | None = Query(default=None, description="started at or after (ISO 8601)"),
        until: datetime | None = Query(default=None, description="started before (ISO 8601)"),
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> StructResponse:
        query = TransactionFilter(
            station_id=station_id,
            active=active,
            since_us=to_us(since) if since else None,
            until_us=to_us(until) if until else None,
        )
        hosts = [directory.host_for(station_id, self.hosts)] if station_id else self.hosts
        parts = await asyncio.gather(*(self._call(self._host_named(n).transactions.remote(query)) for n in hosts))
        rows = sorted((t for part in parts for t in part), key=transaction_order)
        return StructResponse(TransactionPage(total=len(rows), energy_wh=sum(t.energy_wh or 0 for t in rows),
                                              transactions=rows[offset : offset + limit]))

    @api_app.post("/api/stations/{station_id}/transactions/{transaction_id}/close", dependencies=admin,
                  **typed(TransactionView, description="closed: the transaction as it now is"))
    async def close_transaction(self, station_id: str, transaction_id: int,
                                body: TransactionCloseBody) -> StructResponse:
        """Close a transaction whose StopTransaction never came (a station replaced, a message
        lost), with the reason. It is kept, shown as ended by the operator with its meter stop
        estimated from the last reading (for billing to reconcile), and logged as an event
        (bronze). A StopTransaction the station still sends later wins. Transaction ids are
        unique per station, hence the station in the path. 404 unknown station or transaction
        (also one forgotten beyond `completed_transactions_kept`), 409 already stopped or settled."""
        closed = await self._write(self._host(station_id).close_transaction.remote(
            station_id, transaction_id, body.reason))
        if closed == "unknown":
            raise HTTPException(404, f"no transaction {transaction_id} of station {station_id!r}")
        if closed == "closed":
            raise HTTPException(409, f"transaction {transaction_id} of station {station_id!r} has already ended")
        return StructResponse(closed)

    # --- external authorization --------------------------------------------------------

    @api_app.get("/api/authorization", dependencies=viewer, **typed(AuthorizationOverview))
    async def authorization(self) -> StructResponse:
        """The external authorizer per station host: circuit breaker, answer cache, decisions, calls."""
        parts = await asyncio.gather(*(self._call(self._host_named(n).authorization_status.remote()) for n in self.hosts))
        return StructResponse(AuthorizationOverview(enabled=bool(self.config.authorizer_url),
                                                    mode=self.config.authorizer_mode,
                                                    policy=self.config.authorizer_policy, hosts=list(parts)))

    # --- id tags -----------------------------------------------------------------------

    @api_app.get("/api/id-tags", dependencies=viewer, **typed(IdTagList))
    async def list_id_tags(self) -> StructResponse:
        tags = await self._call(self._registry().list.remote())
        return StructResponse(IdTagList(id_tags=[id_tag_view(k, v) for k, v in sorted(tags.items())]))

    @api_app.get("/api/id-tags/{id_tag}", dependencies=viewer, **typed(IdTagView))
    async def get_id_tag(self, id_tag: str) -> StructResponse:
        record = await self._call(self._registry().get.remote(id_tag))
        if record is None:
            raise HTTPException(404, f"unknown id tag {id_tag!r}")
        return StructResponse(id_tag_view(normalise(id_tag), record))

    @api_app.put("/api/id-tags/{id_tag}", dependencies=admin, **typed(IdTagView, description="updated (201: created)"))
    async def put_id_tag(self, id_tag: str, body: IdTagBody) -> StructResponse:
        if not 1 <= len(id_tag) <= 20:
            raise HTTPException(422, "id tag must be 1-20 characters (OCPP 1.6 IdToken)")
        record = IdTagRecord(
            status=body.status,
            expiry_us=to_us(body.expiry_date) if body.expiry_date else None,
            parent_id_tag=body.parent_id_tag,
        )
        created = await self._write(self._registry().put.remote(id_tag, record))
        return StructResponse(id_tag_view(normalise(id_tag), record), status_code=201 if created else 200)

    @api_app.delete("/api/id-tags/{id_tag}", status_code=204, dependencies=admin)
    async def delete_id_tag(self, id_tag: str) -> Response:
        if not await self._write(self._registry().delete.remote(id_tag)):
            raise HTTPException(404, f"unknown id tag {id_tag!r}")
        return Response(status_code=204)

    # --- reports and anomalies (gold; analytics/gold_views.py reads the files) ----------

    async def _gold(self, read, *args) -> Any:
        try:
            return await asyncio.wait_for(asyncio.to_thread(read, self.config.data_path, *args), _GOLD_READ_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise HTTPException(503, "reading the report files took too long, retry later") from None

    @api_app.get("/api/reports/faults", dependencies=viewer, response_class=StructResponse)
    async def fault_report(self, month: Annotated[str, Query(description="YYYY-MM")]) -> StructResponse:
        """The monthly fault report: stations with >= 5 Faulted statuses in a single UTC day, ranked."""
        try:
            report = await self._gold(gold_views.fault_report, month)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if report is None:
            raise HTTPException(404, f"the fault report for {month} has not been built")
        return StructResponse(report)

    @api_app.get("/api/anomalies", dependencies=viewer, response_class=StructResponse)
    async def anomalies(
        self,
        day: Annotated[date | None, Query(description="UTC day (default: the latest scored)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> StructResponse:
        """Mass-outage incidents and the stations most at risk of failing (maintenance scores)."""
        return StructResponse(await self._gold(gold_views.anomalies, day, limit))

    @api_app.get("/api/catalog", dependencies=viewer, response_class=StructResponse)
    async def data_catalog(self) -> StructResponse:
        """The lake's data catalog: every bronze/silver/gold table with grain, columns, units, freshness."""
        return StructResponse(await self._gold(catalog.catalog))

    @api_app.post("/api/jobs/{job}", dependencies=admin, **typed(scheduler.JobOutcome))
    async def run_job(
        self,
        job: str,
        period: Annotated[str | None, Query(description="YYYY-MM-DD (daily jobs) or YYYY-MM (fault_report)")] = None,
        email: bool = False,
    ) -> StructResponse:
        """Run an analytics job now, through the scheduler (analytics/scheduler.py); waits for it."""
        try:
            request = scheduler.JobRequest.parse(job, period, email)
        except ValueError as exc:
            raise HTTPException(404 if "unknown job" in str(exc) else 422, str(exc)) from None
        try:
            actor = directory.get_actor(scheduler.SCHEDULER_NAME)
        except ValueError:
            raise HTTPException(503, "the analytics scheduler is not running") from None
        try:
            outcome = await asyncio.wait_for(actor.run_now.remote(request), scheduler.ON_DEMAND_TIMEOUT_S)
        except (RayActorError, asyncio.TimeoutError) as exc:
            raise HTTPException(503, f"scheduler unavailable or job still running ({type(exc).__name__})") from None
        if outcome.status == "busy":
            raise HTTPException(409, outcome.detail)
        if outcome.status == "failed":
            raise HTTPException(500, {"job": outcome.job, "period": outcome.period, "message": outcome.detail})
        return StructResponse(outcome)
