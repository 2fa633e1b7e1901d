"""OcppGateway: the Ray Serve websocket ingress at /ocpp/{station_id}; it only moves frames.

The handshake is checked before the socket is accepted (unknown station 404, bad credentials
401, no common subprotocol 400, a client certificate for another station 403, a station
closed for flooding 429, a connection below the station's security profile 403, too many
failed passwords 429), with one batched round trip to the station's host. Every handshake is
counted by result; refusals are recorded for their station (serve_app/knocks.py). Inbound frames
pass the station's rate limit (serve_app/rate_limit.py) before they reach the host. After
that each frame goes to the host and its replies come back; the gateway awaits the reply
before reading the station's next frame, which keeps a station's messages in order.
"""


# No `from __future__ import annotations`: Serve's ingress wrapper reads the class's
# signatures at runtime and cannot resolve string annotations.
import asyncio
import itertools
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass

from ray.exceptions import RayActorError

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from ray import serve
from starlette.responses import JSONResponse

from actors import directory, logs, protocols
from actors.config import Config
from actors.events import now_us
from actors.host_protocol import (
    Connect,
    Disconnect,
    Frame,
    HandshakeResult,
    Knock,
    OutboundFrame,
    Reattach,
    decode_outbound,
    encode_knocks,
)
from actors.metrics import gateway_metrics
from actors.security_profiles import presented_profile
from actors.station_session import CLOSE_REPLACED
from serve_app import disconnects, keepalive, memory_probe, rate_limit
from serve_app.backoff_verdicts import BackoffVerdicts
from serve_app.drain import RolloutWatch
from serve_app.handshake import Refusal, station_credential, valid_station_id
from serve_app.host_link import HostLink, HostUnavailable, links_for
from serve_app.knocks import KNOCK_INTERVAL_S, PendingKnocks
from serve_app.tls import forwarded_address, forwarded_identity, forwarded_scheme

log = logging.getLogger("csms.gateway")

# RFC 6455 section 7.4.1 close codes.
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

gateway_app = FastAPI(title="CSMS OCPP gateway", docs_url=None, redoc_url=None, openapi_url=None)


def _deny(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="ocpp"'}


@dataclass(slots=True)
class OpenSocket:
    connection_id: str
    connected_at_us: int
    websocket: WebSocket


async def _send_quietly(websocket: WebSocket, text: str) -> None:
    try:
        await websocket.send_text(text)
    except Exception:  # closed meanwhile: the host learns it from the disconnect
        pass


async def _close_quietly(websocket: WebSocket, code: int) -> None:
    try:
        await websocket.close(code=code)
    except Exception:  # already closed by the peer: nothing left to tell it
        pass


def station_path(scope: dict) -> str | None:
    """The station id of a websocket to `/ocpp/{station_id}` (one path segment under Serve's
    route prefix, as Starlette would match it), else None."""
    if scope["type"] != "websocket":
        return None
    path, prefix = scope["path"], scope.get("root_path", "")
    if prefix and path.startswith(prefix):
        path = path[len(prefix):]
    station_id = path[1:]
    if not path.startswith("/") or not station_id or "/" in station_id:
        return None
    return station_id


# Module-level helpers must be defined above the class: Serve pickles the ingress class with
# the globals that exist when it is decorated.
@serve.deployment(name="OcppGateway")
@serve.ingress()
class OcppGateway:
    def __init__(self, config: Config) -> None:
        logs.configure()
        self.config = config
        if config.ingress == "direct":  # before Serve builds this replica's server (serve_app/keepalive.py)
            keepalive.install(config.ws_ping_interval_s, config.ws_ping_timeout_s)
        self.metrics = gateway_metrics()
        self._draining = False
        self.hosts = directory.host_names(config.resolved_station_hosts())
        self.links = links_for(config)
        for link in self.links.values():
            link.on_host_restart = self._reattach_sockets
            link.on_outbound = self._on_outbound
        self._replica = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._buckets = rate_limit.StationBuckets(config.station_rate_per_s, config.station_rate_burst,
                                                  config.station_rate_strikes)
        # Refusals decided here, waiting to be recorded by their stations' hosts.
        self._knocks = PendingKnocks()
        # The hosts' password-backoff verdicts, kept until they expire.
        self._verdicts = BackoffVerdicts()
        # The sockets this replica holds, by station id.
        self.sockets: dict[str, OpenSocket] = {}
        self._pollers: list[asyncio.Task] = []

    def __serve_build_asgi_app__(self):
        """The ASGI app of this replica (Serve's late-bound ingress: called once, after the
        constructor). A station's websocket goes straight to `station_socket`; anything else
        (lifespan included) to `gateway_app`, which has no route and refuses it. A FastAPI
        websocket route kept its middleware, exit stacks and dependency solving suspended for
        each connection's whole life: about 11 KiB an idle station (BENCHMARKS.md section 14)."""

        async def station_entry(scope: dict, receive, send) -> None:
            station_id = station_path(scope)
            if station_id is None:
                await gateway_app(scope, receive, send)
            else:
                await self.station_socket(WebSocket(scope, receive, send), station_id)

        return station_entry

    async def station_socket(self, websocket: WebSocket, station_id: str) -> None:
        if not self._pollers:
            loop = asyncio.get_running_loop()
            self._pollers = [loop.create_task(self._poll_outbound(name)) for name in self.hosts]
            self._pollers.append(loop.create_task(self._watch_rollout()))
            self._pollers.append(loop.create_task(self._send_knocks()))
        # Every refusal is counted by result; those for a valid station id are also recorded for
        # it (serve_app/knocks.py). Neither a draining replica nor an invalid id is the station's doing.
        if self._draining:
            await self._refuse(websocket, "draining", 503, "gateway replica is shutting down, reconnect")
            return
        if not valid_station_id(station_id):
            await self._refuse(websocket, "invalid_id", 400, "invalid station id")
            return
        offered = tuple(websocket.scope.get("subprotocols") or ())
        source_address = self._source_address(websocket)
        protocol = protocols.negotiate(list(offered))
        if protocol is None:
            await self._refuse(websocket, "no_subprotocol", 400,
                               f"no supported OCPP subprotocol offered ({', '.join(protocols.SUBPROTOCOLS)})",
                               knock=(station_id, source_address, offered))
            return
        locked_out_s = self._buckets.locked_out_s(station_id)
        if locked_out_s:
            # Closed for flooding a moment ago: refused before it costs the host anything.
            await self._refuse(websocket, "flood_lockout", 429, "closed for flooding; retry later",
                               {"Retry-After": str(math.ceil(locked_out_s))}, knock=(station_id, source_address, offered))
            return
        certificate_names = forwarded_identity(websocket.headers, self.config.ingress_identity_secret)
        credential = station_credential(
            station_id, websocket.headers.get("authorization"), certificate_names,
            require_certificate=self.config.require_client_cert,
            certificate_replaces_password=self.config.client_cert_replaces_basic_auth,
        )
        if isinstance(credential, Refusal):
            await self._refuse(websocket, credential.result, credential.status, credential.message,
                               BASIC_CHALLENGE if credential.status == 401 else None,
                               knock=(station_id, source_address, offered))
            return
        password = credential.password  # None: a verified certificate named the station
        if password is not None and (wait_s := self._verdicts.wait_s(station_id, source_address)):
            # The host told this address to wait (serve_app/backoff_verdicts.py): no Connect.
            await self._refuse_guess(websocket, wait_s, knock=(station_id, source_address, offered))
            return
        link = self.links[directory.host_for(station_id, self.hosts)]
        connection_id = f"{self._replica}-{next(self._ids)}"
        connected_at = now_us()
        try:
            answer = await link.call(Connect(station_id, connection_id, connected_at, password,
                                             source_address=source_address,
                                             subprotocols=offered, ocpp_version=protocol.version,
                                             security_profile=presented_profile(
                                                 over_tls=self._over_tls(websocket),
                                                 certificate=bool(certificate_names))))
        except HostUnavailable:
            await self._refuse(websocket, "host_unavailable", 503, "station host unavailable, retry later")
            return
        # From here the host recorded its own refusals: only counted.
        status = answer.connect_status
        if status == "unknown_station" and not self.config.hide_registrations:
            await self._refuse(websocket, status, 404, "unknown station")
            return
        if status == "profile_too_low":
            # Valid or not, these credentials on this transport are below the station's
            # security profile (OCTT TC_083 step 12): forbidden, no Basic challenge.
            await self._refuse(websocket, status, 403,
                               "this connection is below the station's security profile (docs/security.md)")
            return
        if status == "backoff":
            # Too many failed passwords for this station or from this address (actors/guessing.py).
            self._verdicts.refused(station_id, source_address, answer.retry_after_s)
            await self._refuse_guess(websocket, answer.retry_after_s)
            return
        if status != "accepted":  # bad_credentials, or unknown_station with hide_registrations
            await self._refuse(websocket, status or "bad_credentials", 401, "bad credentials", BASIC_CHALLENGE)
            return
        self.metrics.handshakes.inc(1, tags={"result": "accepted"})
        close_code: int | None = CLOSE_INTERNAL_ERROR
        try:
            await websocket.accept(subprotocol=protocol.subprotocol)
            previous = self.sockets.get(station_id)
            self.sockets[station_id] = OpenSocket(connection_id, connected_at, websocket)
            self.metrics.sockets.set(len(self.sockets))
            if previous is not None:
                # The newest connection of a station replaces an older one (DESIGN.md, handshake).
                asyncio.get_running_loop().create_task(_close_quietly(previous.websocket, CLOSE_REPLACED))
            log.info("station connected", extra={"station_id": station_id, "connection_id": connection_id,
                                                 "ocpp_version": protocol.version})
            if self.config.ingress == "direct":
                keepalive.check_in_force(websocket.scope)
            close_code = await self._serve_frames(websocket, station_id, connection_id, connected_at, link,
                                                  protocol.transaction_actions)
        finally:
            # Whatever ended the socket, the host must learn the station is gone.
            current = self.sockets.get(station_id)
            if current is not None and current.connection_id == connection_id:
                del self.sockets[station_id]
            self.metrics.sockets.set(len(self.sockets))
            close_code, close_reason = keepalive.close_cause(websocket.scope, close_code)
            self.metrics.closes.inc(1, tags={"code": str(close_code)})
            await disconnects.record(link, Disconnect(station_id, connection_id, close_code, close_reason))

    def _over_tls(self, websocket: WebSocket) -> bool:
        """Whether the station's connection was TLS: as the balancer saw it (direct ingress),
        else this socket's own scheme (proxy ingress, where Serve's proxy serves TLS)."""
        scheme = forwarded_scheme(websocket.headers, self.config.ingress_identity_secret)
        if scheme is not None:
            return scheme == "https"
        return websocket.url.scheme == "wss"

    def _source_address(self, websocket: WebSocket) -> str | None:
        """The station's address: as the balancer saw it, else this socket's peer (proxy ingress)."""
        forwarded = forwarded_address(websocket.headers, self.config.ingress_identity_secret)
        client = websocket.client
        return forwarded or (f"{client.host}:{client.port}" if client else None)

    async def _refuse(self, websocket: WebSocket, result: HandshakeResult, status: int, message: str,
                      headers: dict[str, str] | None = None,
                      knock: tuple[str, str | None, tuple[str, ...]] | None = None) -> None:
        """Refuse the handshake with `status`, count it by `result`, and with `knock` (station
        id, source address, subprotocols offered) record it for the station's host."""
        self.metrics.handshakes.inc(1, tags={"result": result})
        if knock is not None:
            station_id, source_address, offered = knock
            self._knocks.refused(directory.host_for(station_id, self.hosts), station_id, result, now_us(),
                                 source_address, offered)
        await websocket.send_denial_response(_deny(status, message, headers))

    async def _refuse_guess(self, websocket: WebSocket, wait_s: float,
                            knock: tuple[str, str | None, tuple[str, ...]] | None = None) -> None:
        await self._refuse(websocket, "backoff", 429, "too many failed authentications; retry later",
                           {"Retry-After": str(max(1, math.ceil(wait_s)))}, knock=knock)

    async def _send_knocks(self) -> None:
        """Every KNOCK_INTERVAL_S, each host's knocks in one fire-and-forget call (serve_app/knocks.py)."""
        while True:
            await asyncio.sleep(KNOCK_INTERVAL_S)
            if self._knocks.dropped:
                self.metrics.knocks_dropped.inc(self._knocks.dropped)
            batches = self._knocks.take()
            if batches:
                await asyncio.gather(*(self._send_knock_batch(host, knocks) for host, knocks in batches.items()))

    async def _send_knock_batch(self, host_name: str, knocks: list[Knock]) -> None:
        try:
            host = directory.get_actor(host_name)
            await asyncio.wait_for(host.knocks.remote(encode_knocks(knocks)), self.config.host_call_timeout_s)
        except (RayActorError, ValueError, asyncio.TimeoutError):
            # Records only: the refusals were answered and counted already.
            log.info("refused handshakes not recorded: host unavailable",
                     extra={"host": host_name, "knocks": len(knocks)})

    async def _serve_frames(self, websocket: WebSocket, station_id: str, connection_id: str,
                            connected_at: int, link, transaction_actions: frozenset[str]) -> int | None:
        limit = self.config.max_frame_bytes
        bucket = self._buckets.open(station_id)
        while True:
            try:
                message = await websocket.receive()
            except WebSocketDisconnect as exc:
                return exc.code
            if message["type"] == "websocket.disconnect":
                return message.get("code")
            text = message.get("text")
            if text is None:
                data = message.get("bytes") or b""
                # OCPP-J is text only; a binary frame is decoded if it is UTF-8 and then
                # answered like any other frame (malformed ones get a CALLERROR).
                text = data.decode("utf-8", errors="replace")
            if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
                await _close_quietly(websocket, CLOSE_TOO_BIG)
                return CLOSE_TOO_BIG
            if bucket is not None and not await self._within_rate(websocket, bucket, text, transaction_actions):
                if bucket.strike():
                    self._buckets.flooded(station_id)
                    log.warning("station flooding: closing its socket",
                                extra={"station_id": station_id, "connection_id": connection_id})
                    await _close_quietly(websocket, rate_limit.CLOSE_POLICY_VIOLATION)
                    return rate_limit.CLOSE_POLICY_VIOLATION
                continue
            received = time.perf_counter()
            try:
                reply = await link.call(Frame(station_id, connection_id, connected_at, text, now_us()))
            except HostUnavailable:
                # Unanswered: the station resends its transaction messages after reconnecting.
                await _close_quietly(websocket, CLOSE_INTERNAL_ERROR)
                return CLOSE_INTERNAL_ERROR
            for out in reply.replies:
                await websocket.send_text(out)
            self.metrics.call_latency.observe(time.perf_counter() - received)
            if reply.close_code is not None:
                await _close_quietly(websocket, reply.close_code)
                return reply.close_code

    async def _within_rate(self, websocket: WebSocket, bucket: rate_limit.TokenBucket, text: str,
                           transaction_actions: frozenset[str]) -> bool:
        """Take the frame's token; False when it was refused (its CALLERROR already sent)."""
        wait = bucket.take()
        if not wait:
            return True
        if rate_limit.must_wait(text, transaction_actions):
            while wait:  # the limit itself: this socket's next frame is read only after this one
                await asyncio.sleep(wait)
                wait = bucket.take()
            return True
        await _send_quietly(websocket, rate_limit.refusal(text, bucket.rate, bucket.burst))
        return False

    async def _poll_outbound(self, host_name: str) -> None:
        """Long-poll one host for CALLs to our sockets: one parked Ray call per (replica, host)."""
        wait_s = 20.0
        delay = 0.1
        while True:
            try:
                host = directory.get_actor(host_name)
                data = await asyncio.wait_for(host.outbound.remote(self._replica, wait_s),
                                              wait_s + self.config.host_call_timeout_s)
                delay = 0.1
            except (RayActorError, ValueError, asyncio.TimeoutError):
                await asyncio.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 5.0)
                continue
            batch = decode_outbound(data)
            link = self.links[host_name]
            link.observe_incarnation(batch.incarnation)
            self._on_outbound(link, batch.frames)

    def _on_outbound(self, link: HostLink, frames: list[OutboundFrame]) -> None:
        """Frames from a host for our sockets: CALLs, closes, late replies to deferred frames."""
        for frame in frames:
            if frame.reply is not None:
                link.deliver(frame)  # the late reply to a deferred frame: its reader goes on
                continue
            open_socket = self.sockets.get(frame.station_id)
            if open_socket is None or open_socket.connection_id != frame.connection_id:
                # The socket went away: the command times out or fails on the disconnect.
                log.info("outbound frame for a closed socket dropped", extra={"station_id": frame.station_id})
                continue
            # A task per frame: one slow station must not hold up the others' CALLs.
            if frame.close_code is not None:
                asyncio.get_running_loop().create_task(_close_quietly(open_socket.websocket, frame.close_code))
            else:
                asyncio.get_running_loop().create_task(_send_quietly(open_socket.websocket, frame.text))

    async def _watch_rollout(self) -> None:
        """Direct ingress only: close our sockets with 1001 as soon as Serve starts stopping us."""
        if self.config.ingress != "direct":
            return
        import ray

        watch = RolloutWatch(serve.get_replica_context().app_name,
                             ray.get_runtime_context().get_actor_name(), self._drain)
        await watch.run()

    def _drain(self) -> None:
        self._draining = True
        log.info("draining: closing station sockets with 1001", extra={"sockets": len(self.sockets)})
        loop = asyncio.get_running_loop()
        for open_socket in list(self.sockets.values()):
            loop.create_task(_close_quietly(open_socket.websocket, CLOSE_GOING_AWAY))

    def _reattach_sockets(self, link: HostLink) -> None:
        """The host restarted while our sockets stayed open: tell it they are still here."""
        mine = [
            Reattach(station_id, open_socket.connection_id, open_socket.connected_at_us)
            for station_id, open_socket in self.sockets.items()
            if directory.host_for(station_id, self.hosts) == link.host_name
        ]
        log.info("host restarted; re-attaching sockets", extra={"host": link.host_name, "sockets": len(mine)})

        async def reattach(request: Reattach) -> None:
            try:
                await link.call(request)
            except HostUnavailable:
                pass  # the socket's next frame re-attaches it

        loop = asyncio.get_running_loop()
        for request in mine:
            loop.create_task(reattach(request))

    def memory_probe(self, action: str, path: str = "") -> dict:
        """Measurement only (scripts/gateway_memory.py, through a Serve handle): serve_app/memory_probe.py."""
        return memory_probe.probe(action, path)

    async def __del__(self) -> None:
        for poller in self._pollers:
            poller.cancel()
        # Rollout or scale-in: tell stations to reconnect elsewhere now rather than time out.
        for open_socket in list(self.sockets.values()):
            await _close_quietly(open_socket.websocket, CLOSE_GOING_AWAY)
