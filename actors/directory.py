"""Where a station lives: rendezvous hashing of station ids over StationHost names, and handles to them.

Any gateway replica or API call finds a station's host from the id alone, with no central
directory on the hot path (DESIGN.md, the actor model). Rendezvous hashing moves only the
stations of an added or removed host.
"""

from __future__ import annotations

import hashlib

NAMESPACE = "csms"
HOST_PREFIX = "station-host-"
ID_TAG_REGISTRY = "id-tag-registry"


def host_names(count: int) -> list[str]:
    return [f"{HOST_PREFIX}{k}" for k in range(count)]


def _weight(station_id: str, host: str) -> int:
    digest = hashlib.blake2b(f"{host}\x00{station_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def host_for(station_id: str, hosts: list[str]) -> str:
    return max(hosts, key=lambda host: _weight(station_id, host))


def get_actor(name: str):
    import ray

    return ray.get_actor(name, namespace=NAMESPACE)
