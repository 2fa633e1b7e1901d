"""StationHost: a named, detached Ray actor hosting thousands of station sessions (virtual actors).

It owns a write-ahead log and a snapshot under `<data_root>/hosts/<name>/`. Every frame is
processed to completion synchronously (no await between reading and updating a session), so
each station's messages are handled one at a time and in order; the batch's events are then
group-committed and the replies released. In the background the log is rotated, sealed
segments land in the Parquet lake, the state is snapshotted, and covered segments removed.
After a crash Ray restarts the actor and `__init__` rebuilds every session from snapshot + log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from typing import NoReturn

import msgspec

from actors import directory, events as ev, lake, logs, ocppj, protocols, snapshot
from actors.authorizer.decision import AuthorizationDecision
from actors.authorizer.resolver import AuthorizationStatus, Authorizer
from actors.bulk_registration import BulkOutcome, StationRow, registration_for
from actors.certificate_issuer import CertificateIssuer
from actors.certificate_views import ExpiringCertificateView, current_certificate, issued_view
from actors.config import Config
from actors.durable_file import write_atomically
from actors.event_log import EventLog
from actors.gc_freeze import freeze_if_grown, freeze_survivors
from actors.guessing import BackoffRule, GuessingBackoff
from actors.handshake_refusals import HandshakeRefusals, failed_to_authenticate_event, refused_event
from actors.fleet_page import FleetPage, FleetQuery, FleetScan
from actors.events import Event, now_us
from actors.host_protocol import (
    BatchReply,
    Connect,
    Disconnect,
    Frame,
    HostReply,
    OutboundBatch,
    OutboundFrame,
    Reattach,
    decode_knocks,
    decode_requests,
    encode_outbound,
    encode_replies,
    replica_of,
)
from actors.mailbox import CommandOutcome
from actors.metrics import CallTally, host_metrics
from actors.passwords import verify_password
from actors.protocol import Policy
from actors.security_profiles import ProfileRefused, below_required, certificate_first_refusal, still_pending
from actors.settlement import CloseRefusal
from actors.station_session import CLOSE_REPLACED, CLOSE_UNREGISTERED, CommandAnswer, StationSession
from actors.station_state import IdTagRecord, Registration, StationState
from actors.storage import NotStored, describe, write_problem
from actors.unknown_stations import UnknownStation, UnknownStations
from actors.views import (
    StationSummary,
    StationView,
    TransactionFilter,
    TransactionView,
    station_summary,
    station_view,
    transaction_view,
    transaction_views,
)

log = logging.getLogger("csms.station_host")


# A gateway's long poll, woken by an outbound frame, waits this long before answering: a
# process() answer to that replica in the meantime takes the frame along (BatchReply.outbound)
# and saves the poll's Ray call; at low load a command or late reply is this much later.
OUTBOUND_COALESCE_S = 0.005

# Stations per slice of a back-office fleet scan (about 3 us each): frames wait at most ~10 ms.
FLEET_SCAN_CHUNK = 4_000

# States encoded per slice of a snapshot (2 to 4 us each of CPU, several times that in wall
# time on a busy node). A frame's way through the host takes several loop turns (Ray's hand-off,
# the fold, the fsync's completion, the reply), each waiting out one slice: at 1,000 a slice the
# snapshot at each segment rotation showed as 150-460 ms maxima at 20,000 stations; at 100 the
# max fell to ~150 ms and the p99 from 113 to 37 ms (BENCHMARKS.md section 17).
SNAPSHOT_CHUNK = 100


# The action names a metric may carry as a tag (the rest count as "unknown").
_METRIC_ACTIONS = protocols.ACTION_NAMES | {ev.MALFORMED}


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


class StationHost:
    def __init__(self, name: str, config: Config) -> None:
        logs.configure()
        self.name = name
        self.config = config
        self.metrics = host_metrics(name)
        self._appended, self._append_s = 0, 0.0
        self.incarnation = uuid.uuid4().hex
        self.policy = Policy(
            heartbeat_interval_s=config.heartbeat_interval_s,
            pending_retry_interval_s=config.pending_retry_interval_s,
            completed_transactions_kept=config.completed_transactions_kept,
            certificate_signing=config.station_ca != "off",
            certificate_organization=config.station_certificate_organization,
        )
        self._dir = config.data_path / "hosts" / name
        self._dir.mkdir(parents=True, exist_ok=True)
        self._snapshot_path = self._dir / "snapshot.msgpack"
        # Each station's session owns its state, mailbox, recent events and password cache.
        self.sessions: dict[str, StationSession] = {}
        self.id_tags: dict[str, IdTagRecord] = {}
        self._id_tags_version = 0
        # Outbound CALLs and delivered replies wait per gateway replica for its poll.
        self._outbound: dict[str, list[OutboundFrame]] = {}
        # Frames (station, connection, receive time) answered "deferred" whose reply is to be
        # delivered once their authorization decision is there, and the deliveries under way
        # (held here: the loop keeps only weak references to tasks).
        self._awaiting_decision: set[tuple[str, str, int]] = set()
        self._deliveries: set[asyncio.Task] = set()
        self._outbound_ready: dict[str, asyncio.Event] = {}
        # Id tags the local table does not know (or all, by config) asked of an external party.
        self.authorizer = Authorizer(config, name) if config.authorizer_url else None
        # Stations' accepted CSRs are signed (own CA) or sent to the external CA, and the chains
        # delivered with CertificateSigned (security whitepaper A02/A03).
        self.certificates = CertificateIssuer(config) if config.station_ca != "off" else None
        self._certificate_requests: list[tuple[str, str]] = []
        self.unknown_stations = UnknownStations(config.unknown_stations_kept)
        # Refused handshakes of registered stations, and the backoff after failed passwords:
        # here because the password is checked here (actors/guessing.py says why).
        self.refusals = HandshakeRefusals(failures_for_event=config.auth_failures_for_event,
                                          window_s=config.auth_failure_window_s)
        base, cap = config.guess_backoff_base_s, config.guess_backoff_cap_s
        self.guessing = GuessingBackoff(pair=BackoffRule(config.guess_free_failures, base, cap),
                                        station=BackoffRule(config.guess_station_free_failures, base, cap),
                                        source=BackoffRule(config.guess_source_free_failures, base, cap),
                                        capacity=config.guess_backoff_kept)
        started = time.perf_counter()
        self.log = EventLog(self._dir / "wal", config.wal_segment_max_bytes, config.wal_segment_max_age_s,
                            on_fsync=self.metrics.fsync_latency.observe)
        replayed = self._restore()
        # Before the first frame: the restored fleet leaves the collector's reach (a full
        # collection over it is a 0.2 s stall at 20,000 stations; actors/gc_freeze.py).
        frozen_s = freeze_survivors()
        self._background: asyncio.Task | None = None
        self._started: asyncio.Future | None = None
        self._flush_lock: asyncio.Lock | None = None
        log.info(
            "station host ready",
            extra={"host": name, "stations": len(self.sessions), "replayed_events": replayed,
                   "restore_s": round(time.perf_counter() - started, 3), "gc_freeze_s": round(frozen_s, 3)},
        )

    # --- recovery ------------------------------------------------------------------------

    def _restore(self) -> int:
        snapshot_seq = 0
        if self._snapshot_path.exists():
            taken = snapshot.decode(self._snapshot_path.read_bytes())
            snapshot_seq = taken.last_seq
            for state in taken.stations:
                self.sessions[state.station_id] = self._new_session(state.station_id, state)
        replayed = 0
        for seq, event in self.log.replay(after_seq=snapshot_seq):
            session = self._session(event.station_id)
            # A snapshot encoded in chunks may hold this station past snapshot_seq already.
            if not snapshot.covers(session.state, seq):
                session.apply(event)
                session.state.applied_seq = seq
            session.remember(event)
            replayed += 1
        for session in self.sessions.values():
            session.restarted()
        return replayed

    def _append(self, events: list[Event]) -> None:
        """Every event goes through here: into the log, and into its station's recent history."""
        if not events:
            return
        started = time.perf_counter()
        seq = self.log.append(events) - len(events)
        # Summed here, recorded once per batch (_record_appends): metrics cost microseconds.
        self._append_s += time.perf_counter() - started
        self._appended += len(events)
        sessions = self.sessions
        for event in events:
            seq += 1
            session = sessions[event.station_id]
            # Its session folded the event before it came here, and nothing awaits in between.
            session.state.applied_seq = seq
            session.remember(event)

    def _new_session(self, station_id: str, state: StationState | None = None) -> StationSession:
        return StationSession(station_id, self.policy, state, recent_events_kept=self.config.recent_events_kept,
                              command_queue_bound=self.config.command_queue_bound)

    def _session(self, station_id: str) -> StationSession:
        session = self.sessions.get(station_id)
        if session is None:
            session = self.sessions[station_id] = self._new_session(station_id)
        return session

    async def _ensure_started(self) -> None:
        """Every call waits for the id-tag table: answering Authorize from an empty table after
        a restart would refuse valid drivers (and log it durably)."""
        if self._background is None:
            self._flush_lock = asyncio.Lock()
            self._background = asyncio.get_running_loop().create_task(self._maintain())
            self._resume_certificate_requests()
        if self._started is None or (self._started.done() and self._started.exception() is not None):
            self._started = asyncio.ensure_future(self._pull_id_tags())  # (again, if it failed)
        await asyncio.shield(self._started)

    # --- the hot path ----------------------------------------------------------------------

    async def process(self, batch: bytes) -> bytes:
        """Handle a gateway's batch of connects, frames and disconnects; replies in order."""
        await self._ensure_started()
        requests = decode_requests(batch)
        replies: list[HostReply] = []
        events: list[Event] = []
        answers: list[tuple[str, CommandAnswer]] = []
        calls = CallTally()
        durable = False
        for request in requests:
            if isinstance(request, Frame):
                decision = self._external_decision(request)
                if isinstance(decision, asyncio.Task):
                    self._deliver_when_decided(request, decision)
                    replies.append(HostReply(deferred=True))
                    continue
                reply, durable_frame = self._on_frame_isolated(request, events, answers, decision)
                durable = durable or durable_frame
            elif isinstance(request, Connect):
                reply = await self._on_connect(request, events)
                # A profile the handshake confirmed is on disk before the station is told it got
                # in: a restarted host must not let the lower profile back in (TC_083 step 12).
                durable = durable or any(e.action == ev.SECURITY_PROFILE_CONFIRMED for e in events)
            elif isinstance(request, Reattach):
                reply = self._on_reattach(request, events)
            else:
                reply = self._on_disconnect(request, events)
            replies.append(reply)
            calls.add(events, _METRIC_ACTIONS)
            # Into the log before the next await (a Connect's password check): a snapshot
            # taken meanwhile must never hold state whose events the log lacks.
            self._append(events)
            events.clear()
        await self._settle(durable, answers, calls)
        # Every request of a batch comes from one gateway replica (its link to this host).
        outbound = self._outbound.pop(replica_of(requests[0].connection_id), []) if requests else []
        return encode_replies(BatchReply(self.incarnation, replies, outbound))

    # --- frames that wait for an external authorization decision (issue 10, point 5) --------
    #
    # Such a frame is answered "deferred" at once, so nothing else in its batch waits for the
    # downstream. When the decision is there the host handles the frame, commits it if it is
    # durable, and delivers the reply through the gateway replica's outbound long poll; the
    # gateway reads the station's next frame only after that reply, so the station's order
    # holds. A host that restarts meanwhile loses the wait: the gateway's link sends its
    # deferred frames again when it sees the new incarnation (serve_app/host_link.py).

    def _deliver_when_decided(self, request: Frame, task: asyncio.Task) -> None:
        key = (request.station_id, request.connection_id, request.received_at_us)
        if key in self._awaiting_decision:
            return  # sent again (the gateway's fallback): its delivery is already arranged
        self._awaiting_decision.add(key)
        task.add_done_callback(lambda _t: self._start_delivery(request))

    def _start_delivery(self, request: Frame) -> None:
        self._start_background(self._deliver(request))

    def _start_background(self, work) -> None:
        delivery = asyncio.get_running_loop().create_task(work)
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def _deliver(self, request: Frame) -> None:
        key = (request.station_id, request.connection_id, request.received_at_us)
        if key not in self._awaiting_decision:
            return
        self._awaiting_decision.discard(key)
        try:
            decision = self._external_decision(request)
        except asyncio.CancelledError:
            return  # the authorizer is closing (host stopping): the link sends the frame again
        if isinstance(decision, asyncio.Task):  # decided, then asked anew (swept meanwhile)
            self._deliver_when_decided(request, decision)
            return
        events: list[Event] = []
        answers: list[tuple[str, CommandAnswer]] = []
        reply, durable = self._on_frame_isolated(request, events, answers, decision)
        calls = CallTally()
        calls.add(events, _METRIC_ACTIONS)
        # Into the log before the commit's await, as in process().
        self._append(events)
        await self._settle(durable, answers, calls)
        self._send_outbound(OutboundFrame(request.station_id, request.connection_id, "",
                                          reply=reply, received_at_us=request.received_at_us))

    async def _settle(self, durable: bool, answers: list[tuple[str, CommandAnswer]], calls: CallTally) -> None:
        """After frames were handled and appended: commit what must be durable before its reply
        leaves, complete the operators' commands the frames answered, record the metrics."""
        if durable or answers:
            await self._commit()
        # An operator learns the station's answer only once it is on disk, like the station.
        for station_id, answer in answers:
            self._resolve_command(station_id, answer)
        # Accepted certificate requests, now durable with their answers: to the CA. The task runs
        # after this batch's reply has left (process() returns without awaiting it), and its
        # CertificateSigned then needs a commit and the outbound poll (OUTBOUND_COALESCE_S), so
        # the station has its SignCertificate answer first; the CALL may come while the station
        # has one of its own outstanding, which OCPP-J allows (one per direction, section 4.1.1).
        while self._certificate_requests:
            self._start_background(self._issue_certificate(*self._certificate_requests.pop(0)))
        self.metrics.record_calls(calls)
        self._record_appends()

    def _on_frame_isolated(self, request: Frame, events: list[Event], answers: list[tuple[str, CommandAnswer]],
                           decision: AuthorizationDecision | None = None) -> tuple[HostReply, bool]:
        """One frame whose handling raises costs that frame alone: it is answered with
        CALLERROR InternalError and the rest of the batch goes on (issue 10, point 7)."""
        mark, answered = len(events), len(answers)
        try:
            session = self.sessions.get(request.station_id)
            if session is None or session.state.registration is None:
                return HostReply(close_code=CLOSE_UNREGISTERED), False
            if not self._admit(session, request.connection_id, request.connected_at_us, events):
                return HostReply(close_code=CLOSE_REPLACED), False
            # A re-attach is folded: it reaches the log whatever the frame does next.
            mark = len(events)
            return self._on_frame(session, request, events, answers, decision)
        except Exception:
            # Whatever the frame made before raising is dropped: half of a CALL + CALLRESULT
            # pair must not reach the log.
            del events[mark:], answers[answered:]
            log.exception("frame handling failed; answered InternalError",
                          extra={"host": self.name, "station_id": request.station_id,
                                 "connection_id": request.connection_id})
            session = self.sessions.get(request.station_id)
            if session is None:
                return HostReply(), False
            outcome = session.internal_error(request.text, request.received_at_us, "the CSMS failed to handle this frame")
            return HostReply(replies=outcome.replies), False

    def _external_decision(self, request: Frame) -> AuthorizationDecision | asyncio.Task | None:
        """The external authorization decision the frame needs before its session handles it:
        None (needs none), the decision, or the task still deciding it."""
        if self.authorizer is None:
            return None
        session = self.sessions.get(request.station_id)
        # A station that may not send Authorize yet, or a replaced connection, gets its error
        # from the session at once: the downstream is not asked on its behalf.
        if (session is None or session.state.boot_status != "Accepted"
                or not session.admits(request.connection_id, request.connected_at_us)):
            return None
        return self.authorizer.decision_for(request.station_id, request.connection_id, request.received_at_us,
                                            request.text, self.id_tags, session.protocol)

    def _on_frame(self, session: StationSession, request: Frame, events: list[Event],
                  answers: list[tuple[str, CommandAnswer]],
                  decision: AuthorizationDecision | None = None) -> tuple[HostReply, bool]:
        """A frame of a registered station over its admitted connection."""
        security_events = session.state.security_events_received
        outcome = session.handle(request.text, request.received_at_us, self.id_tags, decision, answer_resent=True)
        events.extend(outcome.events)
        if session.state.security_events_received != security_events:
            self._count_security_event(session)
        if outcome.certificate_request is not None and self.certificates is not None:
            self._certificate_requests.append((request.station_id, outcome.certificate_request))
        if outcome.answer is not None:
            answers.append((request.station_id, outcome.answer))
            if any(e.action == ev.STATION_REGISTERED for e in outcome.events):
                registration = session.state.registration
                log.info("station credentials changed by its accepted command", extra={
                    "station_id": request.station_id,
                    "security_profile": registration.security_profile if registration else None})
        return HostReply(replies=outcome.replies, close_code=outcome.close_code), outcome.durable

    def _count_security_event(self, session: StationSession) -> None:
        """A security event the frame folded (one per SecurityEventNotification): counted, and
        a critical one logged for whoever watches the logs (its type only: techInfo is station text)."""
        event = session.state.security_events[-1]
        self.metrics.security_events.inc(1, tags={"critical": "true" if event.critical else "false"})
        if event.critical:
            log.warning("critical security event", extra={
                "host": self.name, "station_id": session.station_id, "event_type": event.type[:50]})

    def _admit(self, session: StationSession, connection_id: str, connected_at_us: int, events: list[Event]) -> bool:
        state = session.state
        if state.connected and state.connection_id == connection_id:
            return True
        if not session.admits(connection_id, connected_at_us):
            return False
        # This host restarted (or missed the connect) while the socket stayed open: re-attach.
        events.append(session.connect(connection_id, connected_at_us, now_us()))
        return True

    def _on_reattach(self, request: Reattach, events: list[Event]) -> HostReply:
        session = self.sessions.get(request.station_id)
        if session is None or session.state.registration is None:
            return HostReply(close_code=CLOSE_UNREGISTERED)
        if not self._admit(session, request.connection_id, request.connected_at_us, events):
            return HostReply(close_code=CLOSE_REPLACED)
        return HostReply()

    async def _on_connect(self, request: Connect, events: list[Event]) -> HostReply:
        session = self.sessions.get(request.station_id)
        if session is None or session.state.registration is None:
            self.unknown_stations.record(request.station_id, request.source_address, request.subprotocols)
            return self._unknown_connect(request)
        # Before the password: a connection below the station's profile is refused whatever
        # it presents (OCTT TC_083 step 12), and costs no password check.
        if below_required(request.security_profile, session.state.registration.security_profile,
                          self.config.min_security_profile):
            self._refused(session, "profile_too_low", request.connected_at_us, request.source_address,
                          request.subprotocols, events)
            return HostReply(connect_status="profile_too_low")
        if request.password is not None:
            # Guessing is slowed before the check is paid for (actors/guessing.py).
            wait_s = self.guessing.wait_s(request.station_id, request.source_address)
            if wait_s > 0:
                self._refused(session, "backoff", request.connected_at_us, request.source_address,
                              request.subprotocols, events)
                return HostReply(connect_status="backoff", retry_after_s=wait_s)
            if not await self._password_ok(session, request.password):
                self.guessing.failed(request.station_id, request.source_address)
                self._refused(session, "bad_credentials", request.connected_at_us, request.source_address,
                              request.subprotocols, events)
                return HostReply(connect_status="bad_credentials")
            self.guessing.succeeded(request.station_id, request.source_address)
        if session.state.registration is None:  # deregistered while the password was checked
            return HostReply(connect_status="unknown_station")
        if not session.admits(request.connection_id, request.connected_at_us):
            return HostReply(connect_status="accepted", close_code=CLOSE_REPLACED)
        self.refusals.succeeded(request.station_id)
        previous = session.state.connection_id if session.state.connected else None
        events.append(session.connect(request.connection_id, request.connected_at_us, now_us(), request.ocpp_version))
        # A raise the station accepted is enforced once a handshake proves it (security_profiles.py).
        if (profile_event := session.profile_handshake(request.security_profile, request.connection_id,
                                                       now_us())) is not None:
            events.append(profile_event)
        if previous is not None and previous != request.connection_id:
            # The newest connection of a station replaces an older one, wherever it is held.
            self._send_outbound(OutboundFrame(request.station_id, previous, "", close_code=CLOSE_REPLACED))
        return HostReply(connect_status="accepted")

    def _unknown_connect(self, request: Connect) -> HostReply:
        """An unknown id. With `hide_registrations` the gateway answers it like a wrong password
        (401), so it must also meet the fleet minimum profile and the backoff as a registered
        station would: else 403 or 429 would tell a prober which ids exist (issue 16 item 5)."""
        if not self.config.hide_registrations:
            return HostReply(connect_status="unknown_station")
        if below_required(request.security_profile, 0, self.config.min_security_profile):
            return HostReply(connect_status="profile_too_low")
        if request.password is not None:
            wait_s = self.guessing.wait_s(request.station_id, request.source_address)
            if wait_s > 0:
                return HostReply(connect_status="backoff", retry_after_s=wait_s)
            self.guessing.failed(request.station_id, request.source_address)
        return HostReply(connect_status="unknown_station")

    def _refused(self, session: StationSession, reason: str, at_us: int, source_address: str | None,
                 subprotocols: tuple[str, ...], events: list[Event], count: int = 1) -> None:
        """Record a refused handshake of a registered station: its refusal summary, a
        HandshakeRefused in its recent events (not logged; at most one a minute), and, when its
        failed authentications pile up, a durable security event (actors/handshake_refusals.py)."""
        record = self.refusals.refused(session.station_id, reason, at_us, source_address, count)
        version = session.state.ocpp_version
        if record.refusals:
            session.remember(refused_event(session.station_id, reason, at_us, source_address, subprotocols,
                                           record.refusals, version))
        if record.security_event_failures:
            events.append(failed_to_authenticate_event(session.station_id, at_us, record.security_event_failures,
                                                       self.config.auth_failure_window_s, reason, source_address,
                                                       version))
            log.warning("repeated failed authentications: security event raised", extra={
                "host": self.name, "station_id": session.station_id, "failures": record.security_event_failures,
                "source_address": source_address, "reason": reason})

    async def knocks(self, data: bytes) -> None:
        """Handshakes a gateway replica refused before asking us (serve_app/knocks.py): recorded
        like our own refusals, for registered and unknown ids alike; nothing is answered."""
        await self._ensure_started()
        events: list[Event] = []
        for knock in decode_knocks(data):
            session = self.sessions.get(knock.station_id)
            if session is None or session.state.registration is None:
                self.unknown_stations.record(knock.station_id, knock.source_address, knock.subprotocols,
                                             knock.at_us, knock.result, knock.count)
            else:
                self._refused(session, knock.result, knock.at_us, knock.source_address, knock.subprotocols,
                              events, knock.count)
        self._append(events)  # security events: made durable with the next commit

    async def _password_ok(self, session: StationSession, password: bytes) -> bool:
        registration = session.state.registration
        assert registration is not None
        fingerprint = hashlib.sha256(registration.password_hash.encode() + b"\x00" + password).digest()
        if session.verified_password == fingerprint:
            return True
        # PBKDF2 releases the GIL: verify in a thread so the event loop keeps serving frames.
        ok = await asyncio.to_thread(verify_password, password, registration.password_hash)
        if ok:
            session.verified_password = fingerprint
        return ok

    def _on_disconnect(self, request: Disconnect, events: list[Event]) -> HostReply:
        session = self.sessions.get(request.station_id)
        if session is not None:
            event = session.disconnect(request.connection_id, now_us(), request.close_code,
                                       request.close_reason)
            if event is not None:
                events.append(event)
        return HostReply()

    # --- operator commands (OCPP-J 4.1.1: one CALL in flight per connection) ---------------

    async def command(self, station_id: str, action: str, payload_json: str, timeout_s: float) -> CommandOutcome:
        """Send a CSMS-initiated CALL through the station's mailbox; the station's answer.

        The payload is checked against the station's OCPP version first (unknown_action,
        invalid_payload: nothing is sent); the event log keeps it with secrets (such as a new
        AuthorizationKey) masked, the station receives it whole.
        """
        started = time.perf_counter()
        outcome = await self._command(station_id, action, payload_json, timeout_s)
        # Operators' action names are unbounded too: only known ones become a metric tag.
        tag = action if outcome.status != "unknown_action" else "unknown"
        self.metrics.commands.inc(1, tags={"action": tag, "outcome": outcome.status})
        self.metrics.command_latency.observe(time.perf_counter() - started)
        log.info("command %s", outcome.status, extra={
            "station_id": station_id, "message_id": outcome.message_id, "action": tag,
            "outcome": outcome.status, "error_code": outcome.error_code,
        })
        return outcome

    async def _command(self, station_id: str, action: str, payload_json: str, timeout_s: float) -> CommandOutcome:
        await self._ensure_started()
        session = self.sessions.get(station_id) or self._new_session(station_id)  # unknown: checked, not kept
        checked = session.check_command(action, payload_json)
        if isinstance(checked, CommandOutcome):
            return checked
        refused = session.refuse_command(action) or session.refuse_profile_raise(action, checked[0])
        if refused is not None:
            return refused
        command = session.queue_command(action, *checked)
        if command is None:
            return CommandOutcome(status="busy")
        self._pump(session)
        try:
            return await asyncio.wait_for(asyncio.shield(command.future), timeout_s)
        except asyncio.TimeoutError:
            session.mailbox.abandon(command)
            self._pump(session)
            return CommandOutcome(status="timeout", message_id=command.message_id)

    def _pump(self, session: StationSession) -> None:
        """Send the station's next queued command if its line is free."""
        sent = session.next_command(now_us())
        if sent is None:
            return
        frame, event = sent
        self._append([event])
        assert session.state.connection_id is not None
        self._send_outbound(OutboundFrame(session.station_id, session.state.connection_id, frame))

    def _send_outbound(self, frame: OutboundFrame) -> None:
        """Queue a frame for the gateway replica that holds the socket; its poll picks it up."""
        replica = replica_of(frame.connection_id)
        self._outbound.setdefault(replica, []).append(frame)
        self._outbound_ready.setdefault(replica, asyncio.Event()).set()

    def _resolve_command(self, station_id: str, answer: CommandAnswer) -> None:
        session = self.sessions.get(station_id)
        if session is not None and session.resolve_command(answer):
            self._pump(session)

    async def pending_commands(self, station_id: str) -> int:
        """Commands queued or in flight for a station (support and tests)."""
        session = self.sessions.get(station_id)
        return 0 if session is None else len(session.mailbox)

    async def outbound(self, replica: str, wait_s: float) -> bytes:
        """A gateway replica's long poll: the CALLs to send over the sockets it holds."""
        await self._ensure_started()
        ready = self._outbound_ready.setdefault(replica, asyncio.Event())
        deadline = asyncio.get_running_loop().time() + wait_s
        # A process() reply may have taken what woke us: then wait on, never answer empty early.
        while not self._outbound.get(replica):
            ready.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(ready.wait(), remaining)
            except asyncio.TimeoutError:
                break
            await asyncio.sleep(OUTBOUND_COALESCE_S)
        ready.clear()
        return encode_outbound(OutboundBatch(self.incarnation, self._outbound.pop(replica, [])))

    async def _commit(self) -> None:
        """fsync what was appended. If that fails the pages may be lost while later fsyncs
        succeed, so nothing more may be acknowledged: exit, and Ray restarts this host, which
        rebuilds from what is really on disk."""
        started = time.perf_counter()
        try:
            await self.log.commit()
        except Exception as exc:
            self._die(f"event log commit failed: {describe(exc)}")
        self.metrics.commit_latency.observe(time.perf_counter() - started)

    def _rotate(self, force: bool = False) -> bool:
        """Seal the active segment (if due, or `force`); sealing fsyncs, so a failure is fatal too."""
        try:
            return self.log.rotate() is not None if force else self.log.maybe_rotate()
        except OSError as exc:
            self._die(f"sealing a log segment failed: {describe(exc)}")

    def _die(self, what: str) -> NoReturn:
        log.critical("%s; exiting so Ray rebuilds this host from what is on disk", what,
                     extra={"host": self.name}, exc_info=True)
        os._exit(1)

    # --- station certificates (security whitepaper A02/A03) -----------------------------------

    def _resume_certificate_requests(self) -> None:
        """Accepted certificate requests whose outcome the log lacks (this host stopped between
        the answer and the CA's): asked again, once, at start."""
        if self.certificates is None:
            return
        for session in self.sessions.values():
            state = session.state
            if state.registration is not None and state.certificates is not None and state.certificates.pending_csr:
                self._start_background(self._issue_certificate(state.station_id, state.certificates.pending_csr))

    async def _issue_certificate(self, station_id: str, csr_pem: str) -> None:
        """After the station's SignCertificate was answered Accepted and made durable (A02 steps
        5-9): have the CSR signed, keep what was issued (CertificateIssued, durable), then send
        the chain with CertificateSigned through the station's mailbox like any command, so the
        one-CALL-in-flight rule holds (OCPP-J 1.6 section 4.1.1). A CA that fails is the
        operator's to see (A02, error handling: the station is not told): CertificateIssueFailed."""
        assert self.certificates is not None
        try:
            issued = await self.certificates.issue(station_id, csr_pem, now_us())
            session = self.sessions.get(station_id)
            if session is None or session.state.registration is None:
                return
            if isinstance(issued, str):
                self._append([session.certificate_issue_failed(issued, now_us())])
                await self._commit()
                log.warning("station certificate not issued", extra={"station_id": station_id, "reason": issued})
                return
            self._append([session.certificate_issued(issued.certificate, now_us())])
            await self._commit()
            log.info("station certificate issued", extra={
                "station_id": station_id, "serial": issued.certificate.serial, "source": issued.certificate.source,
                "not_after_us": issued.certificate.not_after_us})
            command = session.protocol.certificate_signed(issued.chain_pem)
            if command is not None:
                await self.command(station_id, *command, self.config.command_timeout_s)
        except Exception:
            log.exception("issuing a station certificate failed", extra={"station_id": station_id})

    # --- registry --------------------------------------------------------------------------

    async def write_problem(self) -> NotStored | None:
        """Why this host's events cannot be made durable now (full or read-only disk), else None."""
        await self._ensure_started()
        return self._write_refusal()

    def _write_refusal(self) -> NotStored | None:
        return write_problem(self.config.data_path, self.config.disk_free_min_bytes)

    async def register(self, station_id: str, registration: Registration, security_profile: int | None = None,
                       client_certificate_installed: bool | None = None) -> bool | NotStored | ProfileRefused:
        """Create or update a station's registration; True when it is new. Durable on return;
        refused (NotStored, nothing changed) while the disk cannot take it.

        `security_profile` None keeps the station's current profile (0 for a new station); an
        operator may set any, and lowering one is logged (only operators ever lower it). Raising
        a registered station to 3 is refused (ProfileRefused) until it holds a client
        certificate: one we issued, or one the operator says was installed another way
        (`client_certificate_installed`; None keeps what was said before). A new station may be
        registered at 3: it has no lower profile to move from, and comes provisioned."""
        await self._ensure_started()
        if (refused := self._write_refusal()) is not None:
            return refused
        session = self._session(station_id)
        current = session.state.registration
        created = current is None
        current_profile = current.security_profile if current is not None else 0
        registration.security_profile = current_profile if security_profile is None else security_profile
        # An operator's profile is enforced at once; a station's raise under way stays pending
        # only while it is still above that.
        registration.security_profile_pending = still_pending(
            current.security_profile_pending if current is not None else None, registration.security_profile)
        if client_certificate_installed is None:
            client_certificate_installed = current.client_certificate_installed if current is not None else False
        registration.client_certificate_installed = client_certificate_installed
        if current is not None:
            refusal = certificate_first_refusal(current_profile, registration.security_profile,
                                                session.issued_client_certificate() or client_certificate_installed)
            if refusal is not None:
                return ProfileRefused(refusal)
        if registration.security_profile < current_profile:
            log.warning("security profile lowered by an operator", extra={
                "station_id": station_id, "from_profile": current_profile, "to_profile": registration.security_profile})
        registration.registered_at_us = now_us()
        self._append([session.register(registration, registration.registered_at_us)])
        self.unknown_stations.forget(station_id)
        await self._commit()
        return created

    async def register_many(self, rows: list[StationRow]) -> BulkOutcome | NotStored:
        """Register or update many stations with one commit (bulk onboarding); a row that says
        what is registered already changes nothing. Durable on return; refused as a whole
        (NotStored) while the disk cannot take it."""
        await self._ensure_started()
        if (refused := self._write_refusal()) is not None:
            return refused
        outcome, events, at = BulkOutcome(rows=len(rows)), [], now_us()
        for row in rows:
            session = self._session(row.station_id)
            current = session.state.registration
            registration = registration_for(row, current, at)
            if registration is None:
                outcome.unchanged += 1
                continue
            outcome.created += current is None
            outcome.updated += current is not None
            events.append(session.register(registration, at))
            self.unknown_stations.forget(row.station_id)
        self._append(events)
        await self._commit()
        return outcome

    async def set_password(self, station_id: str, password_hash: str) -> bool | NotStored:
        """Replace a registered station's password hash, nothing else; False if unknown. Durable
        on return; the station's open connection stays, the new password counts from its next."""
        await self._ensure_started()
        session = self.sessions.get(station_id)
        if session is None or session.state.registration is None:
            return False
        if (refused := self._write_refusal()) is not None:
            return refused
        updated = msgspec.structs.replace(session.state.registration, password_hash=password_hash)
        self._append([session.register(updated, now_us())])
        await self._commit()
        return True

    async def deregister(self, station_id: str) -> bool | NotStored:
        await self._ensure_started()
        session = self.sessions.get(station_id)
        if session is None or session.state.registration is None:
            return False
        if (refused := self._write_refusal()) is not None:
            return refused
        self._append([session.deregister(now_us())])
        await self._commit()
        self.refusals.forget(station_id)
        self.guessing.forget(station_id)
        return True

    async def update_id_tags(self, version: int, changes: dict[str, IdTagRecord | None]) -> None:
        if version <= self._id_tags_version:
            return
        if version != self._id_tags_version + 1:
            await self._pull_id_tags()  # missed a change: take the whole table
            return
        for key, record in changes.items():
            if record is None:
                self.id_tags.pop(key, None)
            else:
                self.id_tags[key] = record
        self._id_tags_version = version

    async def _pull_id_tags(self) -> None:
        try:
            registry = directory.get_actor(directory.ID_TAG_REGISTRY)
        except ValueError:
            log.warning("id-tag registry not found; every id tag is unknown until it pushes", extra={"host": self.name})
            return
        table = await asyncio.wait_for(registry.table.remote(), self.config.host_call_timeout_s)
        if table.version >= self._id_tags_version:
            self.id_tags = dict(table.tags)
            self._id_tags_version = table.version

    # --- transactions the station never stopped (issue 16, item 3) --------------------------

    async def close_transaction(self, station_id: str, transaction_id: int,
                                reason: str) -> TransactionView | CloseRefusal | NotStored:
        """An operator's close of a stale transaction: its view once the settlement is durable,
        or why there is none to close ("unknown" also for an unknown station); refused
        (NotStored, nothing changed) while the disk cannot take it."""
        await self._ensure_started()
        if (refused := self._write_refusal()) is not None:
            return refused
        session = self.sessions.get(station_id)
        if session is None or session.state.registration is None:
            return "unknown"
        closed = session.close_transaction(transaction_id, reason, now_us())
        if isinstance(closed, str):
            return closed
        self._append([closed])
        await self._commit()
        log.info("transaction closed by an operator", extra={
            "host": self.name, "station_id": station_id, "transaction_id": transaction_id})
        return transaction_view(station_id, session.state.transactions[transaction_id])

    # --- reads for the operator API ------------------------------------------------------

    async def station(self, station_id: str) -> StationView | None:
        session = self.sessions.get(station_id)
        if session is None or session.state.registration is None:
            return None
        view = station_view(session.state)
        view.handshake_refusals = self.refusals.view(station_id)
        return view

    async def recent_events(self, station_id: str, offset: int, limit: int) -> tuple[int, list[Event]] | None:
        """The station's recent events, newest first: (how many are kept, the requested page)."""
        session = self.sessions.get(station_id)
        if session is None or session.state.registration is None:
            return None
        return len(session.recent), session.recent_events(offset, limit)

    async def unknown(self) -> list[UnknownStation]:
        """Unknown station ids that tried to connect to this host, most recently seen first."""
        return self.unknown_stations.listed()

    async def stations(self) -> list[StationSummary]:
        return [station_summary(s.state) for s in self.sessions.values() if s.state.registration is not None]

    async def expiring_certificates(self, before_us: int) -> list[ExpiringCertificateView]:
        """Registered stations whose current certificate from our CA (the one they accepted, else
        the newest issued) ends before `before_us`: what renewal must reach (docs/security.md)."""
        expiring = []
        for session in self.sessions.values():
            state = session.state
            if state.registration is None or state.certificates is None:
                continue
            current = current_certificate(state.certificates)
            if current is not None and current.not_after_us < before_us:
                expiring.append(ExpiringCertificateView(station_id=state.station_id, connected=state.connected,
                                                        ocpp_version=state.ocpp_version,
                                                        certificate=issued_view(current)))
        return expiring

    async def transactions(self, query: TransactionFilter) -> list[TransactionView]:
        if query.station_id is not None:
            session = self.sessions.get(query.station_id)
            candidates = [session] if session is not None else []
        else:
            candidates = list(self.sessions.values())
        return [view for s in candidates for view in transaction_views(s.state, query)]

    async def stats(self) -> dict:
        return {
            "host": self.name,
            "incarnation": self.incarnation,
            "stations": len(self.sessions),
            "connected": sum(1 for s in self.sessions.values() if s.state.connected),
            "log": self.log.stats(),
            "id_tags_version": self._id_tags_version,
            # Where Ray runs this incarnation (after a node loss: another node).
            "node_id": _node_id(),
        }

    async def authorization_status(self) -> AuthorizationStatus:
        """The external authorizer as this host sees it: breaker, cache, counters."""
        if self.authorizer is None:
            return AuthorizationStatus(host=self.name, enabled=False)
        return self.authorizer.status()

    async def ping(self) -> str:
        await self._ensure_started()
        return self.name

    async def fleet_page(self, query: FleetQuery) -> FleetPage:
        """The back office's fleet page: counts and one page of this host's stations
        (actors/fleet_page.py), scanned in chunks with frames let through between them, so a
        page over 50,000 stations never stalls the hot path for more than one chunk."""
        scan = FleetScan(query)
        states = [s.state for s in self.sessions.values()]
        for start in range(0, len(states), FLEET_SCAN_CHUNK):
            scan.add(states[start : start + FLEET_SCAN_CHUNK])
            await asyncio.sleep(0)
        return scan.page()

    # --- background: lake, snapshot, log truncation --------------------------------------

    async def flush(self) -> int:
        """Seal the current segment and land everything sealed in the lake now (tests, shutdown)."""
        await self._ensure_started()
        assert self._flush_lock is not None
        async with self._flush_lock:
            await self._commit()
            self._rotate(force=True)
            return await self._land_sealed_segments()

    async def _maintain(self) -> None:
        interval = max(0.5, min(5.0, self.config.wal_segment_max_age_s / 4))
        while True:
            await asyncio.sleep(interval)
            if self.authorizer is not None:
                self.authorizer.sweep()
            self._sample_gauges()
            try:
                assert self._flush_lock is not None
                async with self._flush_lock:
                    if self._rotate():
                        await self._land_sealed_segments()
            except Exception:
                log.exception("lake flush failed; segments stay in the log and are retried", extra={"host": self.name})

    def _record_appends(self) -> None:
        if self._appended:
            self.metrics.append_latency.observe(self._append_s)
            self.metrics.events_appended.inc(self._appended)
            self._appended, self._append_s = 0, 0.0

    def _sample_gauges(self) -> None:
        """Levels rather than events: sampled with the background work, not on the hot path."""
        self._record_appends()  # appends outside process(): registrations, commands
        registered = connected = 0
        for session in self.sessions.values():
            if session.state.registration is not None:
                registered += 1
                connected += session.state.connected
        self.metrics.stations.set(registered)
        self.metrics.connected.set(connected)
        self.metrics.backlog.set(self.log.last_seq - self.log.durable_seq)
        self.metrics.unlanded_segments.set(len(self.log.sealed_segments()))

    async def _land_sealed_segments(self) -> int:
        segments = self.log.sealed_segments()
        if not segments:
            return 0
        landed = 0
        for segment in segments:
            # Sealed segments are immutable files: read them off the event loop.
            events = await asyncio.to_thread(self.log.read_segment, segment)
            # Deterministic file names: landing the same segment again after a crash
            # replaces the file instead of duplicating rows.
            await asyncio.to_thread(
                lake.write_bronze, self.config.data_path, events, self.name, f"{self.name}-{segment.first_seq:020d}"
            )
            landed += len(events)
        # The snapshot must cover a segment before it may go.
        snapshot_seq = await self._write_snapshot()
        for segment in segments:
            if segment.last_seq <= snapshot_seq:
                self.log.remove_segment(segment)
        return landed

    async def _write_snapshot(self) -> int:
        """Write a snapshot of every station; the log sequence it covers for all of them.

        Encoded a chunk at a time with frames handled in between (actors/snapshot.py): each
        state is encoded as it is then, carrying its own applied_seq, so the file is consistent
        per station. Every event it reflects is made durable before the file names it.
        """
        encoder = self._snapshot_encoder()
        while encoder.encode_next(SNAPSHOT_CHUNK):
            await asyncio.sleep(0)
        covered = await self._store_snapshot(encoder)
        # Stations added since the restore are long-lived too (actors/gc_freeze.py).
        freeze_if_grown()
        return covered

    def _snapshot_encoder(self) -> snapshot.SnapshotEncoder:
        return snapshot.SnapshotEncoder(self.log.last_seq, [s.state for s in self.sessions.values()])

    async def _store_snapshot(self, encoder: snapshot.SnapshotEncoder) -> int:
        await self._commit()
        # Joined in the thread too: the parts are 23 MiB at 20,000 stations.
        await asyncio.to_thread(lambda: write_atomically(self._snapshot_path, encoder.data()))
        return encoder.last_seq

    async def shutdown(self) -> None:
        """Graceful stop: everything appended is fsync'd and landed before the process goes."""
        await self.flush()
        if self._background is not None:
            self._background.cancel()
        if self.authorizer is not None:
            await self.authorizer.close()
        if self.certificates is not None:
            await self.certificates.close()
        self.log.close()
