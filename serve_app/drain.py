"""RolloutWatch: tells a direct-ingress gateway replica that Serve has begun to stop it.

Serve gives a stopping replica no callback before its sockets are cut: it first waits for
ongoing requests (a websocket is one for its whole life) up to its shutdown budget, then
uvicorn closes what is left with 1012 or the controller kills the process (1006), and only
then runs `__del__`. Stations would wait out their timeouts instead of reconnecting.

What Serve does do at once is take the replica out of the application's target groups (so
load balancers stop sending it connections; our StationBalancer reads the same list) and
mark it STOPPING. A replica that was listed, no longer is, and is STOPPING (or unknown: the
application was deleted) is being stopped: rollout, scale-in, or shutdown. Seeing that, the gateway closes its sockets with 1001 (going away) and stations
reconnect through the balancer to a replica that stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("csms.drain")


async def _listed_replicas(app_name: str, timeout_s: float) -> set[str]:
    import ray
    from ray.serve._private.common import RequestProtocol
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    groups = await asyncio.wait_for(controller.get_target_groups.remote(app_name), timeout_s)
    return {t.name for g in groups if g.protocol == RequestProtocol.HTTP for t in g.targets}


async def _being_stopped(replica_actor_name: str, timeout_s: float) -> bool:
    """The positive check behind an absence from the list: Serve marks the replica STOPPING, or
    no longer knows it (application deleted). A replica that is only unlisted for a moment
    (controller recovering) must not drop every station it holds."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    details = await asyncio.wait_for(controller.get_serve_instance_details.remote(), timeout_s)
    for app in details.get("applications", {}).values():
        for deployment in app.get("deployments", {}).values():
            for replica in deployment.get("replicas", []):
                if replica.get("actor_name") == replica_actor_name:
                    state = str(replica.get("state", "")).split(".")[-1].upper()
                    return state in {"STOPPING", "STOPPED", "PENDING_MIGRATION"}
    return True


class RolloutWatch:
    def __init__(self, app_name: str, replica_actor_name: str, on_drain: Callable[[], None],
                 poll_s: float = 1.0, timeout_s: float = 10.0) -> None:
        self.app_name = app_name
        self.replica_actor_name = replica_actor_name
        self.on_drain = on_drain
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    async def run(self) -> None:
        listed = False
        while True:
            try:
                names = await _listed_replicas(self.app_name, self.timeout_s)
                stopping = (listed and self.replica_actor_name not in names
                            and await _being_stopped(self.replica_actor_name, self.timeout_s))
            except Exception:  # controller restarting: no news is not a stop signal
                log.warning("could not read Serve's replicas", exc_info=True)
                await asyncio.sleep(self.poll_s)
                continue
            if self.replica_actor_name in names:
                listed = True
            elif stopping:
                log.info("replica no longer listed by Serve; draining", extra={"replica": self.replica_actor_name})
                self.on_drain()
                return
            await asyncio.sleep(self.poll_s)
