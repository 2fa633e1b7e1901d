"""The station mailbox: one CALL in flight per connection, the rest in order, bounded."""

from __future__ import annotations

import json

import msgspec

from actors.mailbox import CommandOutcome, Mailbox, PendingCommand
from actors.protocol import Policy
from actors.station_session import StationSession
from actors.station_state import Registration, StationState

ANSWERED = CommandOutcome(status="answered", response="{}")


def make(n: int) -> list[PendingCommand]:
    return [PendingCommand(f"m{i}", "ClearCache", "{}") for i in range(n)]


async def test_only_one_command_is_in_flight_and_the_rest_follow_in_order():
    box = Mailbox(bound=10)
    a, b, c = make(3)
    for command in (a, b, c):
        assert box.submit(command)
    assert box.next_to_send() is a
    assert box.next_to_send() is None  # the line is busy until a is answered
    assert box.resolve("m0", ANSWERED)
    assert a.future.result() is ANSWERED
    assert box.next_to_send() is b


async def test_an_answer_with_another_message_id_resolves_nothing():
    box = Mailbox(bound=10)
    (a,) = make(1)
    box.submit(a)
    box.next_to_send()
    assert not box.resolve("late-answer-of-a-timed-out-call", ANSWERED)
    assert not a.future.done() and box.in_flight is a


async def test_the_bound_counts_the_command_in_flight():
    box = Mailbox(bound=2)
    a, b, c = make(3)
    assert box.submit(a) and box.submit(b)
    box.next_to_send()
    assert not box.submit(c)
    assert len(box) == 2


async def test_an_abandoned_command_frees_the_line_or_leaves_the_queue():
    box = Mailbox(bound=10)
    a, b, c = make(3)
    for command in (a, b, c):
        box.submit(command)
    box.next_to_send()
    box.abandon(b)  # queued: just removed
    box.abandon(a)  # in flight: the line is free again
    assert box.in_flight is None
    assert box.next_to_send() is c


async def test_a_command_whose_caller_gave_up_is_never_sent():
    box = Mailbox(bound=10)
    a, b = make(2)
    box.submit(a)
    box.submit(b)
    a.future.cancel()
    assert box.next_to_send() is b


async def test_disconnect_fails_everything_waiting():
    box = Mailbox(bound=10)
    a, b = make(2)
    box.submit(a)
    box.submit(b)
    box.next_to_send()
    box.fail_all(CommandOutcome(status="disconnected"))
    assert a.future.result().status == b.future.result().status == "disconnected"
    assert len(box) == 0


# --- in a station's session: the state's record says which CALL is in flight ----------------


def connected_session() -> StationSession:
    session = StationSession("CP-LINE", Policy(), command_queue_bound=4)
    session.register(Registration(password_hash="unused"), 1)
    session.connect("gw-1", 1, 1)
    return session


def answer(session: StationSession, command: PendingCommand, at_us: int):
    return session.handle(json.dumps([3, command.message_id, {"status": "Accepted"}]), at_us, {})


async def test_the_line_is_busy_while_the_state_records_our_call_and_its_caller_waits():
    session = connected_session()
    first = session.queue_command("ClearCache", "{}", "{}")
    second = session.queue_command("ClearCache", "{}", "{}")
    assert session.next_command(2) is not None
    assert session.state.pending_command.message_id == first.message_id
    assert session.mailbox.in_flight is first
    assert session.next_command(3) is None  # one CALL in flight per connection (OCPP-J 1.6 section 4.1.1)
    outcome = answer(session, first, 4)
    # Folded: nothing is in flight any more; the caller learns the answer once it is durable.
    assert session.state.pending_command is None and session.mailbox.in_flight is None
    assert not first.future.done()
    assert session.resolve_command(outcome.answer)
    assert first.future.result().status == "answered"
    assert session.next_command(5) is not None and session.mailbox.in_flight is second


async def test_a_caller_that_gave_up_frees_the_line_and_a_late_answer_completes_nobody():
    session = connected_session()
    first = session.queue_command("ClearCache", "{}", "{}")
    second = session.queue_command("ClearCache", "{}", "{}")
    session.next_command(2)
    session.mailbox.abandon(first)  # the operator's timeout
    # The CALL is still unanswered as far as the state knows, but nobody waits for it.
    assert session.state.pending_command.message_id == first.message_id
    assert session.mailbox.in_flight is None
    assert session.next_command(3) is not None
    assert session.state.pending_command.message_id == second.message_id
    late = answer(session, first, 4)
    assert late.answer is None and late.events[0].action == ""
    assert session.state.pending_command.message_id == second.message_id and not second.future.done()


async def test_after_a_host_restart_no_caller_waits_so_the_line_is_free():
    session = connected_session()
    session.queue_command("ClearCache", "{}", "{}")
    session.next_command(2)
    # What a restarted host rebuilds from snapshot + log: the state, no callers.
    rebuilt = StationSession("CP-LINE", Policy(), state=msgspec.msgpack.decode(
        msgspec.msgpack.encode(session.state), type=StationState), command_queue_bound=4)
    rebuilt.restarted()
    rebuilt.connect("gw-1", 1, 3)  # the gateway re-attaches the open socket
    assert rebuilt.state.pending_command == session.state.pending_command
    assert rebuilt.mailbox.in_flight is None
    again = rebuilt.queue_command("ClearCache", "{}", "{}")
    assert rebuilt.next_command(4) is not None and rebuilt.mailbox.in_flight is again
