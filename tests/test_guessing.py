"""The backoff after failed passwords (actors/guessing.py), with an injected clock."""

from __future__ import annotations

import pytest

from actors.guessing import TRUSTED_PER_STATION, BackoffRule, GuessingBackoff, source_host

ATTACKER = "203.0.113.9:40001"
STATION = "198.51.100.7:50000"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def backoff(clock, *, pair=(3, 1.0, 60.0), station=(10, 1.0, 60.0), source=(20, 1.0, 60.0), capacity=100):
    return GuessingBackoff(pair=BackoffRule(*pair), station=BackoffRule(*station), source=BackoffRule(*source),
                           capacity=capacity, clock=clock)


def fail(table, times, station_id="CP1", source=ATTACKER):
    for _ in range(times):
        table.failed(station_id, source)


def test_the_first_failures_are_free_then_each_waits_twice_as_long_up_to_the_cap():
    rule = BackoffRule(free=3, base_s=1.0, cap_s=60.0)
    assert [rule.wait_s(n) for n in range(0, 12)] == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert rule.wait_s(10_000) == 60.0  # no overflow however long it goes on


def test_a_source_waits_after_its_free_failures_and_may_try_again_when_the_wait_is_over():
    clock = Clock()
    table = backoff(clock)
    fail(table, 3)
    assert table.wait_s("CP1", ATTACKER) == 0.0
    fail(table, 1)
    assert table.wait_s("CP1", ATTACKER) == pytest.approx(1.0)
    clock.now += 0.4
    assert table.wait_s("CP1", ATTACKER) == pytest.approx(0.6)
    clock.now += 0.6
    assert table.wait_s("CP1", ATTACKER) == 0.0
    fail(table, 1)
    assert table.wait_s("CP1", ATTACKER) == pytest.approx(2.0)


def test_the_port_is_not_part_of_the_source():
    clock = Clock()
    table = backoff(clock)
    for port in range(4):
        table.failed("CP1", f"203.0.113.9:{40000 + port}")
    assert table.wait_s("CP1", "203.0.113.9:49999") == pytest.approx(1.0)
    assert source_host("[2001:db8::1]:443") == "2001:db8::1"
    assert source_host("10.0.0.7") == "10.0.0.7"
    assert source_host(None) == ""


def test_a_success_resets_the_station_and_its_source():
    clock = Clock()
    table = backoff(clock)
    fail(table, 12, source=STATION)  # the station's own address, never trusted yet
    assert table.wait_s("CP1", STATION) > 0
    clock.now += 60
    table.succeeded("CP1", STATION)
    assert table.wait_s("CP1", STATION) == 0.0
    fail(table, 1, source=STATION)
    assert table.wait_s("CP1", STATION) == 0.0  # free again: the count started over


def test_an_attacker_elsewhere_cannot_lock_out_the_station_from_its_own_address():
    clock = Clock()
    table = backoff(clock)
    table.succeeded("CP1", STATION)  # it connected before from its own address
    fail(table, 50)  # someone else guesses its password
    assert table.wait_s("CP1", ATTACKER) == pytest.approx(60.0)
    assert table.wait_s("CP1", "192.0.2.1:1") == pytest.approx(60.0)  # another address of the guesser
    assert table.wait_s("CP1", STATION) == 0.0


def test_a_station_guessed_from_many_addresses_waits_for_new_addresses_only():
    clock = Clock()
    table = backoff(clock)
    table.succeeded("CP1", STATION)
    for k in range(11):  # one failure each: no single address reaches its free failures
        table.failed("CP1", f"192.0.2.{k}:1000")
    assert table.wait_s("CP1", "192.0.2.200:1000") == pytest.approx(1.0)
    assert table.wait_s("CP1", STATION) == 0.0
    assert table.wait_s("CP2", "192.0.2.200:1000") == 0.0  # another station is not concerned


def test_one_address_trying_many_stations_waits_on_all_of_them_and_a_success_does_not_clear_it():
    clock = Clock()
    table = backoff(clock)
    for k in range(21):
        table.failed(f"CP{k}", ATTACKER)
    assert table.wait_s("CP-never-tried", ATTACKER) == pytest.approx(1.0)
    table.succeeded("CP-mine", ATTACKER)  # the guesser's own valid station
    assert table.wait_s("CP-other", ATTACKER) == pytest.approx(1.0)
    assert table.wait_s("CP-mine", ATTACKER) == 0.0  # its own station, from where it authenticated


def test_failures_are_forgotten_after_twice_the_cap():
    clock = Clock()
    table = backoff(clock, capacity=100)
    fail(table, 8)
    clock.now += 121
    table.failed("CP2", "192.0.2.1:1")  # any failure prunes what is too old
    assert table.sizes()["pairs"] == 1
    assert table.wait_s("CP1", ATTACKER) == 0.0


def test_state_stays_bounded_under_a_flood_of_addresses_and_ids():
    clock = Clock()
    table = backoff(clock, capacity=50)
    for k in range(5000):
        table.failed(f"CP{k}", f"10.{k // 256}.{k % 256}.1:1")
        table.succeeded(f"CQ{k}", f"10.{k // 256}.{k % 256}.2:1")
    sizes = table.sizes()
    assert sizes["pairs"] <= 50 and sizes["stations"] <= 50 and sizes["sources"] <= 50
    assert sizes["trusted_stations"] == 5000  # one per station that authenticated: bounded by registrations


def test_a_station_trusts_only_its_last_few_addresses():
    clock = Clock()
    table = backoff(clock)
    addresses = [f"198.51.100.{k}:1" for k in range(TRUSTED_PER_STATION + 1)]
    for address in addresses:
        table.succeeded("CP1", address)
    fail(table, 11)  # the station is guessed: untrusted addresses wait
    assert table.wait_s("CP1", addresses[0]) > 0  # the oldest is no longer trusted
    assert all(table.wait_s("CP1", a) == 0.0 for a in addresses[1:])


def test_a_deregistered_station_forgets_its_addresses():
    clock = Clock()
    table = backoff(clock)
    table.succeeded("CP1", STATION)
    table.forget("CP1")
    fail(table, 11)
    assert table.wait_s("CP1", STATION) > 0


def test_a_zero_base_turns_the_backoff_off():
    clock = Clock()
    table = backoff(clock, pair=(0, 0.0, 0.0), station=(0, 0.0, 0.0), source=(0, 0.0, 0.0))
    fail(table, 100)
    assert table.wait_s("CP1", ATTACKER) == 0.0


# --- the gateway's copy of the hosts' verdicts (serve_app/backoff_verdicts.py) ---------------


def test_a_verdict_holds_for_its_station_and_address_until_its_wait_ends():
    from serve_app.backoff_verdicts import BackoffVerdicts

    clock = Clock()
    verdicts = BackoffVerdicts(clock=clock)
    verdicts.refused("CP1", ATTACKER, 4.0)
    assert verdicts.wait_s("CP1", "203.0.113.9:1") == pytest.approx(4.0)  # any port of that address
    assert verdicts.wait_s("CP1", STATION) == 0.0 and verdicts.wait_s("CP2", ATTACKER) == 0.0
    clock.now += 4.0
    assert verdicts.wait_s("CP1", ATTACKER) == 0.0 and len(verdicts) == 0


def test_verdicts_stay_bounded():
    from serve_app.backoff_verdicts import BackoffVerdicts

    verdicts = BackoffVerdicts(capacity=100, clock=Clock())
    for k in range(1000):
        verdicts.refused("CP1", f"10.0.{k // 256}.{k % 256}:1", 60.0)
    assert len(verdicts) == 100
    assert verdicts.wait_s("CP1", "10.0.3.231:1") > 0  # the most recent kept (k = 999)
