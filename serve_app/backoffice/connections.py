"""Where a browser's connection came from (its address, TLS or not), as the balancer vouched for it.

The StationBalancer reads only the first request head of a connection, adds the client's
address and scheme to it (serve_app/tls.py, next to the ingress secret) and then splices
bytes: later requests on a kept-alive connection reach the replica without those headers,
from the balancer's own address. So the replica remembers, per upstream connection (the
balancer's socket, `scope["client"]`, unique while it is open), what its first request was
vouched for. A new connection that reuses a closed one's port carries fresh headers on its
first request, which replace the old entry: an entry is never read for the wrong client.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import msgspec

from serve_app.tls import forwarded_address, forwarded_scheme

# Upstream connections remembered (the least recently used are forgotten first).
MAX_CONNECTIONS = 10_000


class ClientOrigin(msgspec.Struct, frozen=True):
    address: str
    # True/False as the balancer saw it; None when nothing vouched for it.
    over_tls: bool | None


class BalancedConnections:
    def __init__(self, secret: str, max_connections: int = MAX_CONNECTIONS) -> None:
        self._secret = secret
        self._max = max_connections
        self._origins: OrderedDict[tuple[str, int], ClientOrigin] = OrderedDict()

    def origin(self, headers: Mapping[str, str], peer: tuple[str, int] | None) -> ClientOrigin:
        """The client behind a request that came from `peer` with `headers`."""
        forwarded = forwarded_address(headers, self._secret)
        if forwarded is not None:
            scheme = forwarded_scheme(headers, self._secret)
            # "host:port" or "[v6 host]:port" (serve_app/balancer.py): the port changes per connection.
            found = ClientOrigin(address=forwarded.rsplit(":", 1)[0].strip("[]"),
                                 over_tls=None if scheme is None else scheme == "https")
            if peer is not None:
                self._origins[peer] = found
                self._origins.move_to_end(peer)
                while len(self._origins) > self._max:
                    self._origins.popitem(last=False)
            return found
        if peer is not None and (known := self._origins.get(peer)) is not None:
            self._origins.move_to_end(peer)
            return known
        return ClientOrigin(address=peer[0] if peer else "", over_tls=None)
