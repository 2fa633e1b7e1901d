"""Bounds on an HTTP request head before the balancer routes it: size, header count, slow senders.

The balancer reads each new connection's request head (request line and headers, RFC 9112
section 2.1) before it picks a replica, and a client decides how long that takes and how big
it gets. Unbounded, one client holds thousands of sockets by trickling bytes (slowloris), and
a head the replica cannot parse is never answered at all: websockets' parser in the gateway
replicas fails a line over 8,192 bytes or more than 128 headers without writing a response
(measured: 9 to 64 KB headers got no answer for 60 s). So the balancer refuses such heads
itself, with the status RFC 6585 gives them (431 too large, 429 too many at once) or RFC
9110's 408 for a head that did not arrive in time, and forwards only heads a replica answers.

Pure: `head_refusal` judges bytes, `SlowHandshakes` counts; the balancer does the I/O.
"""

from __future__ import annotations

from collections import Counter

TOO_LARGE = b"431 Request Header Fields Too Large"
TIMED_OUT = b"408 Request Timeout"
TOO_MANY = b"429 Too Many Requests"

# Below websockets' MAX_NUM_HEADERS (128) in the replicas; an OCPP upgrade sends about ten.
MAX_HEADER_LINES = 100


def head_refusal(buffered: bytes | bytearray, max_head_bytes: int) -> bytes | None:
    """The status to refuse with, or None while the head (complete or not) is acceptable.

    `buffered` is everything the client sent so far; the head ends at the first blank line
    and anything after it (a body, websocket frames) is not the head's. Judged both while the
    head is incomplete and once it is complete, so one large write is refused like many small ones.
    """
    end = buffered.find(b"\r\n\r\n")
    size = len(buffered) if end < 0 else end + 4
    if size > max_head_bytes:
        return TOO_LARGE
    if buffered.count(b"\n", 0, size) > MAX_HEADER_LINES + 2:  # + request line and blank line
        return TOO_LARGE
    return None


class SlowHandshakes:
    """Per source address, the connections whose head is still incomplete after a grace period.

    A real client sends its head right after connecting, so only slow ones count: a reconnect
    storm of thousands of stations behind one address (a carrier's NAT, a load test on
    loopback) is not refused for arriving together, while one address trickling heads cannot
    hold more than `limit` sockets of a balancer, each for at most the head deadline.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slow: Counter[str] = Counter()

    def admits(self, address: str) -> bool:
        """May a new connection from `address` start its handshake?"""
        return self.limit <= 0 or self._slow[address] < self.limit

    def became_slow(self, address: str) -> None:
        self._slow[address] += 1

    def finished(self, address: str) -> None:
        """A slow head completed, timed out or its connection closed."""
        self._slow[address] -= 1
        if self._slow[address] <= 0:
            del self._slow[address]

    def count(self, address: str) -> int:
        return self._slow[address]
