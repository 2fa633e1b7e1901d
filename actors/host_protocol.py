"""Messages between a gateway replica and a StationHost: typed, batched, one Ray call per batch."""

from __future__ import annotations

from typing import Literal

import msgspec


class Connect(msgspec.Struct, frozen=True, tag="connect"):
    station_id: str
    connection_id: str
    connected_at_us: int
    # None: the gateway authenticated the station by a verified client certificate naming it
    # (security profile 3), so there is no password to check.
    password: bytes | None
    # Where the station connects from and what it offered: kept for unknown station ids.
    source_address: str | None = None
    subprotocols: tuple[str, ...] = ()
    # The OCPP version the negotiated subprotocol selected (a key of actors.protocols.PROTOCOLS).
    ocpp_version: str = "1.6"
    # The security profile the handshake proved (actors/security_profiles.py): the transport
    # and the credential the gateway saw. 1 unless the gateway says more.
    security_profile: int = 1


class Frame(msgspec.Struct, frozen=True, tag="frame"):
    station_id: str
    connection_id: str
    connected_at_us: int
    text: str
    received_at_us: int


class Disconnect(msgspec.Struct, frozen=True, tag="disconnect"):
    station_id: str
    connection_id: str
    close_code: int | None
    # The close frame's reason, e.g. "keepalive ping timeout" with 1011 (serve_app/keepalive.py).
    close_reason: str = ""


class Reattach(msgspec.Struct, frozen=True, tag="reattach"):
    """A socket that stayed open while its host restarted: it is still the station's."""

    station_id: str
    connection_id: str
    connected_at_us: int


HostRequest = Connect | Frame | Disconnect | Reattach

# What the host decides of a Connect. "backoff": refused (429) before the password is checked,
# because recent failures for this station or from this source make it wait (actors/guessing.py).
ConnectStatus = Literal["accepted", "unknown_station", "bad_credentials", "profile_too_low", "backoff"]

# Every result a station handshake can have: the `result` tag of csms_gateway_handshakes_total,
# a bounded set (docs/operations.md section 8), never anything the station sent.
HandshakeResult = Literal[
    "accepted",
    # refused by the gateway before any host is asked (serve_app/gateway.py)
    "draining", "invalid_id", "no_subprotocol", "flood_lockout", "no_credentials", "no_certificate",
    "wrong_certificate",
    # decided by the station's host (or, for "backoff", the gateway's copy of its verdict)
    "unknown_station", "bad_credentials", "profile_too_low", "backoff",
    "host_unavailable",
]


class Knock(msgspec.Struct, frozen=True, array_like=True):
    """Handshakes of one station id the gateway refused before asking its host, folded into one
    record (serve_app/knocks.py): not durable, sent in batches, never on a connect's path."""

    station_id: str
    # The last refusal's result (a HandshakeResult the gateway decides).
    result: str
    # When the last one was refused (us since the epoch), and from where.
    at_us: int
    source_address: str | None
    subprotocols: tuple[str, ...]
    # Refusals folded into this knock (1 or more).
    count: int = 1


class HostReply(msgspec.Struct, frozen=True):
    replies: list[str] = []
    close_code: int | None = None
    # For Connect only.
    connect_status: ConnectStatus | None = None
    # For Frame only: not handled yet (its id tag awaits an external authorization decision);
    # the reply comes later as an OutboundFrame with `reply` (outbound poll or batch answer),
    # within the authorizer's deadline.
    deferred: bool = False
    # For Connect "backoff": seconds until this station may try again from this source.
    retry_after_s: float = 0.0


class BatchReply(msgspec.Struct, frozen=True):
    # Changes whenever Ray recreates the host: the gateway then re-attaches its open sockets.
    incarnation: str
    replies: list[HostReply]
    # What waited for the replica's outbound poll, taken along (under load the replica calls
    # far more often than its poll returns: a late reply then costs no Ray call of its own).
    outbound: list[OutboundFrame] = []


class OutboundFrame(msgspec.Struct, frozen=True, array_like=True):
    """A CALL for the gateway replica holding the station's socket to send, or (with
    `close_code`) an order to close that socket, e.g. when a newer connection replaced it,
    or (with `reply`) the late reply to the frame received at `received_at_us` that the host
    answered "deferred"."""

    station_id: str
    connection_id: str
    text: str
    close_code: int | None = None
    reply: HostReply | None = None
    received_at_us: int = 0


class OutboundBatch(msgspec.Struct, frozen=True, array_like=True):
    # The host's incarnation: a replica that sees it change re-attaches its sockets there,
    # even if none of its stations sent anything since the restart.
    incarnation: str
    frames: list[OutboundFrame]


def replica_of(connection_id: str) -> str:
    """Connection ids are `<gateway replica>-<n>`: the replica that holds the socket."""
    return connection_id.rsplit("-", 1)[0]


_encoder = msgspec.msgpack.Encoder()
_outbound_decoder = msgspec.msgpack.Decoder(OutboundBatch)
_request_decoder = msgspec.msgpack.Decoder(list[HostRequest])
_reply_decoder = msgspec.msgpack.Decoder(BatchReply)
_knocks_decoder = msgspec.msgpack.Decoder(list[Knock])


# Batches cross Ray as msgpack bytes: one buffer instead of pickling thousands of objects.
def encode_requests(batch: list[HostRequest]) -> bytes:
    return _encoder.encode(batch)


def decode_requests(data: bytes) -> list[HostRequest]:
    return _request_decoder.decode(data)


def encode_replies(reply: BatchReply) -> bytes:
    return _encoder.encode(reply)


def decode_replies(data: bytes) -> BatchReply:
    return _reply_decoder.decode(data)


def encode_outbound(batch: OutboundBatch) -> bytes:
    return _encoder.encode(batch)


def decode_outbound(data: bytes) -> OutboundBatch:
    return _outbound_decoder.decode(data)


def encode_knocks(knocks: list[Knock]) -> bytes:
    return _encoder.encode(knocks)


def decode_knocks(data: bytes) -> list[Knock]:
    return _knocks_decoder.decode(data)
