"""The gateway's websocket protocol: keepalive settings, each close's true cause, a light idle socket.

With direct ingress every gateway replica runs a uvicorn server that Serve builds itself
(`ray.serve._private.http_util.start_asgi_http_server`) with no way to pass websocket
options: uvicorn's defaults (ping every 20 s, drop a connection whose pong is 20 s late)
would apply unchanged. Serve looks `uvicorn.Config` up when it builds that server, and it
builds it only after the replica's constructor has returned (Ray 2.60 `replica.py`:
`ReplicaBase.initialize` awaits `initialize_callable`, which runs the constructor, then
`_on_initialized` -> `_maybe_start_direct_ingress_servers`; Serve asserts that order, as the
server must not take connections before the replica is ready). So the gateway's constructor,
in the replica's own process, puts a subclass there (`install`) that defaults three things
and takes every other argument from Serve as before:

- `ws_ping_interval` / `ws_ping_timeout` from `ws_ping_interval_s` / `ws_ping_timeout_s`
  (RFC 6455 section 5.5.2 pings; the station side has OCPP 1.6's own WebSocketPingInterval
  configuration key, OCPP-J 1.6 section 5.3, docs/operations.md);
- the websocket protocol: uvicorn's own (websockets' sans-I/O implementation) with one fix.
  After the handshake uvicorn reports every lost connection as 1005 (no status received),
  so a keepalive timeout, where it sent 1011 "keepalive ping timeout", and a peer that
  vanished without a close frame (RFC 6455 section 7.1.5: 1006) looked the same, and the
  same as a close frame without a code. `StationWebSocketProtocol` reports what happened.
- what an idle connection keeps (measured in a replica: BENCHMARKS.md section 14): a
  one-reader inbox instead of uvicorn's `asyncio.Queue` (four deques, 3 KiB), a write-pause
  event made only when the transport first fills, the handshake's request and response
  (their headers) let go once the socket is accepted, and Serve told not to watch
  the connection for a disconnect (`x-request-disconnect-disabled`): Serve's replica then
  awaits the handler directly instead of proxying `receive` through a queue and a task of its
  own and racing a second task against it. The handler reads the disconnect from `receive`
  as it does anyway.

Only the replica process that calls `install` is affected (each Serve replica is a process
of its own). Serve's proxy keeps uvicorn's defaults: in `ingress = "proxy"` mode it runs every
station's websocket server, so these settings do not apply there; in direct mode the
balancers never route to it (serve_app/balancer.py, `replica_routes`: Serve lists its proxy
for an application with no running replica, and a keepalive test once got the defaults that way).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger("csms.gateway")

CLOSE_ABNORMAL = 1006  # RFC 6455 section 7.4.1: the connection dropped without a close frame
CLOSE_NO_STATUS = 1005
# Put into each connection's ASGI scope, so the gateway can tell its settings are in force.
SCOPE_KEY = "csms.keepalive"


# Serve's direct-ingress replica watches a request's `receive` for a disconnect through a queue
# and a task of its own unless the request carries this (ray.serve._private.constants,
# SERVE_HTTP_REQUEST_DISCONNECT_DISABLED_HEADER; Ray 2.60 replica.py `_direct_ingress_asgi`).
SERVE_DISCONNECT_DISABLED = (b"x-request-disconnect-disabled", b"?1")


class _Inbox:
    """The part of `asyncio.Queue` uvicorn's protocol uses (`put_nowait`, `get`, `empty`), for
    one reader: the connection's handler. uvicorn stops reading the socket after each message
    until the handler takes it, so this holds a message and perhaps the disconnect after it."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list = []
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self):
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a websocket's messages have one reader")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _WritePause:
    """The `asyncio.Event` uvicorn's protocol waits on while the transport's buffer is full,
    made only the first time it fills: most station sockets never do."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def set(self) -> None:
        if self._event is not None:
            self._event.set()

    def clear(self) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        self._event.clear()

    def is_set(self) -> bool:
        return self._event is None or self._event.is_set()

    async def wait(self) -> None:
        if self._event is not None:
            await self._event.wait()


class StationWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, noting in the connection's scope the close that ended it,
    and keeping less per idle connection (module docstring).

    The first close that happens wins: a close frame from the peer (unless ours went first),
    ours (the gateway's, or uvicorn's 1011 on a keepalive timeout), else 1006. The note is a
    plain value in the scope (no reference back to this object), read by `close_cause`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _WritePause()  # type: ignore[assignment]

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[SCOPE_KEY] = {
                "ping_interval_s": self.ping_interval, "ping_timeout_s": self.ping_timeout}
            # The app's task is created but has not run yet: Serve reads this when it does.
            scope["headers"].append(SERVE_DISCONNECT_DISABLED)

    async def send(self, message) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # The handshake is answered: nothing reads its request or response again. websockets'
            # parser (a generator, `ServerProtocol.parse`) keeps the request as a local for the
            # connection's life, so its headers are emptied, not only let go.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def _note_close(self) -> None:
        note = (getattr(self, "scope", None) or {}).get("extensions", {}).get(SCOPE_KEY)
        if note is None or "close_code" in note or not self.handshake_complete:
            return
        received, sent = self.conn.close_rcvd, self.conn.close_sent
        if received is not None and (sent is None or self.conn.close_rcvd_then_sent):
            note["close_code"], note["close_reason"] = received.code, received.reason
        elif sent is not None:
            note["close_code"], note["close_reason"] = sent.code, sent.reason
        else:
            note["close_code"], note["close_reason"] = CLOSE_ABNORMAL, ""

    def handle_close(self, event) -> None:
        super().handle_close(event)
        self._note_close()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._note_close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._note_close()  # before uvicorn marks the handshake complete for refused ones too
        super().connection_lost(exc)

    async def receive(self):
        message = await super().receive()
        if message["type"] == "websocket.disconnect" and message.get("code") == CLOSE_NO_STATUS \
                and self.conn.close_rcvd is None:
            # No close frame came from the peer, so 1005 is not what happened.
            code, reason = close_cause(self.scope, CLOSE_ABNORMAL)
            message = {"type": "websocket.disconnect", "code": code, "reason": reason}
        return message


def close_cause(scope: dict, fallback_code: int | None) -> tuple[int | None, str]:
    """(code, reason) of the close that ended this connection, as the protocol saw it on the
    wire; `fallback_code` (what the gateway believes) when the protocol noted nothing."""
    note = (scope.get("extensions") or {}).get(SCOPE_KEY) or {}
    if "close_code" in note:
        return note["close_code"], note["close_reason"]
    return fallback_code, ""


def _seconds_or_off(value: float) -> float | None:
    return value if value > 0 else None  # uvicorn: None turns the ping (or its deadline) off


def install(ping_interval_s: float, ping_timeout_s: float) -> None:
    """Make the uvicorn server Serve builds next in this process use these settings."""
    base = getattr(uvicorn.Config, "_csms_base", uvicorn.Config)

    class GatewayServerConfig(base):  # type: ignore[misc, valid-type]
        _csms_base = base

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("ws", StationWebSocketProtocol)
            kwargs.setdefault("ws_ping_interval", _seconds_or_off(ping_interval_s))
            kwargs.setdefault("ws_ping_timeout", _seconds_or_off(ping_timeout_s))
            super().__init__(*args, **kwargs)

    uvicorn.Config = GatewayServerConfig  # type: ignore[misc]


_checked = False


def check_in_force(scope: dict) -> None:
    """Warn once per replica if the server that took this connection was not built by `install`
    (it came through Serve's proxy, or a Serve upgrade builds its server differently):
    keepalive settings would not apply."""
    global _checked
    if _checked:
        return
    _checked = True
    if SCOPE_KEY not in (scope.get("extensions") or {}):
        log.warning("websocket keepalive settings (ws_ping_interval_s, ws_ping_timeout_s) are not in "
                    "force: this connection was not served by the replica's own server as built by "
                    "install (Serve's proxy, or a Serve that builds it differently); uvicorn's defaults apply")
