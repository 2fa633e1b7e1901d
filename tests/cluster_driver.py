"""A Ray driver run as a subprocess by tests/test_multinode.py: one pytest process may hold
only one Ray connection (the session's in-process Ray), so questions to the test's own
`ray start` cluster go through here. Usage: python -m tests.cluster_driver ADDRESS COMMAND
[ARG]; prints one JSON line."""

from __future__ import annotations

import json
import sys
import time


def _replicas() -> dict:
    """Running ingress replicas per app: actor name -> {node_id, port}."""
    import ray
    from ray.serve._private.common import RequestProtocol
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    details = ray.get(controller.get_serve_instance_details.remote(), timeout=30)
    nodes = {}
    for app in details.get("applications", {}).values():
        for deployment in app.get("deployments", {}).values():
            for replica in deployment.get("replicas", []):
                if replica.get("node_id") and replica.get("actor_name"):
                    nodes[replica["actor_name"]] = replica["node_id"]
    out: dict[str, dict] = {}
    for app_name in ("ocpp", "api"):
        groups = ray.get(controller.get_target_groups.remote(app_name), timeout=30)
        out[app_name] = {
            t.name: {"node_id": nodes.get(t.name), "port": t.port}
            for g in groups if g.protocol == RequestProtocol.HTTP for t in g.targets if t.name in nodes
        }
    return out


def _hosts(count: int) -> dict:
    import ray

    from actors import directory

    hosts = {}
    for name in directory.host_names(count):
        hosts[name] = ray.get(directory.get_actor(name).stats.remote(), timeout=60)["node_id"]
    return hosts


def _flush(count: int) -> dict:
    import ray

    from actors import directory

    return {name: ray.get(directory.get_actor(name).flush.remote(), timeout=120)
            for name in directory.host_names(count)}


def _nodes() -> list[dict]:
    import ray

    return [{"node_id": n["NodeID"], "alive": n["Alive"], "node_manager_port": n["NodeManagerPort"]}
            for n in ray.nodes()]


def main(argv: list[str]) -> int:
    import ray

    address, command, *rest = argv
    ray.init(address=address, namespace="csms", logging_level="ERROR", log_to_driver=False)
    started = time.monotonic()
    if command == "replicas":
        result = _replicas()
    elif command == "hosts":
        result = _hosts(int(rest[0]))
    elif command == "flush":
        result = _flush(int(rest[0]))
    elif command == "nodes":
        result = _nodes()
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps({"result": result, "took_s": round(time.monotonic() - started, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
