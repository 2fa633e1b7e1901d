"""StationBalancer: one stable address in front of Serve's direct-ingress replicas.

With direct ingress each Serve replica listens on a port of its own, taken from a range and
changed on restart, and Serve does not balance across them (DESIGN.md, measured pitfalls).
This balancer listens on the public port (terminating TLS there when configured, with
client certificates for security profile 3: serve_app/tls.py), reads the request head of
each new connection (removing and setting the verified-identity headers),
picks a replica of the application whose route prefix matches the path (the controller's
target groups, refreshed every second), and then only splices bytes both ways. After the
handshake it costs two socket copies per frame instead of Serve's Python proxy hop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import ssl
import threading

from actors import certificate_store, logs
from actors.config import Config
from serve_app import lifeline, request_head, sizing, tls

log = logging.getLogger("csms.balancer")

# Per-direction buffer above which the reading side is paused (bounds memory per socket).
_HIGH_WATER = 256 * 1024
# How long a refused client may go on sending before its socket is closed (see _refuse).
_LINGER_S = 2.0


class _Pipe(asyncio.Protocol):
    """One side of a spliced connection; writes what it receives to its peer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    # Flow control: when our peer cannot keep up, stop reading from this side.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


def _address(peer: tuple) -> str:
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _ClientSide(_Pipe):
    def __init__(self, balancer: StationBalancer) -> None:
        super().__init__()
        self.balancer = balancer
        self.head = bytearray()
        self.routing = False
        self.refused = False
        # Names of a verified client certificate (TLS with a client CA only).
        self.certificate_names: list[str] = []
        self.address = ""
        # Until the head is complete: first the grace after which it counts as slow, then its deadline.
        self._head_timer: asyncio.TimerHandle | None = None
        self._slow = False
        # Where the connection comes from, for the gateway (unknown stations are shown with it).
        self.client_address: str | None = None
        self.over_tls = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.balancer.clients.add(self)
        # Over TLS this runs after the handshake, so the certificate (if any) is verified.
        self.certificate_names = tls.certificate_names(transport.get_extra_info("peercert"))
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.client_address = _address(peer) if peer else None
        self.over_tls = transport.get_extra_info("ssl_object") is not None
        config = self.balancer.config
        if not self.balancer.slow_handshakes.admits(self.address):
            self._refuse(request_head.TOO_MANY, b"Retry-After: 10\r\n")
            return
        grace = min(config.slow_handshake_grace_s, config.request_head_timeout_s)
        self._head_timer = asyncio.get_running_loop().call_later(grace, self._head_is_slow, grace)

    def _head_is_slow(self, grace: float) -> None:
        self._slow = True
        self.balancer.slow_handshakes.became_slow(self.address)
        self._head_timer = asyncio.get_running_loop().call_later(
            self.balancer.config.request_head_timeout_s - grace, self._refuse, request_head.TIMED_OUT)

    def _head_done(self) -> None:
        """The head is complete, refused or its connection gone: it no longer counts."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._slow:
            self._slow = False
            self.balancer.slow_handshakes.finished(self.address)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            super().data_received(data)
            return
        if self.refused:
            return  # read and dropped until we close, so the refusal is not lost to a reset
        self.head += data
        if self.routing:
            return
        refusal = request_head.head_refusal(self.head, self.balancer.config.max_request_head_bytes)
        if refusal is not None:
            self._refuse(refusal)
            return
        # The whole head, not just the request line: identity headers are checked and set in it.
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        self._head_done()
        try:
            head = tls.rewrite_head(bytes(self.head[:end + 4]), self.balancer.config.ingress_identity_secret,
                                    self.certificate_names, self.client_address, self.over_tls)
        except tls.BadHead as exc:
            self._refuse(exc.status)
            return
        self.head[:end + 4] = head
        parts = bytes(self.head[:self.head.find(b"\r\n")]).split(b" ")
        path = parts[1].decode("latin-1") if len(parts) == 3 else ""
        target = self.balancer.pick(path)
        if target is None:
            self._refuse(b"503 Service Unavailable")
            return
        self.routing = True
        asyncio.get_running_loop().create_task(self._connect(path, target))

    async def _connect(self, path: str, target: tuple[str, int] | None) -> None:
        loop = asyncio.get_running_loop()
        # A replica that died (with its node) stays listed until Serve notices: nothing was
        # sent to it yet, so try the next one before refusing the client.
        for _attempt in range(3):
            if target is None:
                break
            try:
                _, upstream = await asyncio.wait_for(loop.create_connection(_Pipe, *target), 10)
                break
            except (OSError, asyncio.TimeoutError):
                self.balancer.forget(target)
                target = self.balancer.pick(path)
        else:
            target = None
        if target is None:
            self._refuse(b"503 Service Unavailable")
            return
        if self.transport is None or self.transport.is_closing():
            upstream.transport.close()
            return
        upstream.peer, self.peer = self, upstream
        upstream.transport.write(bytes(self.head))
        self.head.clear()

    def _refuse(self, status: bytes, headers: bytes = b"") -> None:
        """Answer `status` and close. The client may still be sending (a 64 KB head): closing a
        socket with unread data resets it, and the reset can destroy the answer before the
        client reads it, so on plain TCP we half-close, drop what still comes, and close soon after."""
        self._head_done()
        if self.transport is None or self.refused:
            return
        self.refused = True
        self.head.clear()
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n"
                             + headers + b"\r\n")
        if self.transport.can_write_eof():
            self.transport.write_eof()
            asyncio.get_running_loop().call_later(_LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)
        self.balancer.clients.discard(self)
        self.balancer.client_gone.set()


def replica_routes(groups, node_ip: str) -> list[tuple[str, list[tuple[str, int]]]]:
    """(route prefix, replica addresses) from the Serve controller's target groups, HTTP only.

    Serve's own proxies are left out. The controller lists them as the targets of an
    application that has no running replica yet (or any more), and of "/" while there is no
    application (`ServeController.get_target_groups`, cases 2 and 4). A station sent there
    would be served through the Python proxy for the whole life of its socket: the slow path,
    and uvicorn's keepalive defaults instead of ws_ping_interval_s / ws_ping_timeout_s, which
    only the gateway replicas' own servers apply (serve_app/keepalive.py). Such a prefix stays
    listed with no address, so `pick` answers 503 for it and the station retries.
    """
    from ray.serve._private.common import RequestProtocol
    from ray.serve._private.constants import SERVE_PROXY_NAME

    # Targets carry the node's IP, but replicas bind Serve's HTTP host (loopback unless
    # RAY_SERVE_DEFAULT_HTTP_HOST says otherwise): reach this node's own over loopback.
    return [
        (group.route_prefix, [("127.0.0.1" if t.ip == node_ip else t.ip, t.port)
                              for t in group.targets if not t.name.startswith(SERVE_PROXY_NAME)])
        for group in groups
        if group.protocol == RequestProtocol.HTTP
    ]


class StationBalancer:
    """Ray actor. It serves from construction on, on an event loop of its own, so that when
    Ray restarts it after a crash the public port comes back without anyone calling it."""

    def __init__(self, config: Config) -> None:
        logs.configure()
        # Two sockets per station: whatever limit the node's Ray was started with, use it all.
        sizing.raise_open_file_limit()
        self.config = config
        # route prefix -> replica addresses, longest prefix first when matching
        self._groups: list[tuple[str, list[tuple[str, int]]]] = []
        self._cycles: dict[str, itertools.cycle] = {}
        self.slow_handshakes = request_head.SlowHandshakes(config.slow_handshakes_per_address)
        # Client connections not yet closed (those being spliced, refused or still sending their head).
        self.clients: set[_ClientSide] = set()
        self.client_gone = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._failed: BaseException | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._serve, name="station-balancer", daemon=True).start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            # Know the replicas before taking the first connection.
            self._loop.run_until_complete(self._refresh())
        except Exception:
            log.warning("no Serve target groups yet; retrying every second", exc_info=True)
        try:
            self._servers = [self._loop.run_until_complete(self._listen(port, context))
                             for port, context in self._listeners()]
            self._loop.create_task(self._refresh_forever())
            lifeline.watch_parent(self._loop, self._cluster_lost)
        except BaseException as exc:  # reported by ready()
            self._failed = exc
            return
        finally:
            self._ready.set()
        self._loop.run_forever()

    def _cluster_lost(self) -> None:
        """Our raylet is gone, and with it the cluster this balancer routes into: free the port
        now (a new CSMS may want it; stations should get refused, not a dead cluster's answers)."""
        for server in self._servers:
            server.close()
        log.warning("raylet gone: stopped listening, exiting", extra={"port": self.config.port})
        logging.shutdown()
        os._exit(1)

    def _listeners(self) -> list[tuple[int, ssl.SSLContext | None]]:
        """(port, TLS context or None): TLS on `port` when configured, plain on `plain_port` if set."""
        config = self.config
        if not config.tls_enabled():
            return [(config.port, None)]
        context = tls.server_context(config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file,
                                     certificate_store.trusted_certificate_pem(config))
        return [(config.port, context)] + ([(config.plain_port, None)] if config.plain_port else [])

    def _listen(self, port: int, context: ssl.SSLContext | None):
        return self._loop.create_server(
            lambda: _ClientSide(self), self.config.host, port, backlog=4096,
            reuse_address=True, reuse_port=True, ssl=context,
            # A client that stalls its TLS handshake holds a socket; not for long.
            ssl_handshake_timeout=10 if context else None,
        )

    def ready(self, timeout_s: float = 30.0) -> int:
        """The port, once bound; raises what stopped it from binding."""
        self._ready.wait(timeout_s)
        if self._failed is not None:
            raise RuntimeError(f"balancer could not listen on {self.config.host}:{self.config.port}") from self._failed
        return self.config.port

    def stop_listening(self, timeout_s: float = 10.0) -> int:
        """The first step of a graceful stop (app.stop): take no new connection, and splice on
        the open ones, so that the gateways' 1001 closes still reach their stations, which then
        reconnect to the next CSMS instead of into replicas that are going. Returns the
        connections still open."""
        async def close() -> None:
            for server in self._servers:
                server.close()  # the listening sockets only (Python 3.11): connections carry on

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout_s)
        log.info("stopped listening", extra={"port": self.config.port, "connections": len(self.clients)})
        return len(self.clients)

    def wait_until_drained(self, timeout_s: float) -> int:
        """Until every client connection has closed (its replica closed it, and what the replica
        sent last, a close frame, has been written out) or `timeout_s`; returns those still open."""
        async def drained() -> int:
            deadline = self._loop.time() + timeout_s
            while self.clients and self._loop.time() < deadline:
                self.client_gone.clear()
                try:
                    await asyncio.wait_for(self.client_gone.wait(), deadline - self._loop.time())
                except asyncio.TimeoutError:
                    break
            return len(self.clients)

        return asyncio.run_coroutine_threadsafe(drained(), self._loop).result(timeout_s + 5)

    def slow_handshakes_from(self, address: str) -> int:
        """Connections from `address` whose head is overdue (serve_app/request_head.py)."""
        return self.slow_handshakes.count(address)

    def targets(self) -> dict[str, list[tuple[str, int]]]:
        return {prefix: list(addresses) for prefix, addresses in self._groups}

    def pick(self, path: str) -> tuple[str, int] | None:
        """A replica of the application whose route prefix is the longest to match `path`;
        None (503) while that application has no running replica: its stations retry, they
        are not handed to another application's replicas."""
        for prefix, addresses in self._groups:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/") or prefix == "/":
                return next(self._cycles[prefix]) if addresses else None
        return None

    def forget(self, target: tuple[str, int]) -> None:
        """A replica refused a connection: stop using it until the controller lists it again."""
        self._set_groups([(p, [a for a in addrs if a != target]) for p, addrs in self._groups])

    def _set_groups(self, groups: list[tuple[str, list[tuple[str, int]]]]) -> None:
        groups.sort(key=lambda g: len(g[0]), reverse=True)
        if groups != self._groups:
            self._groups = groups
            self._cycles = {prefix: itertools.cycle(addrs) for prefix, addrs in groups if addrs}

    async def _refresh(self) -> None:
        import ray
        from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        # A Ray ObjectRef is awaited on the loop that awaits it: this one, not the actor's.
        groups = await asyncio.wait_for(asyncio.wrap_future(controller.get_target_groups.remote().future()), 10)
        self._set_groups(replica_routes(groups, ray.util.get_node_ip_address()))

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self._refresh()
            except Exception:  # keep routing to the last known replicas meanwhile
                log.warning("could not refresh Serve target groups", exc_info=True)
            await asyncio.sleep(1.0)
