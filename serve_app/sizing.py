"""Sizing the ingress for `station_capacity`: balancers and gateway replicas, by open-file limit.

Every station costs file descriptors: two sockets in the balancer that splices it (client and
upstream) and one in the gateway replica holding it. A process's open-file limit therefore caps
what one balancer (about half the limit) or one replica (about the limit) can hold, and past it
new stations fail at accept time with nothing but EMFILE in a log. So at start the soft limit is
raised to the hard limit (`raise_open_file_limit`), and `balancers = 0` / `gateway_replicas = 0`
(the defaults) become as many as that limit needs for `station_capacity`; an explicit count that
is too small is kept, with a warning naming the setting (`size_ingress` is pure, for tests).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger("csms")

# Descriptors a process needs besides station sockets: Ray's own connections, log files,
# one link per StationHost, the listening sockets.
RESERVED_FILES = 1024
# When the hard limit is unlimited, the kernel still caps a process at fs.nr_open.
_NR_OPEN = "/proc/sys/fs/nr_open"


@dataclass(frozen=True)
class IngressSizing:
    balancers: int
    gateway_replicas: int
    warnings: tuple[str, ...] = ()


def stations_per_balancer(open_files: int) -> int:
    return max(0, open_files - RESERVED_FILES) // 2


def stations_per_replica(open_files: int, max_stations_per_gateway: int) -> int:
    return min(max_stations_per_gateway, max(0, open_files - RESERVED_FILES))


def size_ingress(*, station_capacity: int, balancers: int, gateway_replicas: int,
                 max_stations_per_gateway: int, open_files: int, direct_ingress: bool) -> IngressSizing:
    """Counts that hold `station_capacity` stations with `open_files` descriptors per process;
    0 means "size it". Explicit counts are kept; if they are too small, a warning says so."""
    warnings: list[str] = []
    per_replica = stations_per_replica(open_files, max_stations_per_gateway)
    needed_replicas = max(1, math.ceil(station_capacity / per_replica)) if per_replica else 1
    if not gateway_replicas:
        gateway_replicas = needed_replicas
    elif gateway_replicas < needed_replicas:
        warnings.append(
            f"gateway_replicas = {gateway_replicas} holds about {gateway_replicas * per_replica:,} stations "
            f"(open-file limit {open_files:,}, max_stations_per_gateway {max_stations_per_gateway:,}), below "
            f"station_capacity = {station_capacity:,}: set gateway_replicas = {needed_replicas} (or 0 to size "
            f"it), or raise the open-file limit (ulimit -n) before Ray starts")
    if not direct_ingress:
        return IngressSizing(0, gateway_replicas, tuple(warnings))
    per_balancer = stations_per_balancer(open_files)
    needed_balancers = max(1, math.ceil(station_capacity / per_balancer)) if per_balancer else 1
    if not balancers:
        balancers = needed_balancers
    elif balancers < needed_balancers:
        warnings.append(
            f"balancers = {balancers} holds about {balancers * per_balancer:,} stations (two sockets each, "
            f"open-file limit {open_files:,}), below station_capacity = {station_capacity:,}: set "
            f"balancers = {needed_balancers} (or 0 to size it), or raise the open-file limit (ulimit -n) "
            "before Ray starts")
    if per_balancer == 0 or per_replica == 0:
        warnings.append(f"the open-file limit ({open_files:,}) leaves no room for stations: raise ulimit -n")
    return IngressSizing(balancers, gateway_replicas, tuple(warnings))


def open_file_limit() -> int:
    """This process's soft open-file limit (what it can open now)."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit (children inherit it: call
    before Ray starts its processes); the soft limit in force afterwards."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open(_NR_OPEN) as f:
                wanted = int(f.read())
        except (OSError, ValueError):
            wanted = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, wanted)
    return soft
