"""CSMS configuration: one TOML file plus CSMS_* environment overrides; defaults need neither."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec


Role = Literal["viewer", "operator", "admin"]
# viewer reads; operator also sends commands to stations; admin also registers stations
# and manages id tags.
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}


class ApiToken(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    role: Role = "admin"


class Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every tunable of the CSMS. Field names are the TOML keys; `CSMS_<NAME>` overrides them."""

    # Where the write-ahead log, snapshots and the Parquet lake live. On a cluster this
    # must be a filesystem shared by every node (hosts are rebuilt elsewhere from it).
    data_root: str = "./data"
    host: str = "127.0.0.1"
    # The one port stations and operators use (ws://host:port/ocpp/<id>, http://host:port/api).
    port: int = 8000
    # "direct": Serve direct ingress (each replica on its own port, from
    # RAY_SERVE_DIRECT_INGRESS_MIN/MAX_HTTP_PORT) behind our StationBalancer on `port`;
    # about 20x less CPU per frame than "proxy", Serve's Python proxy on `port` (DESIGN.md).
    ingress: Literal["direct", "proxy"] = "direct"
    # Where Serve's own Python proxy listens in "direct" mode (it carries no traffic there but
    # Serve starts it regardless); 0 means port + 1.
    serve_proxy_port: int = 0
    # Balancer processes sharing `port` (SO_REUSEPORT; the kernel spreads connections).
    # Each holds two sockets per station, so one process caps at half its open-file limit.
    balancers: int = 1
    # Number of StationHost actors; 0 means one per CPU of the local node. The station ->
    # host mapping depends on the host *names*, so this is fixed for a given data root.
    station_hosts: int = 0
    gateway_replicas: int = 1
    api_replicas: int = 1
    # Each websocket is one ongoing request of its replica for its whole life.
    max_stations_per_gateway: int = 50_000

    heartbeat_interval_s: int = 300
    # BootNotification answer for a station that is registered but not yet approved.
    pending_retry_interval_s: int = 60
    max_frame_bytes: int = 65_536
    # Completed transactions kept per station in live state; older ones are in the lake.
    completed_transactions_kept: int = 200
    # Recent events per station kept in memory for GET /api/stations/{id}/events (about
    # 300 bytes each: 50 x 100,000 stations is 1.5 GB across the hosts); the rest is in the lake.
    recent_events_kept: int = 50

    # Group commit: a batch of appends shares one fsync.
    wal_segment_max_bytes: int = 16 * 1024 * 1024
    wal_segment_max_age_s: float = 60.0
    # Gateway -> host batching: frames wait at most this long for company.
    host_batch_window_s: float = 0.002
    host_batch_max: int = 512
    # How long the gateway keeps retrying a host that is restarting before it gives up
    # on the frames and closes the station's socket (the station then resends).
    host_retry_deadline_s: float = 30.0
    host_call_timeout_s: float = 10.0
    # Operator commands: how long the API waits for the station's answer (504 after), and
    # how many may queue per station behind the one in flight (429 beyond).
    command_timeout_s: float = 30.0
    command_queue_bound: int = 16

    # Operator API bearer tokens with their roles; a bare string is an admin token. Empty
    # means the API refuses every request except health, so a fresh install is not open by
    # accident (`csms serve` then makes one in <data_root>/operator-token). From the
    # environment, never the repo: CSMS_API_TOKENS='[{"token": "...", "role": "viewer"}]'.
    api_tokens: list[str | ApiToken] = []

    def token_roles(self) -> list[tuple[str, Role]]:
        return [(t, "admin") if isinstance(t, str) else (t.token, t.role) for t in self.api_tokens]

    def resolved_station_hosts(self) -> int:
        return self.station_hosts or max(1, os.cpu_count() or 1)

    @property
    def data_path(self) -> Path:
        return Path(self.data_root).resolve()


_ENV_PREFIX = "CSMS_"


def _is_text(field_type: Any) -> bool:
    """str, or a Literal of strings such as ingress = "direct" | "proxy"."""
    if field_type is str:
        return True
    return get_origin(field_type) is Literal and all(isinstance(v, str) for v in get_args(field_type))


def _coerce_env(name: str, field_type: Any, raw: str) -> Any:
    # Environment values are strings; decode them as JSON where the field is not text,
    # so CSMS_PORT=9000, CSMS_INGRESS=proxy and CSMS_API_TOKENS='["a","b"]' all work.
    if _is_text(field_type):
        return raw
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        # Name the variable, never its value: it may hold tokens.
        raise ValueError(f"invalid CSMS configuration: {_ENV_PREFIX}{name.upper()} is not valid JSON") from None


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                overrides: dict[str, Any] | None = None) -> Config:
    """Read the TOML file at `path` (or $CSMS_CONFIG), then `overrides` (a Serve config's
    `args`), then apply CSMS_* environment overrides."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    path = path or env.get("CSMS_CONFIG")
    if path:
        values.update(msgspec.toml.decode(Path(path).read_bytes()))
    values.update(overrides or {})
    fields = {f.name: f.type for f in msgspec.structs.fields(Config)}
    for name, ftype in fields.items():
        raw = env.get(_ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce_env(name, ftype, raw)
    try:
        return msgspec.convert(values, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid CSMS configuration: {exc}") from None
