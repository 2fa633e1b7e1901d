"""OperatorApi: the operators' HTTP JSON API under /api (bearer token; OpenAPI at /docs).

Reads and writes go to the station's StationHost (or to every host for lists) and to the
id-tag registry; the API keeps no state of its own, so any replica answers any request.
"""


# No `from __future__ import annotations`: FastAPI reads these route signatures at runtime
# through Serve's ingress wrapper, which cannot resolve string annotations.
import asyncio
import hmac
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

import msgspec
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from ray import serve
from ray.exceptions import RayActorError

from actors import directory, logs
from actors.config import ROLE_RANK, Config, Role
from actors.events import Event
from actors.id_tags import normalise
from actors.timestamps import to_us
from actors.passwords import hash_password
from actors.station_state import IdTagRecord, Registration
from actors.views import TransactionFilter, transaction_order
from analytics import catalog, gold_views, scheduler
from serve_app.handshake import valid_station_id

api_app = FastAPI(
    title="CSMS operator API",
    description="Live status, transactions and id tags of an OCPP charge station network.",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
_bearer = HTTPBearer(auto_error=False)
# Gold reads are small Parquet files on the data root; a slow shared filesystem gets a 503.
_GOLD_READ_TIMEOUT_S = 30.0


class StationRegistrationBody(BaseModel):
    # OCPP security profiles ask for 16 to 40 character AuthorizationKeys.
    password: str = Field(min_length=16, max_length=40, description="Basic-auth password; stored only as a salted hash")
    site: str | None = Field(default=None, max_length=100)
    metadata: dict[str, str] = Field(default_factory=dict)
    boot_status: Literal["Accepted", "Pending", "Rejected"] = Field(
        default="Accepted", description="What BootNotification answers this station")


class StationPasswordBody(BaseModel):
    password: str = Field(min_length=16, max_length=40, description="the new Basic-auth password; stored only as a salted hash")
    push: bool = Field(default=False, description=(
        "send it to the connected station as ChangeConfiguration AuthorizationKey first, and store it only "
        "once the station accepts (then it must be 16-20 bytes in UTF-8, OCPP-J 1.6 section 6.2.2)"))


@api_app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the offending value, and a body may hold a password: say where
    # and why it is invalid, never what was sent.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


class IdTagBody(BaseModel):
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(default=None, max_length=20)


# Command outcomes other than an answer: HTTP status and what to tell the operator.
_COMMAND_FAILURES: dict[str, tuple[int, str]] = {
    "unknown_station": (404, "unknown station"),
    "not_connected": (409, "station not connected"),
    "not_accepted": (409, "the station's BootNotification is not Accepted (OCPP 1.6 section 4.2 forbids "
                          "RemoteStartTransaction and RemoteStopTransaction while Pending)"),
    "disconnected": (409, "station disconnected before answering"),
    "busy": (429, "too many commands queued for this station; retry later"),
    # Checked by the station's host against the station's OCPP version (nothing is sent).
    "unknown_action": (404, ""),
    "invalid_payload": (422, ""),
    "timeout": (504, "no answer from the station in time"),
}


def _event_json(event: Event) -> dict[str, Any]:
    try:
        payload: Any = msgspec.json.decode(event.payload)
    except msgspec.DecodeError:
        payload = event.payload  # a malformed frame, shown as the station sent it
    return {
        "received_at": _datetime(event.received_at_us),
        "station_timestamp": _datetime(event.station_ts_us) if event.station_ts_us is not None else None,
        "direction": event.direction,
        "message_type": event.message_type,
        "message_id": event.message_id,
        "action": event.action,
        "payload": payload,
    }


def _datetime(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc).isoformat()


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _id_tag_json(id_tag: str, record: IdTagRecord) -> dict[str, Any]:
    expiry = _datetime(record.expiry_us) if record.expiry_us is not None else None
    return {"id_tag": id_tag, "status": record.status, "expiry_date": expiry, "parent_id_tag": record.parent_id_tag}


@serve.deployment(name="OperatorApi")
@serve.ingress(api_app)
class OperatorApi:
    def __init__(self, config: Config) -> None:
        logs.configure()
        self.config = config
        self.hosts = directory.host_names(config.resolved_station_hosts())
        self._tokens = [(token.encode(), role) for token, role in config.token_roles() if token]

    # --- plumbing ----------------------------------------------------------------------

    def _authorize(self, credentials: HTTPAuthorizationCredentials | None, need: Role = "viewer") -> None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        presented = credentials.credentials.encode()
        # Compare against every token in constant time so timing reveals nothing.
        role = None
        for token, token_role in self._tokens:
            if hmac.compare_digest(presented, token):
                role = token_role
        if role is None:
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        if ROLE_RANK[role] < ROLE_RANK[need]:
            raise HTTPException(403, f"this needs the {need} role; the token has {role}")

    async def _call(self, ref) -> Any:
        try:
            return await asyncio.wait_for(ref, self.config.host_call_timeout_s)
        except (RayActorError, asyncio.TimeoutError) as exc:
            raise HTTPException(503, f"backend unavailable, retry later ({type(exc).__name__})") from None

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

    @api_app.get("/api/health")
    async def health(self) -> dict[str, Any]:
        async def ping(name: str) -> bool:
            try:
                await asyncio.wait_for(directory.get_actor(name).ping.remote(), 5)
                return True
            except Exception:
                return False

        results = await asyncio.gather(*(ping(n) for n in self.hosts))
        healthy = all(results)
        return {"status": "ok" if healthy else "degraded", "station_hosts": dict(zip(self.hosts, results))}

    # --- stations ----------------------------------------------------------------------

    @api_app.get("/api/stations")
    async def list_stations(
        self,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        connected: bool | None = None,
        site: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        self._authorize(credentials)
        parts = await asyncio.gather(*(self._call(self._host_named(n).stations.remote()) for n in self.hosts))
        stations = sorted((s for part in parts for s in part), key=lambda s: s.station_id)
        if connected is not None:
            stations = [s for s in stations if s.connected == connected]
        if site is not None:
            stations = [s for s in stations if s.site == site]
        return {"total": len(stations), "stations": _builtins(stations[offset : offset + limit])}

    @api_app.get("/api/stations/{station_id}")
    async def get_station(
        self, station_id: str, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        self._authorize(credentials)
        view = await self._call(self._host(station_id).station.remote(station_id))
        if view is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        return _builtins(view)

    @api_app.put("/api/stations/{station_id}")
    async def register_station(
        self,
        station_id: str,
        body: StationRegistrationBody,
        response: Response,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> dict[str, Any]:
        self._authorize(credentials, "admin")
        if not valid_station_id(station_id):
            raise HTTPException(422, "station id must be 1-48 characters of A-Z a-z 0-9 . _ - : * + | @")
        registration = Registration(
            password_hash=hash_password(body.password),
            site=body.site,
            metadata=body.metadata,
            boot_status=body.boot_status,
        )
        created = await self._call(self._host(station_id).register.remote(station_id, registration))
        response.status_code = 201 if created else 200
        return {"station_id": station_id, "created": created}

    @api_app.put("/api/stations/{station_id}/password")
    async def change_station_password(
        self,
        station_id: str,
        body: StationPasswordBody,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> dict[str, Any]:
        """Change a station's Basic-auth password. With `push`, the station is sent the new
        AuthorizationKey and the password changes only if it answers Accepted (or
        RebootRequired): 409 when it is not connected or refuses, 502/504 as for commands.
        Without `push` it changes at once (for a station configured out of band)."""
        self._authorize(credentials, "admin")
        if body.push:
            key = {"key": "AuthorizationKey", "value": body.password.encode().hex()}
            # The command path stores the new hash with the station's Accepted (StationHost).
            sent = await self.send_command(station_id, "ChangeConfiguration", credentials, key)
            answer = sent["response"].get("status")
            if answer not in ("Accepted", "RebootRequired"):
                raise HTTPException(409, {"station_id": station_id, "station_status": answer,
                                          "message": "the station did not accept the new password; the old one stays"})
            return {"station_id": station_id, "changed": True, "pushed": True, "station_status": answer}
        if not await self._call(self._host(station_id).set_password.remote(station_id, hash_password(body.password))):
            raise HTTPException(404, f"unknown station {station_id!r}")
        return {"station_id": station_id, "changed": True, "pushed": False}

    @api_app.delete("/api/stations/{station_id}", status_code=204)
    async def delete_station(
        self, station_id: str, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Response:
        self._authorize(credentials, "admin")
        if not await self._call(self._host(station_id).deregister.remote(station_id)):
            raise HTTPException(404, f"unknown station {station_id!r}")
        return Response(status_code=204)

    @api_app.get("/api/stations/{station_id}/events")
    async def station_events(
        self,
        station_id: str,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The station's recent events in both directions, newest first (older ones: the lake)."""
        self._authorize(credentials)
        page = await self._call(self._host(station_id).recent_events.remote(station_id, offset, limit))
        if page is None:
            raise HTTPException(404, f"unknown station {station_id!r}")
        kept, events = page
        return {"station_id": station_id, "total_kept": kept, "offset": offset,
                "events": [_event_json(e) for e in events]}

    # --- commands ----------------------------------------------------------------------

    @api_app.post("/api/stations/{station_id}/commands/{action}")
    async def send_command(
        self,
        station_id: str,
        action: str,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        payload: Annotated[dict[str, Any], Body(description="the OCPP 1.6 request payload, as on the wire")] = {},
    ) -> dict[str, Any]:
        """Send a CSMS-initiated OCPP 1.6 CALL and return the station's answer.

        404 unknown station or action, 409 not connected, 422 payload invalid for the action,
        429 too many commands queued for the station, 502 the station answered with a
        CALLERROR, 504 no answer within the command timeout.
        """
        self._authorize(credentials, "operator")
        timeout = self.config.command_timeout_s
        try:
            outcome = await asyncio.wait_for(
                self._host(station_id).command.remote(station_id, action, msgspec.json.encode(payload).decode(), timeout),
                timeout + self.config.host_call_timeout_s,
            )
        except (RayActorError, asyncio.TimeoutError) as exc:
            raise HTTPException(503, f"station host unavailable, retry later ({type(exc).__name__})") from None
        body = {"station_id": station_id, "action": action, "message_id": outcome.message_id}
        if outcome.status == "answered":
            return {**body, "response": msgspec.json.decode(outcome.response or "{}")}
        if outcome.status == "call_error":
            raise HTTPException(502, {**body, "error_code": outcome.error_code,
                                      "error_description": outcome.error_description,
                                      "message": "the station answered with a CALLERROR"})
        status, message = _COMMAND_FAILURES[outcome.status]
        if outcome.status in ("unknown_action", "invalid_payload"):
            raise HTTPException(status, outcome.error_description)
        raise HTTPException(status, {**body, "message": message})

    # --- transactions ------------------------------------------------------------------

    @api_app.get("/api/transactions")
    async def list_transactions(
        self,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        station_id: str | None = None,
        active: bool | None = None,
        since: datetime | None = Query(default=None, description="started at or after (ISO 8601)"),
        until: datetime | None = Query(default=None, description="started before (ISO 8601)"),
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        self._authorize(credentials)
        query = TransactionFilter(
            station_id=station_id,
            active=active,
            since_us=to_us(since) if since else None,
            until_us=to_us(until) if until else None,
        )
        hosts = [directory.host_for(station_id, self.hosts)] if station_id else self.hosts
        parts = await asyncio.gather(*(self._call(self._host_named(n).transactions.remote(query)) for n in hosts))
        rows = sorted((t for part in parts for t in part), key=transaction_order)
        return {
            "total": len(rows),
            "energy_wh": sum(t.energy_wh or 0 for t in rows),
            "transactions": _builtins(rows[offset : offset + limit]),
        }

    # --- external authorization --------------------------------------------------------

    @api_app.get("/api/authorization")
    async def authorization(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        """The external authorizer per station host: circuit breaker, answer cache, decisions, calls."""
        self._authorize(credentials)
        parts = await asyncio.gather(*(self._call(self._host_named(n).authorization_status.remote()) for n in self.hosts))
        return {"enabled": bool(self.config.authorizer_url), "mode": self.config.authorizer_mode,
                "policy": self.config.authorizer_policy, "hosts": _builtins(list(parts))}

    # --- id tags -----------------------------------------------------------------------

    @api_app.get("/api/id-tags")
    async def list_id_tags(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        self._authorize(credentials)
        tags = await self._call(self._registry().list.remote())
        return {"id_tags": [_id_tag_json(k, v) for k, v in sorted(tags.items())]}

    @api_app.get("/api/id-tags/{id_tag}")
    async def get_id_tag(
        self, id_tag: str, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        self._authorize(credentials)
        record = await self._call(self._registry().get.remote(id_tag))
        if record is None:
            raise HTTPException(404, f"unknown id tag {id_tag!r}")
        return _id_tag_json(normalise(id_tag), record)

    @api_app.put("/api/id-tags/{id_tag}")
    async def put_id_tag(
        self,
        id_tag: str,
        body: IdTagBody,
        response: Response,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> dict[str, Any]:
        self._authorize(credentials, "admin")
        if not 1 <= len(id_tag) <= 20:
            raise HTTPException(422, "id tag must be 1-20 characters (OCPP 1.6 IdToken)")
        record = IdTagRecord(
            status=body.status,
            expiry_us=to_us(body.expiry_date) if body.expiry_date else None,
            parent_id_tag=body.parent_id_tag,
        )
        created = await self._call(self._registry().put.remote(id_tag, record))
        response.status_code = 201 if created else 200
        return _id_tag_json(normalise(id_tag), record)

    @api_app.delete("/api/id-tags/{id_tag}", status_code=204)
    async def delete_id_tag(
        self, id_tag: str, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Response:
        self._authorize(credentials, "admin")
        if not await self._call(self._registry().delete.remote(id_tag)):
            raise HTTPException(404, f"unknown id tag {id_tag!r}")
        return Response(status_code=204)

    # --- reports and anomalies (gold; analytics/gold_views.py reads the files) ----------

    async def _gold(self, read, *args) -> Any:
        try:
            return await asyncio.wait_for(asyncio.to_thread(read, self.config.data_path, *args), _GOLD_READ_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise HTTPException(503, "reading the report files took too long, retry later") from None

    @api_app.get("/api/reports/faults")
    async def fault_report(
        self,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        month: Annotated[str, Query(description="YYYY-MM")],
    ) -> dict[str, Any]:
        """The monthly fault report: stations with >= 5 Faulted statuses in a single UTC day, ranked."""
        self._authorize(credentials)
        try:
            report = await self._gold(gold_views.fault_report, month)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if report is None:
            raise HTTPException(404, f"the fault report for {month} has not been built")
        return report

    @api_app.get("/api/anomalies")
    async def anomalies(
        self,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        day: Annotated[date | None, Query(description="UTC day (default: the latest scored)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """Mass-outage incidents and the stations most at risk of failing (maintenance scores)."""
        self._authorize(credentials)
        return await self._gold(gold_views.anomalies, day, limit)

    @api_app.get("/api/catalog")
    async def data_catalog(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        """The lake's data catalog: every bronze/silver/gold table with grain, columns, units, freshness."""
        self._authorize(credentials)
        return await self._gold(catalog.catalog)

    @api_app.post("/api/jobs/{job}")
    async def run_job(
        self,
        job: str,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        period: Annotated[str | None, Query(description="YYYY-MM-DD (daily jobs) or YYYY-MM (fault_report)")] = None,
        email: bool = False,
    ) -> dict[str, Any]:
        """Run an analytics job now, through the scheduler (analytics/scheduler.py); waits for it."""
        self._authorize(credentials, "admin")
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
        return msgspec.to_builtins(outcome)

