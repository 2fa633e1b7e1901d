"""Messages between a gateway replica and a StationHost: typed, batched, one Ray call per batch."""

from __future__ import annotations

from typing import Literal

import msgspec


class Connect(msgspec.Struct, frozen=True, tag="connect"):
    station_id: str
    connection_id: str
    connected_at_us: int
    password: str


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


HostRequest = Connect | Frame | Disconnect

ConnectStatus = Literal["accepted", "unknown_station", "bad_credentials"]


class HostReply(msgspec.Struct, frozen=True):
    replies: list[str] = []
    close_code: int | None = None
    # For Connect only.
    connect_status: ConnectStatus | None = None


_encoder = msgspec.msgpack.Encoder()
_request_decoder = msgspec.msgpack.Decoder(list[HostRequest])
_reply_decoder = msgspec.msgpack.Decoder(list[HostReply])


# Batches cross Ray as msgpack bytes: one buffer instead of pickling thousands of objects.
def encode_requests(batch: list[HostRequest]) -> bytes:
    return _encoder.encode(batch)


def decode_requests(data: bytes) -> list[HostRequest]:
    return _request_decoder.decode(data)


def encode_replies(replies: list[HostReply]) -> bytes:
    return _encoder.encode(replies)


def decode_replies(data: bytes) -> list[HostReply]:
    return _reply_decoder.decode(data)
