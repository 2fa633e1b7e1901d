"""CSMS configuration: one TOML file plus CSMS_* environment overrides; defaults need neither."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

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
    # The stations this CSMS is sized for (serve_app/sizing.py): with `balancers` or
    # `gateway_replicas` at 0, enough of them start for this many under the open-file limit
    # (raised to the hard limit at start); explicit counts too small for it log a warning.
    station_capacity: Annotated[int, msgspec.Meta(ge=1)] = 20_000
    # Balancer processes sharing `port` (SO_REUSEPORT; the kernel spreads connections).
    # Each holds two sockets per station, so one process caps at half its open-file limit.
    # 0: as many as `station_capacity` needs.
    balancers: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Number of StationHost actors; 0 means one per CPU of the local node. The station ->
    # host mapping depends on the host *names*, so this is fixed for a given data root.
    station_hosts: int = 0
    # 0: as many as `station_capacity` needs (one socket per station each).
    gateway_replicas: Annotated[int, msgspec.Meta(ge=0)] = 0
    api_replicas: int = 1
    # Each websocket is one ongoing request of its replica for its whole life.
    max_stations_per_gateway: int = 50_000
    # Direct ingress: how long a stopping gateway or API replica stays reachable before it
    # closes (Serve's RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S, read when Ray starts).
    # Serve's 30 s default is for an external load balancer's health checks; our balancers
    # follow Serve's replica list every second, so a few seconds do. With a load balancer of
    # your own straight in front of the replica ports, raise it above its deregistration delay.
    replica_drain_period_s: Annotated[float, msgspec.Meta(ge=0)] = 2.0

    heartbeat_interval_s: int = 300
    # BootNotification answer for a station that is registered but not yet approved.
    pending_retry_interval_s: int = 60
    max_frame_bytes: int = 65_536
    # The CSMS side's websocket keepalive (RFC 6455 pings from the gateway replicas, direct
    # ingress; serve_app/keepalive.py): a ping this long after the last pong, and the socket is
    # closed with 1011 "keepalive ping timeout" when its pong is this late; 0 turns either off.
    # Stations ping on their own with OCPP 1.6's WebSocketPingInterval key (docs/operations.md);
    # uvicorn's 20 s / 20 s dropped stations on a briefly starved client or link, hence longer here.
    ws_ping_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    ws_ping_timeout_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # Completed transactions kept per station in live state; older ones are in the lake.
    completed_transactions_kept: int = 200
    # Recent events per station kept in memory for GET /api/stations/{id}/events (about
    # 300 bytes each: 50 x 100,000 stations is 1.5 GB across the hosts); the rest is in the lake.
    recent_events_kept: int = 50

    # Below this much free space on the data root a host's events may not be made durable
    # (a log segment, a snapshot and a landed Parquet file each need room): /api/health says
    # degraded naming it, and registrations are refused (507) rather than half applied.
    disk_free_min_bytes: Annotated[int, msgspec.Meta(ge=0)] = 64 * 1024 * 1024
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

    # --- reports: the monthly fault report e-mail and the analytics scheduler (analytics/) ---
    # SMTP server for the monthly fault report; an empty host means the report is built but
    # not e-mailed. smtp_tls: "ssl" (implicit TLS, usually port 465), "starttls" (usually
    # 587) or "none" (a relay on a trusted network only).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: Literal["none", "starttls", "ssl"] = "starttls"
    # Login name; empty means no AUTH. The password is never a config field (files end up in
    # repos): it is read at send time from the environment variable named here.
    smtp_username: str = ""
    smtp_password_env: str = "CSMS_SMTP_PASSWORD"
    # A CA bundle (PEM) to trust for the SMTP server's certificate besides the system's, for
    # a relay with a certificate from an internal CA; empty means the system store only.
    smtp_ca_file: str = ""
    smtp_sender: str = ""
    report_recipients: list[str] = []
    # Per SMTP operation (connect, each command); a send is retried with backoff this many
    # times in all, and only while the server has not yet accepted the message.
    smtp_timeout_s: float = 30.0
    smtp_attempts: int = 3
    # The scheduler actor (analytics/scheduler.py): runs the daily curation this long after
    # midnight UTC (late frames of the day before have time to land), checks every
    # scheduler_poll_s, and after a restart catches up at most this many missed days.
    scheduler_enabled: bool = True
    scheduler_delay_after_midnight_s: float = 300.0
    scheduler_poll_s: float = 60.0
    scheduler_catch_up_days: int = 35

    # --- External (downstream) authorization: actors/authorizer/ (issue 6) ---------------
    # An HTTP authorizer (roaming hub, eMSP, payment provider) asked about id tags; empty
    # means the local id-tag table alone answers. Its bearer token comes from the
    # environment variable CSMS_AUTHORIZER_TOKEN only, never from this file.
    authorizer_url: str = ""
    # "unknown_only": ask only for tags the local table does not know; "all": ask for every
    # tag (the local table then only answers when the downstream cannot).
    authorizer_mode: Literal["unknown_only", "all"] = "unknown_only"
    # What a tag gets when the downstream cannot answer and no cached answer vouches for it:
    # "free_vending" accepts (the transaction is marked so billing can reconcile),
    # "local_only" refuses it (only local and cached tags pass), "reject" refuses it and
    # ignores cached answers (only the local table and a live downstream answer vouch).
    authorizer_policy: Literal["free_vending", "local_only", "reject"] = "local_only"
    # Total time for one decision, retries included: stations time a CALL out after about
    # 30 s, and a driver at the charger should not wait more than a few seconds.
    authorizer_deadline_s: Annotated[float, msgspec.Meta(gt=0)] = 2.5
    authorizer_attempt_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # First retry delay; it doubles per retry (with jitter) while the deadline allows.
    authorizer_backoff_s: Annotated[float, msgspec.Meta(ge=0)] = 0.1
    # The circuit breaker opens after this many consecutive failed calls, fails fast for
    # the cool-down, then lets one probe through.
    authorizer_breaker_failures: Annotated[int, msgspec.Meta(ge=1)] = 5
    authorizer_breaker_cooldown_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # Downstream answers kept per host, each until its expiry_date or this age, whichever
    # comes first; used when the downstream cannot answer.
    authorizer_cache_size: Annotated[int, msgspec.Meta(ge=0)] = 100_000
    authorizer_cache_max_age_s: Annotated[float, msgspec.Meta(gt=0)] = 86_400.0

    # --- Transport security and hostile input (issue 6, "edges"; docs/security.md) --------
    # Security profile 2: PEM certificate chain and private key. When both are set the
    # balancer serves TLS itself on `port` (wss://, https://; TLS 1.2 at least), and plain
    # ws:// and http:// only on `plain_port`, if that is set (0: nowhere). Direct ingress only.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    plain_port: int = 0
    # Security profile 3: a PEM CA bundle. The balancer then asks every TLS client for a
    # certificate, verifies it against these CAs, and forwards the verified names (subject
    # CN and DNS SANs) to the gateway, which requires them to include the station id.
    tls_client_ca_file: str = ""
    # Every station must present a verified certificate naming it (no Basic-auth-only
    # stations, and none over `plain_port`). Off: certificate stations and Basic-auth stations mix.
    require_client_cert: bool = False
    # A station whose verified certificate names it needs no Basic auth (OCPP 1.6 security
    # whitepaper, profile 3: the certificate is the credential).
    client_cert_replaces_basic_auth: bool = True
    # The fleet's lowest security profile (0-3, OCPP 1.6 security whitepaper section 2): a
    # handshake proving less is refused (403) even for a station registered lower.
    min_security_profile: Annotated[int, msgspec.Meta(ge=0, le=3)] = 0
    # Shared by balancer and gateway only: the gateway trusts a forwarded certificate identity
    # only next to this secret (a replica's own port is reachable without the balancer).
    # Empty: a random one per start (app.resolve). Set it only for a terminator of your own.
    ingress_identity_secret: str = ""
    # Per-station token bucket on inbound frames, kept by the gateway replica holding the
    # socket: `station_rate_per_s` sustained, `station_rate_burst` at once. Over it, a CALL
    # gets a CALLERROR GenericError (transaction messages and answers wait for a token
    # instead); `station_rate_strikes` refused CALLs within a minute close the socket (1008).
    # 0 turns the limit off.
    station_rate_per_s: float = 20.0
    station_rate_burst: int = 100
    station_rate_strikes: int = 100
    # The request head the balancer reads before it routes a connection (serve_app/request_head.py):
    # at most `max_request_head_bytes` (request line and headers; 431 beyond: the replicas'
    # websocket parser drops a header line over 8 KB without answering), complete within
    # `request_head_timeout_s` of the connection (408 after), and per source address at most
    # `slow_handshakes_per_address` connections (per balancer) whose head is still incomplete
    # after `slow_handshake_grace_s`; beyond that new ones from there get 429 (0: no cap).
    max_request_head_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8192
    request_head_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    slow_handshakes_per_address: Annotated[int, msgspec.Meta(ge=0)] = 64
    slow_handshake_grace_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # An unknown station id is answered 404 at the handshake (OCPP-J 1.6 section 3.1.1), which
    # tells anyone probing ids which ones are registered. True answers it like a wrong
    # password (401), for operators who prefer not to reveal registrations.
    hide_registrations: bool = False
    # Unknown station ids that tried to connect, kept per host for GET /api/unknown-stations
    # (station-sent ids are unbounded: the one seen longest ago is forgotten first).
    unknown_stations_kept: Annotated[int, msgspec.Meta(ge=0)] = 1000
    # Refused handshakes and password guessing (docs/security.md, "Refused handshakes").
    # `auth_failures_for_event` failed authentications of one station within
    # `auth_failure_window_s` raise one FailedToAuthenticateAtCsms security event (0: never).
    auth_failures_for_event: Annotated[int, msgspec.Meta(ge=0)] = 5
    auth_failure_window_s: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    # Backoff after failed passwords (actors/guessing.py): after the free failures each next
    # check waits `guess_backoff_base_s`, doubling up to `guess_backoff_cap_s` (429 with
    # Retry-After meanwhile). Free failures per (station, source address); per station from
    # addresses it never authenticated from; per source address across stations. Each table
    # keeps at most `guess_backoff_kept` entries per host. `guess_backoff_base_s = 0` turns it off.
    guess_free_failures: Annotated[int, msgspec.Meta(ge=0)] = 3
    guess_station_free_failures: Annotated[int, msgspec.Meta(ge=0)] = 10
    guess_source_free_failures: Annotated[int, msgspec.Meta(ge=0)] = 20
    guess_backoff_base_s: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    guess_backoff_cap_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    guess_backoff_kept: Annotated[int, msgspec.Meta(ge=1)] = 10_000

    # --- Station certificates: the CSMS certificate authority (docs/security.md, "The CA") ---
    # Who signs the CSRs stations send with SignCertificate: "own" (a CA of the CSMS: the
    # operator's station_ca_cert_file + station_ca_key_file, or one made once in
    # <data_root>/station-ca/, key 0600; the balancer trusts it for client certificates),
    # "external" (station_ca_url, below), "off" (every SignCertificate is Rejected).
    station_ca: Literal["own", "external", "off"] = "own"
    station_ca_cert_file: str = ""
    station_ca_key_file: str = ""
    # The external CA's HTTP hook (actors/external_ca.py); its bearer token comes from the
    # environment variable CSMS_STATION_CA_TOKEN only. One attempt within the timeout, never
    # retried (signing twice is not idempotent). Its root belongs in tls_client_ca_file.
    station_ca_url: str = ""
    station_ca_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # The O (organizationName) every CSR must carry: the CPO name stations hold in CpoName
    # (whitepaper A02.FR.13, A00.FR.404). Empty: O is not checked.
    station_certificate_organization: str = ""
    # How long a certificate our own CA issues is valid (renew before: `csms certificates`).
    station_certificate_validity_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365

    # --- analytics: curation (bronze -> silver) and retention (analytics/curate.py, retention.py) ---
    # A StopTransaction finds its StartTransaction up to this many days before the stop's
    # day; a start older than that makes the stop an orphan in silver.transactions.
    curate_transaction_lookback_days: int = 7
    # silver.connectivity records a heartbeat_gap when a station sent no CALL for longer
    # than this (default: two missed 15-minute heartbeats, well above the 300 s interval).
    curate_heartbeat_gap_s: float = 1800.0
    # Whole day partitions older than this many days are deleted; 0 keeps them forever.
    # Bronze is never deleted before curation has processed it; gold is never deleted.
    bronze_retention_days: int = 0
    silver_retention_days: int = 0

    def tls_enabled(self) -> bool:
        return bool(self.tls_cert_file and self.tls_key_file)

    def __repr__(self) -> str:
        # A Config ends up in tracebacks, assertion messages and actor logs: never its secrets.
        shown = {f: getattr(self, f) for f in self.__struct_fields__}
        shown["api_tokens"] = f"<{len(self.api_tokens)} tokens>"
        shown["ingress_identity_secret"] = "<set>" if self.ingress_identity_secret else ""
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

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
