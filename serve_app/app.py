"""Bring the CSMS up on a running Ray: the id-tag registry, the StationHosts, and the Serve apps."""

from __future__ import annotations

import logging
import os
import secrets

import msgspec
import ray
from ray import serve

from actors import directory
from actors.authorizer.resolver import check_settings as check_authorizer_settings
from actors.config import Config
from actors.id_tags import IdTagRegistry
from actors.station_host import StationHost
from analytics import scheduler as analytics_scheduler
from serve_app.balancer import StationBalancer
from serve_app.gateway import OcppGateway
from serve_app.operator_api import OperatorApi

log = logging.getLogger("csms")



def balancer_names(config: Config) -> list[str]:
    return [f"station-balancer-{k}" for k in range(config.balancers)] if config.ingress == "direct" else []

# Read by Ray's processes when they start: set before ray.init / `ray start` (DESIGN.md).
RAY_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray starts workers at nice 15; next to anything else they starve (measured).
    "RAY_worker_niceness": "0",
}


# Direct ingress with the throughput flag: must be in the environment of the processes Ray
# starts; in a Serve config or runtime_env it gives a half-enabled state (DESIGN.md).
DIRECT_INGRESS_ENVIRONMENT = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
}


def prepare_environment(config: Config) -> None:
    """Call before ray.init: Ray's processes read these flags when they start."""
    wanted = dict(RAY_ENVIRONMENT)
    if config.ingress == "direct":
        wanted.update(DIRECT_INGRESS_ENVIRONMENT)
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        log.warning("could not raise the open-file limit; large station counts need ulimit -n 65536")


def resolve(config: Config) -> Config:
    """Fix what depends on the machine (host count) once, so every replica agrees."""
    return msgspec.structs.replace(config, station_hosts=config.resolved_station_hosts(),
                                   # balancer and gateway share it; nobody else learns it (serve_app/tls.py)
                                   ingress_identity_secret=config.ingress_identity_secret or secrets.token_urlsafe(32))


def start_backend(config: Config) -> None:
    check_authorizer_settings(config)
    names = directory.host_names(config.station_hosts)
    ray.remote(IdTagRegistry).options(
        name=directory.ID_TAG_REGISTRY, namespace=directory.NAMESPACE, lifetime="detached",
        max_restarts=-1, num_cpus=0, get_if_exists=True,
    ).remote(str(config.data_path), names)
    hosts = [
        ray.remote(StationHost).options(
            name=name, namespace=directory.NAMESPACE, lifetime="detached",
            # Ray recreates a dead host; __init__ rebuilds its stations from snapshot + log.
            max_restarts=-1, num_cpus=0, max_concurrency=10_000, get_if_exists=True,
        ).remote(name, config)
        for name in names
    ]
    ray.get([h.ping.remote() for h in hosts], timeout=120)
    if config.scheduler_enabled:
        analytics_scheduler.start(config)  # daily curation, anomaly jobs, monthly fault report


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
    gateway = OcppGateway.options(
        num_replicas=config.gateway_replicas,
        # Every websocket holds one ongoing request for its whole life (default is 5).
        max_ongoing_requests=config.max_stations_per_gateway,
        ray_actor_options={"num_cpus": 0},
    ).bind(config)
    api = OperatorApi.options(
        num_replicas=config.api_replicas, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0}
    ).bind(config)
    serve.run(gateway, name="ocpp", route_prefix="/ocpp")
    serve.run(api, name="api", route_prefix="/")
    if config.ingress == "direct":
        balancers = [
            ray.remote(StationBalancer).options(
                name=name, namespace=directory.NAMESPACE, lifetime="detached",
                max_restarts=-1, num_cpus=0, get_if_exists=True,
            ).remote(config)
            for name in balancer_names(config)
        ]
        ray.get([b.ready.remote() for b in balancers], timeout=60)


def stop(config: Config) -> None:
    """Graceful: stop taking traffic, then make every host fsync and land its log."""
    for name in balancer_names(config):
        try:
            ray.kill(directory.get_actor(name))
        except ValueError:
            pass
    serve.shutdown()
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
    analytics_scheduler.stop()
