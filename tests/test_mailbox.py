"""The station mailbox: one CALL in flight per connection, the rest in order, bounded."""

from __future__ import annotations

from actors.mailbox import CommandOutcome, Mailbox, PendingCommand

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
