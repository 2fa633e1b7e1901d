"""The station actor: one station's state and the serial processing of its frames, free of I/O.

A `StationSession` takes a frame and the receive time and returns the replies to send and
the events to log (`Outcome`). State changes only through `apply(event)`, which the host
also uses to rebuild the session from its snapshot and write-ahead log after a restart.
The caller (StationHost) guarantees one frame at a time per session.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping

import msgspec

from actors import events as ev
from actors import ocppj
from actors.authorizer.decision import AuthorizationDecided, AuthorizationDecision
from actors.events import Event
from actors.ocpp16 import csms_side as c16
from actors.ocpp16 import messages as m
from actors.ocpp16 import station_side as s16
from actors.station_state import IdTagRecord, Registration, StationState

# Close codes (RFC 6455 section 7.4): 1008 policy violation for a station that is no
# longer registered; 4000 (private range) for a connection replaced by a newer one.
CLOSE_UNREGISTERED = 1008
CLOSE_REPLACED = 4000

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
    # Set when the frame answered one of our CALLs: the mailbox resolves the command with it.
    answer: CommandAnswer | None = None


class StationSession:
    def __init__(self, station_id: str, policy: s16.Policy, state: StationState | None = None) -> None:
        self.station_id = station_id
        self.policy = policy
        self.state = state or StationState(station_id=station_id)

    # --- connections -------------------------------------------------------------------

    def admits(self, connection_id: str, connected_at_us: int) -> bool:
        """Whether frames of this connection still belong to the station (the newest one wins)."""
        st = self.state
        if st.registration is None:
            return False
        if st.connection_id == connection_id:
            return True
        return st.connected_at_us is None or connected_at_us >= st.connected_at_us

    def connect(self, connection_id: str, connected_at_us: int, now_us: int) -> Event:
        payload = {"connection_id": connection_id, "connected_at_us": connected_at_us}
        return self._system_event(ev.CONNECTED, connection_id, payload, now_us)

    def disconnect(self, connection_id: str, now_us: int, close_code: int | None,
                   close_reason: str = "") -> Event | None:
        if self.state.connection_id != connection_id or not self.state.connected:
            return None  # an older connection closing after its replacement arrived
        payload = {"connection_id": connection_id, "close_code": close_code, "close_reason": close_reason}
        return self._system_event(ev.DISCONNECTED, connection_id, payload, now_us)

    # --- registry ----------------------------------------------------------------------

    def register(self, registration: Registration, now_us: int) -> Event:
        public = msgspec.structs.replace(registration, password_hash="")
        # The hash must survive in the log to rebuild the registry, never in the lake.
        return self._system_event(ev.STATION_REGISTERED, "", public, now_us, private=registration.password_hash)

    def deregister(self, now_us: int) -> Event:
        return self._system_event(ev.STATION_DELETED, "", {}, now_us)

    def _system_event(self, action: str, message_id: str, payload: object, now_us: int, private: str = "") -> Event:
        """A lifecycle event the CSMS itself produces, applied before it is returned for logging."""
        event = Event(
            station_id=self.station_id,
            received_at_us=now_us,
            direction="system",
            message_type="SESSION",
            message_id=message_id,
            action=action,
            payload=_json_encode(payload).decode(),
            private=private,
        )
        self.apply(event)
        return event

    # --- frames from the station -------------------------------------------------------

    def handle(self, text: str, received_at_us: int, id_tags: Mapping[str, IdTagRecord],
               decision: AuthorizationDecision | None = None) -> Outcome:
        """`decision`: how the frame's id tag was decided beyond the local table (resolved by
        the host before this call, see actors/authorizer); the idTagInfo of the frame's
        answer (Authorize, StartTransaction, StopTransaction) comes from it, and it is logged
        right after the answer."""
        frame = ocppj.parse_frame(text)
        if isinstance(frame, ocppj.FrameError):
            inbound = self._event("in", "CALL", frame.message_id, ev.MALFORMED, text, received_at_us)
            return self._error(inbound, frame.message_id, frame.code, frame.description)
        if isinstance(frame, ocppj.CallResult | ocppj.CallError):
            # Answers to CSMS-initiated CALLs: logged (under the command's action when it is
            # the one we wait for) and folded by apply(); the mailbox resolves the operator's request.
            kind = "CALLRESULT" if isinstance(frame, ocppj.CallResult) else "CALLERROR"
            command = self.state.pending_command
            action = command[1] if command is not None and command[0] == frame.message_id else ""
            # An answer we no longer wait for (late, after a timeout) may still carry secrets:
            # mask it as the one kind of answer that can (GetConfiguration).
            masked_as = action or "GetConfiguration"
            payload = c16.loggable_result(masked_as, bytes(frame.payload).decode()) if isinstance(frame, ocppj.CallResult) else (
                _json_encode([frame.code, frame.description, frame.details]).decode()
            )
            inbound = self._event("in", kind, frame.message_id, action, payload, received_at_us)
            self.apply(inbound)
            if isinstance(frame, ocppj.CallResult):
                answer = CommandAnswer(message_id=frame.message_id, ok=True, payload=payload)
            else:
                answer = CommandAnswer(message_id=frame.message_id, ok=False, error_code=frame.code,
                                       error_description=frame.description)
            return Outcome(events=[inbound], answer=answer)
        return self._handle_call(frame, received_at_us, id_tags, decision)

    def _handle_call(self, call: ocppj.Call, received_at_us: int, id_tags: Mapping[str, IdTagRecord],
                     decision: AuthorizationDecision | None = None) -> Outcome:
        payload_text = bytes(call.payload).decode()
        entry = s16.ACTIONS.get(call.action)
        if entry is None:
            inbound = self._event("in", "CALL", call.message_id, call.action, payload_text, received_at_us)
            return self._error(inbound, call.message_id, ocppj.NOT_IMPLEMENTED, f"action {call.action!r} is not supported")
        answer, _apply, durable = entry
        try:
            request = m.decode_request(call.action, call.payload)
        except msgspec.ValidationError as exc:
            inbound = self._event("in", "CALL", call.message_id, call.action, payload_text, received_at_us)
            return self._error(inbound, call.message_id, ocppj.constraint_error_code(exc), str(exc))
        inbound = self._event(
            "in", "CALL", call.message_id, call.action, payload_text, received_at_us,
            station_ts_us=s16.station_timestamp_us(request),
        )
        if self.state.registration is None:
            outcome = self._error(inbound, call.message_id, ocppj.SECURITY_ERROR, "station is not registered")
            outcome.close_code = CLOSE_UNREGISTERED
            return outcome
        # OCPP 1.6 section 4.2.1: until its BootNotification is Accepted a station may send
        # nothing else, but what the CSMS asked for with an Accepted TriggerMessage (4.2).
        if (
            call.action != "BootNotification"
            and self.state.boot_status != "Accepted"
            and call.action not in self.state.triggered_messages
        ):
            return self._error(inbound, call.message_id, ocppj.SECURITY_ERROR, "BootNotification not accepted yet")
        if decision is not None and decision.id_tag != (getattr(request, "idTag", None) or "").upper():
            decision = None  # decided for another frame: never answer one tag with another's decision
        if decision is not None:
            id_tags = ChainMap({decision.id_tag: decision.record}, id_tags)
        ctx = s16.Context(policy=self.policy, id_tags=id_tags, now_us=received_at_us)
        answered = answer(self.state, request, ctx)
        result = _json_encode(answered).decode()
        reply = ocppj.call_result_json(call.message_id, result)
        outbound = self._event("out", "CALLRESULT", call.message_id, call.action, result, received_at_us)
        self.apply(inbound)
        self.apply(outbound)
        events = [inbound, outbound]
        if decision is not None:
            # In the same batch as the answer, so the transaction's authorization is as durable as it.
            decided = AuthorizationDecided(
                id_tag=decision.id_tag, source=decision.source, downstream=decision.downstream,
                status=answered.get("idTagInfo", {}).get("status", ""),
                transaction_id=answered.get("transactionId"),
            )
            events.append(self._system_event(ev.AUTHORIZATION_DECIDED, call.message_id, decided, received_at_us))
        return Outcome(replies=[reply], events=events, durable=durable)

    def _error(self, inbound: Event, message_id: str, code: str, description: str) -> Outcome:
        reply = ocppj.call_error(message_id, code, description)
        outbound = self._event("out", "CALLERROR", message_id, inbound.action, _json_encode([code, description, {}]).decode(), inbound.received_at_us)
        self.apply(inbound)
        self.apply(outbound)
        return Outcome(replies=[reply], events=[inbound, outbound])

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
        )

    # --- commands to the station ------------------------------------------------------

    def send_command(self, message_id: str, action: str, payload_json: str, now_us: int) -> tuple[str, Event]:
        """The CALL frame for a CSMS-initiated action and its event (already applied).

        The caller (the station's mailbox) guarantees one CALL in flight per connection.
        """
        event = self._event("out", "CALL", message_id, action, payload_json, now_us)
        self.apply(event)
        return ocppj.call_json(message_id, action, payload_json), event

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
                st.pending_call = (event.message_id, event.action, event.payload)
                # The request a TriggerMessage asked for has come: one trigger, one request.
                if event.action in st.triggered_messages:
                    st.triggered_messages.remove(event.action)
            else:
                self._apply_command_answer(event)
            return
        if event.message_type == "CALL":
            # Our command: one in flight per connection (OCPP-J 1.6 section 4.1.1), so a new
            # one replaces a command whose answer never came.
            st.pending_command = (event.message_id, event.action, event.payload)
            return
        pending = st.pending_call
        if pending is None or pending[0] != event.message_id:
            return
        st.pending_call = None
        if event.message_type != "CALLRESULT":
            return
        _answer, apply_action, _durable = s16.ACTIONS[pending[1]]
        request = m.decode_request(pending[1], pending[2].encode())
        apply_action(st, request, _json_decode(event.payload), event.received_at_us)
        if pending[1] == "StopTransaction":
            s16.forget_old_transactions(st, self.policy.completed_transactions_kept)

    def _apply_command_answer(self, event: Event) -> None:
        st = self.state
        command = st.pending_command
        if command is None or command[0] != event.message_id:
            return  # an answer to a command we stopped waiting for, or to none of ours
        st.pending_command = None
        if event.message_type == "CALLRESULT":
            # Never raises: an answer that does not decode for its action changes nothing.
            c16.apply_command_result(st, command[1], command[2], event.payload, event.received_at_us)

    def _apply_session(self, event: Event) -> None:
        st = self.state
        if event.action == ev.CONNECTED:
            info = _json_decode(event.payload)
            st.connected = True
            st.connection_id = event.message_id
            st.connected_at_us = info.get("connected_at_us", event.received_at_us)
            st.last_seen_us = event.received_at_us
        elif event.action == ev.DISCONNECTED:
            if st.connection_id == event.message_id:
                st.connected = False
        elif event.action == ev.STATION_REGISTERED:
            registration = msgspec.json.decode(event.payload, type=Registration)
            registration.password_hash = event.private
            st.registration = registration
        elif event.action == ev.STATION_DELETED:
            st.registration = None
            st.boot_status = None
        elif event.action == ev.AUTHORIZATION_DECIDED:
            decided = msgspec.json.decode(event.payload, type=AuthorizationDecided)
            tx = st.transactions.get(decided.transaction_id) if decided.transaction_id is not None else None
            # A repeated StartTransaction keeps the decision the transaction started with.
            if tx is not None and tx.authorization is None:
                tx.authorization = decided.source
