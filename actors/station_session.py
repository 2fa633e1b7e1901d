"""The station actor: one station's state, its protocol rules, its command mailbox and recent events; free of I/O.

A `StationSession` takes a frame and the receive time and returns the replies to send and
the events to log (`Outcome`). State changes only through `apply(event)`, which the host
also uses to rebuild the session from its snapshot and write-ahead log after a restart.
What a frame means comes from the station's OCPP version (`actors.protocols.PROTOCOLS`,
chosen by the subprotocol of its connection); nothing here names a version's actions.
The caller (StationHost) guarantees one frame at a time per session.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import ChainMap, deque
from collections.abc import Mapping
from functools import partial

import msgspec

from actors import events as ev
from actors import ocppj
from actors.authorizer.decision import AuthorizationDecided, AuthorizationDecision
from actors.certificate_authority import signing_refusal
from actors.events import Event, decode_event, encode_event
from actors.mailbox import CommandOutcome, Mailbox, PendingCommand
from actors.passwords import hash_password
from actors.protocol import Context, Policy, Protocol
from actors.protocols import DEFAULT_VERSION, PROTOCOLS, other_version_command
from actors.security_profiles import (
    ProfileHandshake,
    certificate_first_refusal,
    confirms_pending,
    pending_after_accept,
    still_pending,
)
from actors.settlement import CloseRefusal, apply_settlement, close_transaction
from actors.station_certificates import CertificateFailure, IssuedCertificate
from actors.station_state import (
    ANSWERED_CALLS_KEPT,
    AnsweredCall,
    IdTagRecord,
    PendingCall,
    Registration,
    SentCommand,
    Settlement,
    StationState,
)

# Close codes (RFC 6455 section 7.4): 1008 policy violation for a station that is no
# longer registered; 4000 (private range) for a connection replaced by a newer one.
CLOSE_UNREGISTERED = 1008
CLOSE_REPLACED = 4000

# Not logged: the fold of "this process restarted" (sockets and calls in flight do not
# survive it). The host applies it to every session after replaying the log.
_RESTARTED = "HostRestarted"

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


class CommandAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The station's answer to a CSMS-initiated CALL (its CALLRESULT or CALLERROR)."""

    message_id: str
    ok: bool
    # CALLRESULT payload as JSON text (ok), else the CALLERROR's code and description.
    payload: str = "{}"
    error_code: str | None = None
    error_description: str | None = None


class Outcome(msgspec.Struct, kw_only=True):
    replies: list[str] = []
    events: list[Event] = []
    # Whether the replies may leave only after the events are fsync'd.
    durable: bool = False
    close_code: int | None = None
    # Set when the frame answered our CALL in flight: the mailbox completes its caller with it.
    answer: CommandAnswer | None = None
    # The PEM CSR of a certificate request the answer Accepted: the host has it signed once the
    # answer is durable, and delivers the chain as a command (actors/certificate_issuer.py).
    certificate_request: str | None = None


def _fingerprint(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=8).digest()


def command_in_flight(state: StationState) -> str | None:
    """The message id of our CALL the station has not answered yet, as the fold records it."""
    command = state.pending_command
    return None if command is None else command.message_id


class StationSession:
    def __init__(self, station_id: str, policy: Policy, state: StationState | None = None,
                 recent_events_kept: int = 100, command_queue_bound: int = 16) -> None:
        self.station_id = station_id
        self.policy = policy
        self.state = state or StationState(station_id=station_id)
        self.protocol: Protocol = PROTOCOLS.get(self.state.ocpp_version) or PROTOCOLS[DEFAULT_VERSION]
        # The last events, newest last, for support agents (older ones: the lake), msgpack-encoded
        # as in the log: 165 bytes an event against 345 as Structs (scripts/host_memory.py).
        self.recent: deque[bytes] = deque(maxlen=recent_events_kept)
        # Operator commands (not durable: a restarted host has no callers waiting; theirs see
        # the failure). One CALL in flight per connection (OCPP-J 1.6 section 4.1.1): which one
        # is the state's `pending_command`, the mailbox's only tracker of it.
        # Bound to the state, not to the session (a bound method would make a session <-> mailbox
        # cycle, which frozen hosts never collect: actors/gc_freeze.py); the state object lives
        # as long as its session.
        self.mailbox = Mailbox(command_queue_bound, sent=partial(command_in_flight, self.state))
        # sha256 of the password last verified against the stored hash, so a reconnect
        # storm pays the PBKDF2 cost once per station per host lifetime.
        self.verified_password: bytes | None = None

    def remember(self, event: Event) -> None:
        self.recent.append(encode_event(msgspec.structs.replace(event, private="") if event.private else event))

    def recent_events(self, offset: int, limit: int) -> list[Event]:
        """A page of the recent events, newest first."""
        newest_first = list(reversed(self.recent))
        return [decode_event(data) for data in newest_first[offset : offset + limit]]

    # --- connections -------------------------------------------------------------------

    def admits(self, connection_id: str, connected_at_us: int) -> bool:
        """Whether frames of this connection still belong to the station (the newest one wins)."""
        st = self.state
        if st.registration is None:
            return False
        if st.connection_id == connection_id:
            return True
        return st.connected_at_us is None or connected_at_us >= st.connected_at_us

    def connect(self, connection_id: str, connected_at_us: int, now_us: int, ocpp_version: str | None = None) -> Event:
        """`ocpp_version`: what the connection's subprotocol chose; None (a socket re-attached
        after a host restart) keeps the version the station spoke."""
        version = ocpp_version or self.state.ocpp_version
        payload = {"connection_id": connection_id, "connected_at_us": connected_at_us, "ocpp_version": version}
        return self._system_event(ev.CONNECTED, connection_id, payload, now_us, ocpp_version=version)

    def disconnect(self, connection_id: str, now_us: int, close_code: int | None,
                   close_reason: str = "") -> Event | None:
        if self.state.connection_id != connection_id or not self.state.connected:
            return None  # an older connection closing after its replacement arrived
        payload = {"connection_id": connection_id, "close_code": close_code, "close_reason": close_reason}
        event = self._system_event(ev.DISCONNECTED, connection_id, payload, now_us)
        self.mailbox.fail_all(CommandOutcome(status="disconnected"))
        return event

    def restarted(self) -> None:
        """The host process restarted: its sockets and calls in flight are gone. A station
        counts as connected again once its gateway sends the next frame over the still-open
        socket (StationHost._admit)."""
        self.apply(Event(station_id=self.station_id, received_at_us=0, direction="system",
                         message_type="SESSION", message_id="", action=_RESTARTED, payload="{}"))

    # --- registry ----------------------------------------------------------------------

    def register(self, registration: Registration, now_us: int) -> Event:
        public = msgspec.structs.replace(registration, password_hash="")
        self.verified_password = None
        # The hash must survive in the log to rebuild the registry, never in the lake.
        return self._system_event(ev.STATION_REGISTERED, "", public, now_us, private=registration.password_hash)

    def deregister(self, now_us: int) -> Event:
        self.verified_password = None
        return self._system_event(ev.STATION_DELETED, "", {}, now_us)

    def _system_event(self, action: str, message_id: str, payload: object, now_us: int, private: str = "",
                      ocpp_version: str | None = None) -> Event:
        """A lifecycle event the CSMS itself produces, applied before it is returned for logging."""
        event = Event(
            station_id=self.station_id,
            received_at_us=now_us,
            direction="system",
            message_type="SESSION",
            message_id=message_id,
            action=action,
            payload=_json_encode(payload).decode(),
            ocpp_version=ocpp_version or self.state.ocpp_version,
            private=private,
        )
        self.apply(event)
        return event

    # --- frames from the station -------------------------------------------------------

    def handle(self, text: str, received_at_us: int, id_tags: Mapping[str, IdTagRecord],
               decision: AuthorizationDecision | None = None, answer_resent: bool = False) -> Outcome:
        """`decision`: how the frame's id tag was decided beyond the local table (resolved by
        the host before this call, see actors/authorizer); the idTagInfo of the frame's
        answer (Authorize, StartTransaction, StopTransaction) comes from it, and it is logged
        right after the answer.

        `answer_resent` (the host sets it): a durable CALL the station resends with the same
        message id and payload, because our answer did not reach it, gets the same answer
        again and nothing is logged twice (issue 16, item 1). Without it every CALL is
        answered anew (the fold's own tests)."""
        frame = ocppj.parse_frame(text)
        if isinstance(frame, ocppj.FrameError):
            inbound = self._event("in", "CALL", frame.message_id, ev.MALFORMED, text, received_at_us)
            return self._error(inbound, frame.message_id, frame.code, frame.description)
        if isinstance(frame, ocppj.CallResult | ocppj.CallError):
            return self._handle_answer(frame, received_at_us)
        return self._handle_call(frame, received_at_us, id_tags, decision, answer_resent)

    def _handle_answer(self, frame: ocppj.CallResult | ocppj.CallError, received_at_us: int) -> Outcome:
        """Answers to CSMS-initiated CALLs: logged (under the command's action when it answers
        our CALL in flight) and folded by apply(); the mailbox completes that CALL's caller."""
        kind = "CALLRESULT" if isinstance(frame, ocppj.CallResult) else "CALLERROR"
        command = self.state.pending_command
        if command is not None and command.message_id != frame.message_id:
            command = None  # an answer to a CALL we stopped waiting for, or to none of ours
        action = command.action if command is not None else ""
        if isinstance(frame, ocppj.CallResult):
            # An answer we no longer wait for (late, after a timeout) may still carry secrets:
            # mask it as the one kind of answer that can (GetConfiguration).
            payload = self.protocol.loggable_result(action or "GetConfiguration", bytes(frame.payload).decode())
            answer = CommandAnswer(message_id=frame.message_id, ok=True, payload=payload)
        else:
            payload = _json_encode([frame.code, frame.description, frame.details]).decode()
            answer = CommandAnswer(message_id=frame.message_id, ok=False, error_code=frame.code,
                                   error_description=frame.description)
        inbound = self._event("in", kind, frame.message_id, action, payload, received_at_us)
        self.apply(inbound)
        events = [inbound]
        if command is None:
            return Outcome(events=events)
        registration_change = self._registration_change(command.action, answer, received_at_us)
        if registration_change is not None:
            events.append(registration_change)
        return Outcome(events=events, answer=answer)

    def _handle_call(self, call: ocppj.Call, received_at_us: int, id_tags: Mapping[str, IdTagRecord],
                     decision: AuthorizationDecision | None, answer_resent: bool) -> Outcome:
        protocol = self.protocol
        entry = protocol.actions.get(call.action)
        if entry is None:
            payload_text = bytes(call.payload).decode()
            inbound = self._event("in", "CALL", call.message_id, call.action, payload_text, received_at_us)
            if call.action in protocol.commands:
                # A known action, but one only the CSMS sends (OCPP-J 1.6 section 4.2.3).
                return self._error(inbound, call.message_id, ocppj.NOT_SUPPORTED,
                                   f"{call.action} is sent by the Central System, not by a station")
            return self._error(inbound, call.message_id, ocppj.NOT_IMPLEMENTED, f"action {call.action!r} is not supported")
        payload = bytes(call.payload)
        if answer_resent and entry.durable and self.state.answered_calls:
            fingerprint = _fingerprint(payload)
            for answered in self.state.answered_calls:
                if answered.message_id == call.message_id and answered.fingerprint == fingerprint:
                    return Outcome(replies=[answered.reply], durable=True)
        try:
            request = protocol.decode_request(call.action, payload)
        except msgspec.ValidationError as exc:
            inbound = self._event("in", "CALL", call.message_id, call.action, payload.decode(), received_at_us)
            return self._error(inbound, call.message_id, ocppj.constraint_error_code(exc), str(exc))
        inbound = self._event(
            "in", "CALL", call.message_id, call.action, payload.decode(), received_at_us,
            station_ts_us=protocol.station_timestamp_us(request),
        )
        if self.state.registration is None:
            outcome = self._error(inbound, call.message_id, ocppj.SECURITY_ERROR, "station is not registered")
            outcome.close_code = CLOSE_UNREGISTERED
            return outcome
        # OCPP 1.6 section 4.2.1: until its BootNotification is Accepted a station may send
        # nothing else, but what the CSMS asked for with an Accepted TriggerMessage (4.2).
        if (
            not entry.before_accepted
            and self.state.boot_status != "Accepted"
            and call.action not in self.state.triggered_messages
        ):
            return self._error(inbound, call.message_id, ocppj.SECURITY_ERROR, "BootNotification not accepted yet")
        if decision is not None and decision.id_tag != protocol.id_token(request):
            decision = None  # decided for another frame: never answer one tag with another's decision
        if decision is not None:
            id_tags = ChainMap({decision.id_tag: decision.record}, id_tags)
        ctx = Context(policy=self.policy, id_tags=id_tags, now_us=received_at_us)
        # Asked of the state before the request, as the answer is (a triggered BootNotification
        # is known as such until its CALL folds); logged right after the CALLRESULT, the order
        # they fold in live and on replay (issue 16, item 3).
        stale = protocol.stale_transactions(self.state, call.action, request, received_at_us)
        answered = entry.answer(self.state, request, ctx)
        result = _json_encode(answered).decode()
        reply = ocppj.call_result_json(call.message_id, result)
        outbound = self._event("out", "CALLRESULT", call.message_id, call.action, result, received_at_us)
        self.apply(inbound)
        self.apply(outbound)
        events = [inbound, outbound]
        for settlement in stale:
            events.append(self._system_event(ev.TRANSACTION_SETTLED, call.message_id, settlement, received_at_us))
        if decision is not None:
            # In the same batch as the answer, so the transaction's authorization is as durable as it.
            status, transaction_id = protocol.authorization_outcome(request, answered)
            decided = AuthorizationDecided(
                id_tag=decision.id_tag, source=decision.source, downstream=decision.downstream,
                status=status, transaction_id=transaction_id,
            )
            events.append(self._system_event(ev.AUTHORIZATION_DECIDED, call.message_id, decided, received_at_us))
        outcome = Outcome(replies=[reply], events=events, durable=entry.durable)
        csr = protocol.certificate_request(call.action, request)
        if csr is not None:
            # The same verdict the answer gave (cached): its reason goes to the station's events.
            refusal = signing_refusal(csr, self.station_id, organization=self.policy.certificate_organization,
                                      signing=self.policy.certificate_signing)
            if refusal is None:
                outcome.certificate_request = csr
            else:
                events.append(self._system_event(ev.CERTIFICATE_REQUEST_REFUSED, call.message_id,
                                                 CertificateFailure(refusal), received_at_us))
        return outcome

    # --- certificates our CA issued (actors/certificate_issuer.py) ------------------------------

    def certificate_issued(self, issued: IssuedCertificate, now_us: int) -> Event:
        return self._system_event(ev.CERTIFICATE_ISSUED, "", issued, now_us)

    def certificate_issue_failed(self, reason: str, now_us: int) -> Event:
        return self._system_event(ev.CERTIFICATE_ISSUE_FAILED, "", CertificateFailure(reason), now_us)

    # --- transactions the station never stopped ------------------------------------------

    def close_transaction(self, transaction_id: int, reason: str, now_us: int) -> Event | CloseRefusal:
        """An operator's close of a stale transaction (issue 16, item 3): the settlement event,
        already applied, or why there is none to close."""
        settlement = close_transaction(self.state, transaction_id, reason, now_us)
        if isinstance(settlement, str):
            return settlement
        return self._system_event(ev.TRANSACTION_SETTLED, "", settlement, now_us)

    def _error(self, inbound: Event, message_id: str, code: str, description: str) -> Outcome:
        code = self.protocol.error_codes.get(code, code)
        reply = ocppj.call_error(message_id, code, description)
        outbound = self._event("out", "CALLERROR", message_id, inbound.action, _json_encode([code, description, {}]).decode(), inbound.received_at_us)
        self.apply(inbound)
        self.apply(outbound)
        return Outcome(replies=[reply], events=[inbound, outbound])

    def internal_error(self, text: str, received_at_us: int, reason: str) -> Outcome:
        """The answer to a frame whose handling raised: CALLERROR InternalError under its
        message id where that can be read (OCPP-J 1.6 section 4.2.3); nothing else changes."""
        frame = ocppj.parse_frame(text)
        message_id = frame.message_id if isinstance(frame, ocppj.Call | ocppj.FrameError) else None
        if message_id is None:
            return Outcome()  # an answer to one of our CALLs: nothing to answer
        return Outcome(replies=[ocppj.call_error(message_id, ocppj.INTERNAL_ERROR, reason)])

    def _event(
        self, direction: ev.Direction, kind: ev.MessageType, message_id: str, action: str,
        payload: str, received_at_us: int, station_ts_us: int | None = None,
    ) -> Event:
        return Event(
            station_id=self.station_id,
            received_at_us=received_at_us,
            direction=direction,
            message_type=kind,
            message_id=message_id,
            action=action,
            payload=payload,
            station_ts_us=station_ts_us,
            ocpp_version=self.state.ocpp_version,
        )

    # --- commands to the station ------------------------------------------------------

    def check_command(self, action: str, payload_json: str) -> tuple[str, str] | CommandOutcome:
        """The payload to send and the one to log (secrets masked) for a CSMS-initiated action,
        or why it may not be sent: not an action of the station's version, or not a valid
        payload for it (nothing is sent)."""
        protocol = self.protocol
        elsewhere = other_version_command(action, protocol) if action not in protocol.commands else None
        if elsewhere is not None:
            version, instead = elsewhere
            use = f"; use {instead} instead" if instead else f"; it has no OCPP {protocol.version} counterpart"
            return CommandOutcome(status="other_version", error_description=(
                f"{action} is an OCPP {version} action and this station speaks OCPP {protocol.version}{use}"))
        if action not in protocol.commands:
            return CommandOutcome(status="unknown_action", error_description=(
                f"{action!r} is not a CSMS-initiated OCPP {protocol.version} action; "
                f"one of: {', '.join(sorted(protocol.commands))}"))
        try:
            request = protocol.decode_command(action, payload_json)
            protocol.check_command(action, request)
        except (msgspec.ValidationError, ValueError) as exc:
            return CommandOutcome(status="invalid_payload", error_description=f"invalid {action} payload: {exc}")
        try:
            protocol.check_command_on(self.state, action, request)
        except ValueError as exc:
            return CommandOutcome(status="not_allowed", error_description=f"{action} not allowed now: {exc}")
        return (_json_encode(request).decode(), _json_encode(protocol.loggable_command(action, request)).decode())

    def refuse_command(self, action: str) -> CommandOutcome | None:
        """Why a valid command cannot be queued now, else None."""
        if self.state.registration is None:
            return CommandOutcome(status="unknown_station")
        if not self.state.connected:
            return CommandOutcome(status="not_connected")
        if action in self.protocol.not_while_pending and self.state.boot_status != "Accepted":
            return CommandOutcome(status="not_accepted", error_description=(
                f"the station's BootNotification is not Accepted: OCPP {self.protocol.version} forbids {action} "
                "while it is Pending"))
        return None

    def issued_client_certificate(self) -> bool:
        """Whether the station accepted a client certificate we issued (CertificateSigned)."""
        return self.state.certificates is not None and self.state.certificates.client_certificate() is not None

    def holds_client_certificate(self) -> bool:
        """A client certificate we issued that the station accepted, or the operator's word."""
        registration = self.state.registration
        return self.issued_client_certificate() or (registration is not None and registration.client_certificate_installed)

    def refuse_profile_raise(self, action: str, payload_json: str) -> CommandOutcome | None:
        """A command that would raise the station to profile 3 before it holds a client
        certificate (whitepaper A05: the certificate first, then the profile), else None."""
        requested = self.protocol.requested_security_profile(action, payload_json)
        registration = self.state.registration
        if requested is None or registration is None:
            return None
        refusal = certificate_first_refusal(registration.security_profile, requested, self.holds_client_certificate())
        return None if refusal is None else CommandOutcome(status="certificate_first", error_description=refusal)

    def next_command(self, now_us: int) -> tuple[str, Event] | None:
        """The next queued command's CALL frame and its event (applied), if the line is free."""
        command = self.mailbox.next_to_send()
        if command is None:
            return None
        if not self.state.connected or self.state.connection_id is None:
            self.mailbox.fail_all(CommandOutcome(status="disconnected"))
            return None
        event = self._event("out", "CALL", command.message_id, command.action, command.logged_payload_json, now_us)
        self.apply(event)
        # The station gets the real payload; the log keeps the masked one.
        return ocppj.call_json(command.message_id, command.action, command.payload_json), event

    def send_command(self, message_id: str, action: str, payload_json: str, now_us: int) -> tuple[str, Event]:
        """The CALL frame for a CSMS-initiated action and its event (already applied), outside
        the mailbox (tests of the fold)."""
        event = self._event("out", "CALL", message_id, action, payload_json, now_us)
        self.apply(event)
        return ocppj.call_json(message_id, action, payload_json), event

    def queue_command(self, action: str, payload_json: str, logged_payload_json: str) -> PendingCommand | None:
        """Queue a checked command; None when the mailbox is full."""
        command = PendingCommand(uuid.uuid4().hex[:32], action, payload_json, logged_payload_json)
        return command if self.mailbox.submit(command) else None

    def resolve_command(self, answer: CommandAnswer) -> bool:
        """Complete the operator's request the answer belongs to; whether the line is free again."""
        if answer.ok:
            outcome = CommandOutcome(status="answered", message_id=answer.message_id, response=answer.payload)
        else:
            outcome = CommandOutcome(status="call_error", message_id=answer.message_id,
                                     error_code=answer.error_code, error_description=answer.error_description)
        return self.mailbox.resolve(answer.message_id, outcome)

    def _registration_change(self, action: str, answer: CommandAnswer, now_us: int) -> Event | None:
        """A command the station accepted that changes how it authenticates: its Basic-auth
        password (1.6: ChangeConfiguration AuthorizationKey) or its pending security profile (1.6:
        ChangeConfiguration SecurityProfile, only ever upwards; enforced once the station
        connects with it, `profile_handshake`). The new registration is
        stored in the same batch as the answer, so both are durable together. A new password
        is in the payload as sent, which only the caller keeps (the log keeps it masked)."""
        caller = self.mailbox.caller(answer.message_id)
        registration = self.state.registration
        if caller is None or not answer.ok or registration is None:
            return None
        password = self.protocol.new_password(action, caller.payload_json, answer.payload)
        if password is not None:
            return self.register(msgspec.structs.replace(registration, password_hash=hash_password(password)), now_us)
        # The raise is pending until the station connects with it (security_profiles.py).
        pending = pending_after_accept(registration.security_profile, registration.security_profile_pending,
                                       self.protocol.new_security_profile(action, caller.payload_json, answer.payload))
        if pending == registration.security_profile_pending:
            return None  # no change, or a station asking to go lower (kept: never downgraded)
        return self.register(msgspec.structs.replace(registration, security_profile_pending=pending), now_us)

    def profile_handshake(self, presented: int, connection_id: str, now_us: int) -> Event | None:
        """What an accepted handshake proving `presented` says of a raise under way: the
        station switched to it (SecurityProfileConfirmed: enforced from now on), or it came
        back on the profile still enforced (SecurityProfileFallback, recorded); None when no
        raise is pending. Logged, so a replay enforces the same profile."""
        registration = self.state.registration
        if registration is None or registration.security_profile_pending is None:
            return None
        pending = registration.security_profile_pending
        change = ProfileHandshake(presented_profile=presented, pending_profile=pending,
                                  enforced_profile=registration.security_profile)
        action = ev.SECURITY_PROFILE_CONFIRMED if confirms_pending(presented, pending) else ev.SECURITY_PROFILE_FALLBACK
        return self._system_event(action, connection_id, change, now_us)

    # --- the fold ----------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one logged event into the state. Live and replay take this same path."""
        st = self.state
        if event.message_type == "SESSION":
            self._apply_session(event)
            return
        if event.direction == "in":
            st.last_seen_us = event.received_at_us
            if event.message_type == "CALL":
                st.pending_call = PendingCall(event.message_id, event.action, event.payload)
                # The request a TriggerMessage asked for has come: one trigger, one request.
                if event.action in st.triggered_messages:
                    st.triggered_messages.remove(event.action)
            else:
                self._apply_command_answer(event)
            return
        if event.message_type == "CALL":
            # Our command: one in flight per connection (OCPP-J 1.6 section 4.1.1), so a new
            # one replaces a command whose answer never came.
            st.pending_command = SentCommand(event.message_id, event.action, event.payload)
            return
        pending = st.pending_call
        if pending is None or pending.message_id != event.message_id:
            return
        st.pending_call = None
        entry = self.protocol.actions.get(pending.action)
        if entry is None:
            return  # a CALLERROR to an action we do not know
        if event.message_type != "CALLRESULT":
            return
        if entry.durable:
            # Kept (bounded) so a resent CALL gets this same answer, after a restart too.
            reply = ocppj.call_result_json(event.message_id, event.payload)
            st.answered_calls.append(AnsweredCall(event.message_id, _fingerprint(pending.payload.encode()), reply))
            del st.answered_calls[:-ANSWERED_CALLS_KEPT]
        request = self.protocol.decode_request(pending.action, pending.payload.encode())
        entry.apply(st, request, _json_decode(event.payload, type=entry.result_type), event.received_at_us)
        self.protocol.after_apply(st, pending.action, self.policy)

    def _apply_command_answer(self, event: Event) -> None:
        st = self.state
        command = st.pending_command
        if command is None or command.message_id != event.message_id:
            return  # an answer to a command we stopped waiting for, or to none of ours
        st.pending_command = None
        if event.message_type == "CALLRESULT":
            # Never raises: an answer that does not decode for its action changes nothing.
            self.protocol.apply_command_result(st, command.action, command.payload, event.payload,
                                               event.received_at_us)

    def _apply_session(self, event: Event) -> None:
        st = self.state
        if event.action == ev.CONNECTED:
            info = _json_decode(event.payload)
            st.connected = True
            st.connection_id = event.message_id
            st.connected_at_us = info.get("connected_at_us", event.received_at_us)
            st.last_seen_us = event.received_at_us
            # Events logged before the version was recorded were all 1.6 (DEFAULT_VERSION).
            version = info.get("ocpp_version", DEFAULT_VERSION)
            if version in PROTOCOLS:
                st.ocpp_version = version
                self.protocol = PROTOCOLS[version]
        elif event.action == ev.DISCONNECTED:
            if st.connection_id == event.message_id:
                st.connected = False
        elif event.action == _RESTARTED:
            st.connected = False
            st.pending_call = None
        elif event.action == ev.STATION_REGISTERED:
            registration = msgspec.json.decode(event.payload, type=Registration)
            registration.password_hash = event.private
            st.registration = registration
        elif event.action == ev.SECURITY_PROFILE_CONFIRMED and st.registration is not None:
            confirmed = msgspec.json.decode(event.payload, type=ProfileHandshake)
            enforced = max(st.registration.security_profile, confirmed.pending_profile)
            st.registration = msgspec.structs.replace(
                st.registration, security_profile=enforced,
                security_profile_pending=still_pending(st.registration.security_profile_pending, enforced))
        elif event.action == ev.STATION_DELETED:
            st.registration = None
            st.boot_status = None
        elif event.action == ev.TRANSACTION_SETTLED:
            apply_settlement(st, msgspec.json.decode(event.payload, type=Settlement))
        elif event.action == ev.CERTIFICATE_ISSUED:
            st.certificates_part().record_issued(msgspec.json.decode(event.payload, type=IssuedCertificate))
        elif event.action in (ev.CERTIFICATE_REQUEST_REFUSED, ev.CERTIFICATE_ISSUE_FAILED):
            failure = msgspec.json.decode(event.payload, type=CertificateFailure)
            st.certificates_part().record_failure(failure.reason, event.received_at_us)
        elif event.action == ev.AUTHORIZATION_DECIDED:
            decided = msgspec.json.decode(event.payload, type=AuthorizationDecided)
            tx = st.transactions.get(decided.transaction_id) if decided.transaction_id is not None else None
            # A repeated StartTransaction keeps the decision the transaction started with.
            if tx is not None and tx.authorization is None:
                tx.authorization = decided.source
