"""The wire side of the light fleet client: raw OCPP-J 1.6 frames in RFC 6455 websocket frames, and a latency histogram.

Pure functions and one small Struct, no I/O, so scripts/bench_fleet.py's hot path is string
formatting and byte slicing (no `ocpp` library, no jsonschema, no per-message dicts), and
tests/test_bench_fleet.py checks them without a server.
"""

from __future__ import annotations

import base64
import math
import struct

import msgspec

# --- websocket framing (RFC 6455) ---------------------------------------------------------

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# RFC 6455 section 4.1 asks for a random 16-byte nonce; the server only echoes its hash back,
# so one fixed key (the RFC's own example) costs the server the same and the client nothing.
_WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# Section 5.3: client frames are masked with a 4-byte key. The server XORs whatever key it
# gets, so its cost does not depend on the key; a zero key spares the client the XOR (the
# key's unpredictability guards against cache poisoning by proxies, moot on loopback).
_ZERO_MASK = b"\0\0\0\0"


def handshake_request(host: str, path: str, station_id: str, password: str,
                      subprotocol: str = "ocpp1.6") -> bytes:
    """The HTTP upgrade request of a station (OCPP 1.6 security profile 1: HTTP Basic auth)."""
    basic = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return (
        f"GET {path}{station_id} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {_WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {subprotocol}\r\nAuthorization: Basic {basic}\r\n\r\n"
    ).encode()


def handshake_status(head: bytes) -> int:
    """The HTTP status code of the server's answer to the upgrade (101 = switched); 0 if unreadable."""
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def ws_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final client frame (masked, section 5.2) carrying `payload`."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _ZERO_MASK + payload


def close_frame(code: int = 1000) -> bytes:
    return ws_frame(struct.pack("!H", code), OP_CLOSE)


def parse_ws_frames(buf: bytes) -> tuple[list[tuple[bool, int, bytes]], int]:
    """The complete frames at the start of `buf` as (fin, opcode, payload), and the bytes used.

    Server frames are unmasked (section 5.1); a masked one is unmasked anyway.
    """
    frames: list[tuple[bool, int, bytes]] = []
    pos, end = 0, len(buf)
    while end - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        n, head = b1 & 0x7F, 2
        if n == 126:
            if end - pos < 4:
                break
            n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
        elif n == 127:
            if end - pos < 10:
                break
            n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
        mask = b""
        if b1 & 0x80:
            mask, head = buf[pos + head:pos + head + 4], head + 4
        if end - pos < head + n:
            break
        payload = bytes(buf[pos + head:pos + head + n])
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        frames.append((bool(b0 & 0x80), b0 & 0x0F, payload))
        pos += head + n
    return frames, pos


def close_code(payload: bytes) -> int:
    """The status code of a close frame (section 7.4); 1005 when it carries none."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


# --- OCPP-J 1.6 messages (OCPP-J 1.6 section 4: [MessageTypeId, UniqueId, ...]) ------------

CALL, CALLRESULT, CALLERROR = 2, 3, 4


def call_text(message_id: int | str, action: str, payload_json: str) -> str:
    return f'[2,"{message_id}","{action}",{payload_json}]'


def call(message_id: int, action: str, payload_json: str) -> bytes:
    return ws_frame(call_text(message_id, action, payload_json).encode())


def boot_notification(vendor: str = "FleetVendor", model: str = "FleetModel") -> str:
    return f'{{"chargePointVendor":"{vendor}","chargePointModel":"{model}"}}'


HEARTBEAT = "{}"


def status_notification(connector_id: int, status: str, timestamp: str) -> str:
    return (f'{{"connectorId":{connector_id},"errorCode":"NoError","status":"{status}",'
            f'"timestamp":"{timestamp}"}}')


def start_transaction(connector_id: int, id_tag: str, meter_start_wh: int, timestamp: str) -> str:
    return (f'{{"connectorId":{connector_id},"idTag":"{id_tag}","meterStart":{meter_start_wh},'
            f'"timestamp":"{timestamp}"}}')


def meter_values(connector_id: int, transaction_id: int, timestamp: str, energy_wh: int) -> str:
    """MeterValues with 4 sampled values: the energy register plus power, current and voltage."""
    return (
        f'{{"connectorId":{connector_id},"transactionId":{transaction_id},"meterValue":[{{'
        f'"timestamp":"{timestamp}","sampledValue":['
        f'{{"value":"{energy_wh}","measurand":"Energy.Active.Import.Register","unit":"Wh"}},'
        f'{{"value":"7200","measurand":"Power.Active.Import","unit":"W"}},'
        f'{{"value":"31.3","measurand":"Current.Import","unit":"A","phase":"L1"}},'
        f'{{"value":"230.1","measurand":"Voltage","unit":"V","phase":"L1-N"}}]}}]}}'
    )


def call_result(message_id: str, payload_json: str = "{}") -> bytes:
    return ws_frame(f'[3,"{message_id}",{payload_json}]'.encode())


def call_error(message_id: str, code: str, description: str) -> bytes:
    return ws_frame(f'[4,"{message_id}","{code}","{description}",{{}}]'.encode())


def parse_message(text: bytes) -> tuple[int, str, bytes]:
    """(MessageTypeId, UniqueId, the rest after the id) of an OCPP-J message, by slicing only.

    The rest is the payload and ']' of a CALLRESULT, '"code","description",{...}]' of a
    CALLERROR, '"Action",{...}]' of a CALL. Raises ValueError if it is no OCPP-J array.
    """
    first = text.index(b'"')
    second = text.index(b'"', first + 1)
    kind = int(text[text.index(b"[") + 1:first].strip(b" \t\r\n,"))
    rest = text[second + 1:].lstrip(b" \t\r\n,")
    return kind, text[first + 1:second].decode(), rest


def first_string(rest: bytes) -> str:
    """The first JSON string of `rest`: a CALLERROR's error code, a CALL's action."""
    start = rest.index(b'"')
    return rest[start + 1:rest.index(b'"', start + 1)].decode()


# --- latency histogram ---------------------------------------------------------------------

# Log-linear buckets: 16 per doubling, so a percentile is within about 2.2% of the truth
# (the bucket's geometric middle); the maximum is kept exactly.
_PER_OCTAVE = 16


class Histogram(msgspec.Struct):
    """Latencies in microseconds, bucketed; merges by adding (one per second and action)."""

    counts: dict[int, int] = {}
    n: int = 0
    max_us: int = 0

    def record(self, us: int) -> None:
        b = int(math.log2(us) * _PER_OCTAVE) if us > 1 else 0
        self.counts[b] = self.counts.get(b, 0) + 1
        self.n += 1
        if us > self.max_us:
            self.max_us = us

    def merge(self, other: Histogram) -> None:
        for b, c in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + c
        self.n += other.n
        self.max_us = max(self.max_us, other.max_us)

    def quantile_us(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1): the geometric middle of its bucket, capped at the max."""
        if not self.n:
            return None
        rank = max(1, math.ceil(q * self.n))
        if rank >= self.n:
            return float(self.max_us)
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return min(2 ** ((b + 0.5) / _PER_OCTAVE), float(self.max_us))
        return float(self.max_us)

    def summary_ms(self) -> dict[str, float | int | None]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v / 1000, 2)

        return {"n": self.n, "p50_ms": ms(self.quantile_us(0.5)), "p99_ms": ms(self.quantile_us(0.99)),
                "max_ms": ms(float(self.max_us)) if self.n else None}


def merged(histograms: list[Histogram]) -> Histogram:
    out = Histogram()
    for h in histograms:
        out.merge(h)
    return out


def due_count(elapsed_s: float, members: int, period_s: float) -> int:
    """How many sends of a schedule are due after `elapsed_s`: `members` stations spread evenly
    over `period_s`, send k going to member k % members. One cursor per schedule replaces a
    timer per station."""
    if elapsed_s <= 0 or members <= 0:
        return 0
    return int(elapsed_s * members / period_s)
