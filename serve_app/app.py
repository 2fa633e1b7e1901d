"""Bring the CSMS up on a running Ray: the id-tag registry, the StationHosts, and the Serve apps.

There is one way to wire it, `application(config, part)`, used both by `csms serve` (through
`deploy`) and by `serve deploy serve_config.yaml`, whose import paths `serve_app.app:build_gateway`
and `serve_app.app:build_api` take the Config fields as `args`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Literal

import msgspec
import ray
from ray import serve
from ray.util.placement_group import placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from actors import certificate_store, directory, logs
from actors.authorizer.resolver import check_settings as check_authorizer_settings
from actors.config import Config, load_config
from actors.id_tags import IdTagRegistry
from actors.station_host import StationHost
from analytics import scheduler as analytics_scheduler
from serve_app import sizing
from serve_app.balancer import StationBalancer
from serve_app.gateway import OcppGateway
from serve_app.operator_api import OperatorApi
from serve_app.operator_token import with_ingress_secret, with_operator_token

log = logging.getLogger("csms")



def balancer_names(config: Config) -> list[str]:
    return [f"station-balancer-{k}" for k in range(config.balancers)] if config.ingress == "direct" else []

# Read by Ray's processes when they start: set before ray.init / `ray start` (DESIGN.md).
RAY_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray starts workers at nice 15; next to anything else they starve (measured).
    "RAY_worker_niceness": "0",
    # Ray's PythonGCThread runs gc.collect() in every worker, under object-store pressure up to
    # every 10 s: a stall of that worker's loop (hosts freeze their fleet: actors/gc_freeze.py).
    "RAY_local_gc_min_interval_s": "300",
}


# Direct ingress with the throughput flag: must be in the environment of the processes Ray
# starts; in a Serve config or runtime_env it gives a half-enabled state (DESIGN.md).
DIRECT_INGRESS_ENVIRONMENT = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
}


def prepare_environment(config: Config) -> None:
    """Call before ray.init: Ray's processes read these flags when they start, and inherit
    the open-file limit (raised to the hard limit: serve_app/sizing.py)."""
    wanted = dict(RAY_ENVIRONMENT)
    if config.ingress == "direct":
        wanted.update(DIRECT_INGRESS_ENVIRONMENT)
        # Not a flag the builder checks: an older `ray start` without it only stops slower.
        wanted["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = str(config.replica_drain_period_s)
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    sizing.raise_open_file_limit()


def resolve(config: Config) -> Config:
    """Fix what depends on the machine (host count, working directory, balancers and gateway
    replicas for the open-file limit) once, so every replica agrees, and a host or replica
    restarted on another node finds the same data root."""
    ingress = sizing.size_ingress(
        station_capacity=config.station_capacity, balancers=config.balancers,
        gateway_replicas=config.gateway_replicas, max_stations_per_gateway=config.max_stations_per_gateway,
        open_files=sizing.open_file_limit(), direct_ingress=config.ingress == "direct")
    for warning in ingress.warnings:
        log.warning("CSMS sized below station_capacity: %s", warning)
    config = msgspec.structs.replace(config, station_hosts=config.resolved_station_hosts(),
                                     data_root=str(config.data_path),
                                     balancers=ingress.balancers or config.balancers,
                                     gateway_replicas=ingress.gateway_replicas)
    # Balancers and gateways share it; nobody else learns it (serve_app/tls.py).
    return with_ingress_secret(config)


def start_backend(config: Config) -> None:
    """Create what is not running yet (idempotent: named, detached, get_if_exists)."""
    check_authorizer_settings(config)
    # The station CA, made here once if it is the data root's own: an operator's unreadable or
    # mismatched CA files fail `csms serve` now, not each host and balancer later.
    certificate_store.load_authority(config)
    names = directory.host_names(config.station_hosts)
    slots = _spread("station-hosts", len(names))
    ray.remote(IdTagRegistry).options(
        name=directory.ID_TAG_REGISTRY, namespace=directory.NAMESPACE, lifetime="detached",
        max_restarts=-1, num_cpus=0, get_if_exists=True,
    ).remote(str(config.data_path), names)
    hosts = [
        ray.remote(StationHost).options(
            name=name, namespace=directory.NAMESPACE, lifetime="detached",
            # Ray recreates a dead host (on another node if its node died, see _spread);
            # __init__ rebuilds its stations from snapshot + log on the shared data root.
            max_restarts=-1, num_cpus=0, max_concurrency=10_000, get_if_exists=True,
            scheduling_strategy=slot,
        ).remote(name, config)
        for slot, name in zip(slots, names)
    ]
    ray.get([h.ping.remote() for h in hosts], timeout=120)
    if config.scheduler_enabled:
        analytics_scheduler.start(config)  # daily curation, anomaly jobs, monthly fault report


def start_balancers(config: Config) -> None:
    """The public port (direct ingress). Started once the Serve apps exist: a balancer that
    answers before then would make the CSMS look ready while it is still starting."""
    if config.ingress == "direct":
        names = balancer_names(config)
        balancers = [
            ray.remote(StationBalancer).options(
                name=name, namespace=directory.NAMESPACE, lifetime="detached",
                max_restarts=-1, num_cpus=0, get_if_exists=True,
                # One per node where possible: each node then takes stations on `port`.
                scheduling_strategy=slot,
            ).remote(config)
            for slot, name in zip(_spread("balancers", len(names)), names)
        ]
        ray.get([b.ready.remote() for b in balancers], timeout=60)


def _group_name(kind: str, count: int) -> str:
    return f"csms-{kind}-{count}"


def _spread(kind: str, count: int) -> list[PlacementGroupSchedulingStrategy]:
    """`count` slots spread over the nodes, one per actor of a kind.

    A detached SPREAD placement group of tiny bundles: the GCS puts the bundles on different
    nodes while there are enough, and when a node dies it reschedules that node's bundles on
    the survivors, where Ray then restarts the actors. Neither Ray's "SPREAD" task strategy nor
    soft node affinity spread zero-CPU actors here (measured: most landed on one node), and
    hard node affinity would leave an actor dead with its node.
    """
    name = _group_name(kind, count)
    try:
        group = ray.util.get_placement_group(name)
    except ValueError:
        group = placement_group([{"CPU": 0.001}] * count, strategy="SPREAD", name=name, lifetime="detached")
    ray.get(group.ready(), timeout=120)
    return [PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=k) for k in range(count)]


# Marks every value in serve_config.yaml and cluster.yaml an admin must set.
PLACEHOLDER = "<<CHANGE_ME"

Part = Literal["ocpp", "api"]
# A stopping replica re-checks its open requests this often (Serve's default, 2 s, was most of
# an idle stop once replica_drain_period_s was short; the 1001 closes take well under a second).
_DRAIN_POLL_S = 0.5
ROUTE_PREFIXES: dict[str, str] = {"ocpp": "/ocpp", "api": "/"}


def application(config: Config, part: Part):
    """The Serve application `part` (gateway or operator API), its backend actors created first.

    Replica counts, max_ongoing_requests and resources set here are the defaults; a Serve
    config's `deployments:` entries override them (autoscaling, resources per cluster).
    """
    _check_ingress_flags(config)
    start_backend(config)
    if part == "ocpp":
        return OcppGateway.options(
            num_replicas=config.gateway_replicas,
            # Every websocket holds one ongoing request for its whole life (default is 5).
            max_ongoing_requests=config.max_stations_per_gateway,
            ray_actor_options={"num_cpus": 0},
            graceful_shutdown_wait_loop_s=_DRAIN_POLL_S,
        ).bind(config)
    return OperatorApi.options(
        num_replicas=config.api_replicas, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0},
        graceful_shutdown_wait_loop_s=_DRAIN_POLL_S,
    ).bind(config)


def _check_ingress_flags(config: Config) -> None:
    if config.ingress != "direct":
        return
    missing = [k for k, v in DIRECT_INGRESS_ENVIRONMENT.items() if os.environ.get(k) != v]
    if missing:
        raise RuntimeError(
            f"ingress = \"direct\" needs {', '.join(f'{k}=1' for k in missing)} in the environment of "
            "`ray start` on every node (Ray reads them when its processes start); set them there "
            "or use ingress = \"proxy\""
        )


def config_from_args(args: dict[str, Any] | None) -> Config:
    """A Serve config's `args`: Config fields as in the TOML file, plus `config_file` (a TOML
    file to start from). CSMS_* environment variables still override, so secrets such as
    api_tokens stay out of the YAML; with none, the data root's operator-token is used."""
    logs.configure()  # the builder runs in a Serve task (build_serve_application): JSON lines there too
    values = dict(args or {})
    config = load_config(values.pop("config_file", None), overrides=values)
    unset = [f.name for f in msgspec.structs.fields(Config)
             if isinstance(getattr(config, f.name), str) and PLACEHOLDER in getattr(config, f.name)]
    if unset:
        raise ValueError(f"CSMS config still holds {PLACEHOLDER} placeholders (set them in the serve "
                         f"config's args or as CSMS_* variables of `ray start`): {', '.join(unset)}")
    return with_operator_token(resolve(config))[0]


def build_gateway(args: dict[str, Any] | None = None):
    """import_path `serve_app.app:build_gateway` (route_prefix /ocpp)."""
    return _built(config_from_args(args), "ocpp")


def build_api(args: dict[str, Any] | None = None):
    """import_path `serve_app.app:build_api` (route_prefix /)."""
    return _built(config_from_args(args), "api")


def _built(config: Config, part: Part):
    # Serve deploys what a builder returns after the builder returns, so the balancers start
    # here, before the apps; they find the replicas within a second of their start.
    built = application(config, part)
    start_balancers(config)
    return built


def deploy(config: Config) -> None:
    if config.ingress == "direct":
        # Replicas listen on their own ports and the balancer owns the public port. Serve
        # still starts its Python proxy (proxy_location="Disabled" does not stop it in
        # throughput mode), so it gets the next port; nothing is routed through it.
        serve.start(http_options={"host": config.host, "port": config.serve_proxy_port or config.port + 1})
    elif config.tls_enabled():
        # Serve's proxy terminates TLS itself, but cannot forward client certificates (docs/security.md).
        serve.start(http_options={"host": config.host, "port": config.port,
                                  "ssl_certfile": config.tls_cert_file, "ssl_keyfile": config.tls_key_file})
    else:
        serve.start(http_options={"host": config.host, "port": config.port})
    for part, route_prefix in ROUTE_PREFIXES.items():
        serve.run(application(config, part), name=part, route_prefix=route_prefix)
    start_balancers(config)
    wait_for_routes(config)
    # Where this node's actors and replicas write their lines (docs/operations.md section 9):
    # /tmp/ray/session_latest is whichever Ray on the machine started last, not necessarily ours.
    log.info("Ray logs of this node", extra={"logs_dir": ray._private.worker._global_node.get_logs_dir_path()})


def wait_for_routes(config: Config, timeout_s: float = 60.0) -> None:
    """Until every balancer routes both applications to their replicas (they re-read Serve's
    target groups every second), so `ready` means a station can connect now."""
    if config.ingress != "direct":
        return
    deadline = time.monotonic() + timeout_s
    for name in balancer_names(config):
        balancer = directory.get_actor(name)
        while True:
            targets = ray.get(balancer.targets.remote(), timeout=10)
            if all(targets.get(prefix) for prefix in ROUTE_PREFIXES.values()):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} does not route to the Serve applications: {targets}")
            time.sleep(0.2)


# How long the balancers may take to hand the gateways' last frames (their 1001 closes) to the
# stations before they end anyway; and the bound on a call to them beyond that.
BALANCER_DRAIN_S = 5.0
BALANCER_CALL_TIMEOUT_S = 10.0


def _running(names: list[str]) -> list:
    """Handles of the named actors that exist now."""
    actors = []
    for name in names:
        try:
            actors.append(directory.get_actor(name))
        except ValueError:  # not running (never started, or killed)
            pass
    return actors


def _ask_balancers(balancers: list, method: str, *args: Any, timeout_s: float) -> list[int]:
    """`method(*args)` on every balancer at once, all within `timeout_s`; one that fails or does
    not answer in time counts 0 (a stop goes on without it)."""
    refs = [getattr(balancer, method).remote(*args) for balancer in balancers]
    deadline = time.monotonic() + timeout_s
    results = []
    for ref in refs:
        try:
            results.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
        except Exception:
            log.warning("stopping: a balancer did not answer %s", method, exc_info=True)
            results.append(0)
    return results


def stop(config: Config) -> None:
    """Graceful, in this order: take no new connection; let the gateways close every station's
    socket with 1001 Going Away (RFC 6455 section 7.4.1: stations reconnect at once, to the next
    CSMS) while the balancers still splice them; then end the balancers; then make every host
    fsync and land its log. Killing the balancers first cut the TCP connections under the
    gateways' close frames, and stations saw an abnormal drop (1006)."""
    started = time.monotonic()

    def elapsed() -> dict[str, float]:
        return {"elapsed_s": round(time.monotonic() - started, 2)}

    balancers = _running(balancer_names(config))
    _ask_balancers(balancers, "stop_listening", timeout_s=BALANCER_CALL_TIMEOUT_S)
    log.info("stopping: balancers take no new connections", extra=elapsed())
    # Serve takes the replicas out of its routing table at once; each gateway notices within a
    # second and closes its sockets with 1001 (serve_app/drain.py), then Serve ends it.
    serve.shutdown()
    log.info("stopping: Serve is down", extra=elapsed())
    left = _ask_balancers(balancers, "wait_until_drained", BALANCER_DRAIN_S,
                     timeout_s=BALANCER_DRAIN_S + BALANCER_CALL_TIMEOUT_S)
    for balancer in balancers:
        try:
            ray.kill(balancer)
        except Exception:  # already gone
            pass
    log.info("stopping: balancers stopped", extra={**elapsed(), "connections_cut": sum(left)})
    for name in directory.host_names(config.station_hosts):
        try:
            host = directory.get_actor(name)
            ray.get(host.shutdown.remote(), timeout=60)
            ray.kill(host)
        except Exception:
            log.exception("host %s did not shut down cleanly; its log is replayed on next start", name)
    try:
        ray.kill(directory.get_actor(directory.ID_TAG_REGISTRY))
    except ValueError:
        pass
    log.info("stopping: hosts flushed and landed", extra=elapsed())
    analytics_scheduler.stop()
    # The next start spreads hosts and balancers over the nodes alive then.
    for kind, count in (("station-hosts", config.station_hosts), ("balancers", len(balancer_names(config)))):
        try:
            ray.util.remove_placement_group(ray.util.get_placement_group(_group_name(kind, count)))
        except ValueError:
            pass
