"""Every CSMS metric, defined once: Prometheus metrics through Ray's metrics export (`ray.util.metrics`).

Ray exports them from each node's metrics agent (`ray start --metrics-export-port`) with a
`ray_` prefix, counters with a `_total` suffix, and Ray's own labels (NodeAddress, WorkerId,
SessionName) added. docs/operations.md lists them; docs/grafana-dashboard.json charts them.

Cost (measured here, Ray 2.60): a Histogram.observe is about 1.2 us and a tagged Counter.inc
about 2.6 us. The per-frame path observes one untagged latency; counts per action and outcome
are summed per batch first and recorded once per distinct key.

A metric object must be created inside the process that records it (Ray workers register
them with their own core worker), so each process makes its own set on first use.
"""

from __future__ import annotations

from collections import Counter as _Tally
from collections.abc import Container, Iterable
from functools import cache

from ray.util import metrics as _ray_metrics

from actors.events import Event

# Seconds. CALL latency targets p99 < 250 ms (DESIGN.md); fsyncs are milliseconds.
LATENCY_BOUNDARIES = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
FSYNC_BOUNDARIES = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0]
COMMAND_BOUNDARIES = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]


class GatewayMetrics:
    """Recorded by each OcppGateway replica."""

    def __init__(self) -> None:
        self.call_latency = _ray_metrics.Histogram(
            "csms_call_latency_seconds",
            description="Gateway: a station frame read from its socket to the host's replies written back.",
            boundaries=LATENCY_BOUNDARIES,
        )
        self.sockets = _ray_metrics.Gauge(
            "csms_gateway_sockets", description="Station websockets this gateway replica holds.",
        )
        self.handshakes = _ray_metrics.Counter(
            "csms_gateway_handshakes",
            description="Station websocket handshakes by result: accepted or why refused "
                        "(actors.host_protocol.HandshakeResult, a bounded set).",
            tag_keys=("result",),
        )
        self.knocks_dropped = _ray_metrics.Counter(
            "csms_gateway_knocks_dropped",
            description="Refused handshakes counted but not recorded for their station id "
                        "(a per-source or per-host bound of serve_app/knocks.py was reached).",
        )
        self.closes = _ray_metrics.Counter(
            "csms_gateway_closes", description="Station sockets closed, by close code.", tag_keys=("code",),
        )


class HostMetrics:
    """Recorded by each StationHost (tagged with its name, so per-host panels need no join)."""

    def __init__(self, host: str) -> None:
        tags = {"host": host}
        self.calls = _ray_metrics.Counter(
            "csms_calls",
            description="Station CALLs answered, by action and outcome (CALLRESULT or the CALLERROR code).",
            tag_keys=("host", "action", "outcome"),
        )
        self.calls.set_default_tags(tags)
        self.commands = _ray_metrics.Counter(
            "csms_commands",
            description="Operator commands (CSMS-initiated CALLs) by action and outcome "
                        "(answered, call_error, timeout, not_connected, busy, ...).",
            tag_keys=("host", "action", "outcome"),
        )
        self.commands.set_default_tags(tags)
        # Tagged by critical only ("true"/"false"): the type is station-sent text, unbounded.
        self.security_events = _ray_metrics.Counter(
            "csms_security_events",
            description="SecurityEventNotifications received (both versions), by whether the specs call "
                        "the event critical (actors/security_events.py).",
            tag_keys=("host", "critical"),
        )
        self.security_events.set_default_tags(tags)
        self.command_latency = _ray_metrics.Histogram(
            "csms_command_latency_seconds", description="Operator command: submitted to outcome.",
            boundaries=COMMAND_BOUNDARIES, tag_keys=("host",),
        )
        self.command_latency.set_default_tags(tags)
        self.append_latency = _ray_metrics.Histogram(
            "csms_event_log_append_seconds",
            description="Encoding and buffering one gateway batch of events into the write-ahead log.",
            boundaries=FSYNC_BOUNDARIES, tag_keys=("host",),
        )
        self.append_latency.set_default_tags(tags)
        self.commit_latency = _ray_metrics.Histogram(
            "csms_event_log_commit_seconds",
            description="A batch waiting until its events are durable (group commit, including the fsync).",
            boundaries=FSYNC_BOUNDARIES, tag_keys=("host",),
        )
        self.commit_latency.set_default_tags(tags)
        self.fsync_latency = _ray_metrics.Histogram(
            "csms_event_log_fsync_seconds", description="One fsync of the write-ahead log.",
            boundaries=FSYNC_BOUNDARIES, tag_keys=("host",),
        )
        self.fsync_latency.set_default_tags(tags)
        self.events_appended = _ray_metrics.Counter(
            "csms_event_log_events", description="Events appended to the write-ahead log.", tag_keys=("host",),
        )
        self.events_appended.set_default_tags(tags)
        self.backlog = _ray_metrics.Gauge(
            "csms_event_log_backlog_events",
            description="Events appended but not yet fsync'd (sampled).", tag_keys=("host",),
        )
        self.backlog.set_default_tags(tags)
        self.unlanded_segments = _ray_metrics.Gauge(
            "csms_event_log_unlanded_segments",
            description="Sealed log segments not yet landed in the Parquet lake.", tag_keys=("host",),
        )
        self.unlanded_segments.set_default_tags(tags)
        self.stations = _ray_metrics.Gauge(
            "csms_host_stations", description="Registered stations hosted.", tag_keys=("host",),
        )
        self.stations.set_default_tags(tags)
        self.connected = _ray_metrics.Gauge(
            "csms_stations_connected", description="Stations with an open connection.", tag_keys=("host",),
        )
        self.connected.set_default_tags(tags)

    def record_calls(self, tally: CallTally) -> None:
        """One Counter.inc per (action, outcome) seen in a batch, not one per frame."""
        for (action, outcome), count in tally.items():
            self.calls.inc(count, tags={"action": action, "outcome": outcome})


class CallTally(_Tally):
    """Station CALLs answered in one batch, by (action, outcome)."""

    def add(self, events: Iterable[Event], known_actions: Container[str] | None = None) -> None:
        """`known_actions` (the host passes the action names of our versions): station-sent
        names are unbounded (and may hold any character), so every other name counts as
        "unknown" and a tag never grows without bound nor fails to encode (issue 16, item 1).
        None keeps every name but the empty one."""
        for event in events:
            if event.direction != "out":
                continue
            if known_actions is None:
                action = event.action or "unknown"
            else:
                action = event.action if event.action in known_actions else "unknown"
            if event.message_type == "CALLRESULT":
                self[(action, "CALLRESULT")] += 1
            elif event.message_type == "CALLERROR":
                self[(action, _error_code(event.payload))] += 1


def _error_code(payload: str) -> str:
    # A CALLERROR event's payload is [code, description, details] (actors/events.py).
    import msgspec

    try:
        code = msgspec.json.decode(payload)[0]
    except (msgspec.DecodeError, IndexError, TypeError):
        return "unknown"
    return code if isinstance(code, str) else "unknown"


@cache
def gateway_metrics() -> GatewayMetrics:
    return GatewayMetrics()


@cache
def host_metrics(host: str) -> HostMetrics:
    return HostMetrics(host)
