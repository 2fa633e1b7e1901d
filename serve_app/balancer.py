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
import ssl
import threading

from actors import logs
from actors.config import Config
from serve_app import tls

log = logging.getLogger("csms.balancer")

# Per-direction buffer above which the reading side is paused (bounds memory per socket).
_HIGH_WATER = 256 * 1024


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
        # Names of a verified client certificate (TLS with a client CA only).
        self.certificate_names: list[str] = []
        # Where the connection comes from, for the gateway (unknown stations are shown with it).
        self.client_address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Over TLS this runs after the handshake, so the certificate (if any) is verified.
        self.certificate_names = tls.certificate_names(transport.get_extra_info("peercert"))
        peer = transport.get_extra_info("peername")
        self.client_address = _address(peer) if peer else None

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            super().data_received(data)
            return
        self.head += data
        if self.routing:
            return
        # The whole head, not just the request line: identity headers are checked and set in it.
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > tls.MAX_HEAD_BYTES:
                self._refuse(b"431 Request Header Fields Too Large")
            return
        try:
            head = tls.rewrite_head(bytes(self.head[:end + 4]), self.balancer.config.ingress_identity_secret,
                                    self.certificate_names, self.client_address)
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

    def _refuse(self, status: bytes) -> None:
        if self.transport is not None:
            self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()


class StationBalancer:
    """Ray actor. It serves from construction on, on an event loop of its own, so that when
    Ray restarts it after a crash the public port comes back without anyone calling it."""

    def __init__(self, config: Config) -> None:
        logs.configure()
        self.config = config
        # route prefix -> replica addresses, longest prefix first when matching
        self._groups: list[tuple[str, list[tuple[str, int]]]] = []
        self._cycles: dict[str, itertools.cycle] = {}
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
        except BaseException as exc:  # reported by ready()
            self._failed = exc
            return
        finally:
            self._ready.set()
        self._loop.run_forever()

    def _listeners(self) -> list[tuple[int, ssl.SSLContext | None]]:
        """(port, TLS context or None): TLS on `port` when configured, plain on `plain_port` if set."""
        config = self.config
        if not config.tls_enabled():
            return [(config.port, None)]
        context = tls.server_context(config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file)
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

    def targets(self) -> dict[str, list[tuple[str, int]]]:
        return {prefix: list(addresses) for prefix, addresses in self._groups}

    def pick(self, path: str) -> tuple[str, int] | None:
        for prefix, addresses in self._groups:
            if addresses and (path == prefix or path.startswith(prefix.rstrip("/") + "/") or prefix == "/"):
                return next(self._cycles[prefix])
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
        from ray.serve._private.common import RequestProtocol
        from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        # A Ray ObjectRef is awaited on the loop that awaits it: this one, not the actor's.
        groups = await asyncio.wait_for(asyncio.wrap_future(controller.get_target_groups.remote().future()), 10)
        # Targets carry the node's IP, but replicas bind Serve's HTTP host (loopback unless
        # RAY_SERVE_DEFAULT_HTTP_HOST says otherwise): reach this node's own over loopback.
        node_ip = ray.util.get_node_ip_address()
        self._set_groups([
            (group.route_prefix, [("127.0.0.1" if t.ip == node_ip else t.ip, t.port) for t in group.targets])
            for group in groups
            if group.protocol == RequestProtocol.HTTP
        ])

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self._refresh()
            except Exception:  # keep routing to the last known replicas meanwhile
                log.warning("could not refresh Serve target groups", exc_info=True)
            await asyncio.sleep(1.0)
