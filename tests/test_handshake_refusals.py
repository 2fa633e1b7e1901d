"""Refused handshakes recorded per station and folded per id in the gateway (pure parts)."""

from __future__ import annotations

import msgspec

from actors import events as ev
from actors.handshake_refusals import (
    FAILED_TO_AUTHENTICATE,
    HandshakeRefusals,
    failed_to_authenticate_event,
    refused_event,
)
from serve_app.knocks import PendingKnocks

S = 1_000_000
T0 = 1_800_000_000 * S


def refusals(**kw) -> HandshakeRefusals:
    return HandshakeRefusals(failures_for_event=kw.pop("failures", 5), window_s=kw.pop("window_s", 600.0), **kw)


def test_the_first_refusal_is_an_event_at_once_and_later_ones_are_folded_for_a_minute():
    table = refusals()
    assert table.refused("CP1", "no_subprotocol", T0, "10.0.0.1:1").refusals == 1
    assert [table.refused("CP1", "no_subprotocol", T0 + k * S, "10.0.0.1:1").refusals for k in range(1, 30)] == [0] * 29
    # A minute after the last event, the next one stands for every refusal since.
    assert table.refused("CP1", "bad_credentials", T0 + 60 * S, "10.0.0.2:1").refusals == 30
    view = table.view("CP1")
    assert (view.last_reason, view.last_source_address, view.since_last_success) == (
        "bad_credentials", "10.0.0.2:1", 31)
    assert view.last_at.timestamp() == (T0 + 60 * S) / S


def test_a_success_restarts_the_count_and_keeps_the_last_refusal_for_support():
    table = refusals()
    table.refused("CP1", "bad_credentials", T0, "10.0.0.1:1")
    table.refused("CP1", "bad_credentials", T0 + S, "10.0.0.1:1")
    table.succeeded("CP1")
    view = table.view("CP1")
    assert view.since_last_success == 0 and view.last_reason == "bad_credentials"
    assert table.refused("CP1", "profile_too_low", T0 + 2 * S, "10.0.0.1:1").refusals == 1  # at once again
    assert table.view("CP2") is None


def test_failed_authentications_within_the_window_raise_one_security_event():
    table = refusals(failures=5, window_s=600.0)
    raised = [table.refused("CP1", "bad_credentials", T0 + k * S, "10.0.0.1:1").security_event_failures
              for k in range(12)]
    assert raised == [0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
    assert table.view("CP1").last_security_event_at.timestamp() == (T0 + 4 * S) / S
    # Refusals that are not failed authentications do not count.
    other = refusals(failures=2)
    assert [other.refused("CP2", "no_subprotocol", T0 + k, None).security_event_failures for k in range(5)] == [0] * 5
    # A new window counts afresh; folded knocks count with their count.
    assert table.refused("CP1", "no_credentials", T0 + 700 * S, None, count=7).security_event_failures == 7


def test_failures_spread_wider_than_the_window_raise_nothing():
    table = refusals(failures=3, window_s=10.0)
    assert [table.refused("CP1", "bad_credentials", T0 + k * 6 * S, None).security_event_failures
            for k in range(6)] == [0] * 6


def test_the_events_say_why_and_from_where_and_never_carry_credentials():
    refused = refused_event("CP1", "bad_credentials", T0, "10.0.0.1:1", ("ocpp1.6",), 3, "1.6")
    assert (refused.action, refused.message_type, refused.direction) == (ev.HANDSHAKE_REFUSED, "SESSION", "system")
    assert msgspec.json.decode(refused.payload) == {"reason": "bad_credentials", "source_address": "10.0.0.1:1",
                                                    "subprotocols": ["ocpp1.6"], "refusals": 3}
    security = failed_to_authenticate_event("CP1", T0, 5, 600.0, "bad_credentials", "10.0.0.1:1", "1.6")
    payload = msgspec.json.decode(security.payload)
    assert security.action == ev.CSMS_SECURITY_EVENT
    assert payload["type"] == FAILED_TO_AUTHENTICATE and payload["critical"] is False
    assert "5 failed authentications" in payload["tech_info"]


def test_the_gateway_folds_refusals_per_station_id():
    pending = PendingKnocks()
    for k in range(100):
        assert pending.refused("h0", "CP1", "no_credentials" if k < 99 else "no_subprotocol", T0 + k,
                               "10.0.0.1:5000", ("ocpp1.6",))
    batches = pending.take()
    assert list(batches) == ["h0"] and len(batches["h0"]) == 1
    knock = batches["h0"][0]
    assert (knock.station_id, knock.result, knock.count, knock.at_us) == ("CP1", "no_subprotocol", 100, T0 + 99)
    assert pending.take() == {} and len(pending) == 0


def test_one_address_cannot_record_more_than_its_share_of_station_ids():
    pending = PendingKnocks(per_source=20, per_host=1000)
    recorded = [pending.refused("h0", f"random-{k}", "no_credentials", T0, f"10.0.0.1:{k}", ()) for k in range(500)]
    assert sum(recorded) == 20 and pending.dropped == 480
    assert pending.refused("h0", "CP-elsewhere", "no_credentials", T0, "10.0.0.2:1", ())  # another address
    assert pending.refused("h0", "random-3", "no_credentials", T0, "10.0.0.1:1", ())  # one already recorded: folded
    pending.take()
    assert pending.dropped == 0 and pending.refused("h0", "random-999", "no_credentials", T0, "10.0.0.1:1", ())


def test_a_host_gets_at_most_its_bound_of_knocks_per_interval():
    pending = PendingKnocks(per_source=10_000, per_host=50)
    for k in range(200):
        pending.refused("h0", f"CP{k}", "no_credentials", T0, f"10.0.{k}.1:1", ())
    assert len(pending.take()["h0"]) == 50
