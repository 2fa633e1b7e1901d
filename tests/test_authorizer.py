"""External authorization that fails well (issue 6): the circuit breaker, the answer cache and
the policies on their own; the HTTP client and the host's resolver against a real local HTTP
server that answers, hangs, fails and recovers; and real OCPP stations through the whole CSMS
(whose session config points at that server, tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from ocpp.v16 import call

from actors import directory
from actors import events as ev
from actors.authorizer import decision as d
from actors.authorizer.breaker import CircuitBreaker
from actors.authorizer.cache import AnswerCache
from actors.authorizer.client import DownstreamClient
from actors.authorizer.resolver import Authorizer
from actors.config import Config
from actors.station_state import IdTagRecord
from tests.authorizer_server import AuthorizerServer
from tests.conftest import AUTHORIZER_TOKEN, VIEWER_TOKEN, register_station
from tests.polling import wait_until
from tests.stations import connected_station
from tests.test_station_session import VALID, Station, builtins, ts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_tag(prefix: str = "EXT") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


# ================================================================================================
# The circuit breaker
# ================================================================================================


def test_breaker_opens_after_consecutive_failures_and_then_fails_fast():
    clock = Clock()
    breaker = CircuitBreaker(3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 9.9
    assert not breaker.allow()
    assert breaker.status().probe_in_s == pytest.approx(0.1, abs=1e-6)


def test_breaker_success_resets_the_failure_count():
    breaker = CircuitBreaker(2, cooldown_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.consecutive_failures == 1


def test_breaker_lets_one_half_open_probe_through_after_the_cooldown_and_closes_on_its_success():
    clock = Clock()
    changes: list[str] = []
    breaker = CircuitBreaker(1, cooldown_s=5, clock=clock, on_change=changes.append)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()  # the probe
    assert breaker.state == "half_open"
    assert not breaker.allow()  # everyone else still fails fast while it is out
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()
    assert changes == ["open", "half_open", "closed"]


def test_breaker_opens_again_when_the_probe_fails():
    clock = Clock()
    breaker = CircuitBreaker(3, cooldown_s=5, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.times_opened == 2
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()


# ================================================================================================
# The answer cache and the policy
# ================================================================================================

S = 1_000_000  # microseconds


def test_cache_serves_an_answer_until_the_downstreams_expiry():
    cache = AnswerCache(10, max_age_s=3600)
    cache.store("A", IdTagRecord(status="Accepted", expiry_us=100 * S), now_us=10 * S)
    assert cache.lookup("A", 99 * S) == IdTagRecord(status="Accepted", expiry_us=100 * S)
    assert cache.lookup("A", 100 * S) is None
    assert len(cache) == 0


def test_cache_forgets_answers_older_than_the_maximum_age():
    cache = AnswerCache(10, max_age_s=60)
    cache.store("A", IdTagRecord(status="Blocked"), now_us=0)
    assert cache.lookup("A", 59 * S) is not None
    assert cache.lookup("A", 60 * S) is None


def test_cache_is_bounded_and_drops_the_oldest_answer():
    cache = AnswerCache(2, max_age_s=60)
    for n, tag in enumerate(["A", "B", "C"]):
        cache.store(tag, IdTagRecord(), now_us=n)
    assert len(cache) == 2 and cache.lookup("A", 3) is None and cache.lookup("C", 3) is not None


def test_cache_does_not_keep_an_answer_that_has_already_expired():
    cache = AnswerCache(2, max_age_s=60)
    cache.store("A", IdTagRecord(expiry_us=5), now_us=10)
    assert len(cache) == 0


@pytest.mark.parametrize(("policy", "status"), [("free_vending", "Accepted"), ("local_only", "Invalid"),
                                                ("reject", "Invalid")])
def test_policy_decides_a_tag_nobody_can_vouch_for(policy, status):
    decision = d.without_downstream("T", "unavailable", policy, local=None, cached=None)
    assert (decision.source, decision.record.status, decision.downstream) == (policy, status, "unavailable")


@pytest.mark.parametrize("policy", ["free_vending", "local_only", "reject"])
def test_local_table_wins_over_every_policy(policy):
    local = IdTagRecord(status="Blocked")
    cached = IdTagRecord(status="Accepted")
    assert d.without_downstream("T", "breaker_open", policy, local, cached).source == "local"


@pytest.mark.parametrize("policy", ["free_vending", "local_only"])
def test_cache_vouches_for_a_tag_under_lenient_policies(policy):
    cached = IdTagRecord(status="Accepted")
    from_cache = d.without_downstream("T", "breaker_open", policy, None, cached)
    assert from_cache.source == "cache" and from_cache.record == cached


def test_reject_policy_ignores_cached_answers():
    cached = IdTagRecord(status="Accepted")
    decision = d.without_downstream("T", "breaker_open", "reject", None, cached)
    assert (decision.source, decision.record.status) == ("reject", "Invalid")


# ================================================================================================
# The session answers from the decision it is given and logs it (pure, replayable)
# ================================================================================================


def decide(station: Station, action: str, payload: dict, decision: d.AuthorizationDecision) -> dict:
    station.clock_us += 1_000_000
    outcome = station.session.handle(json.dumps([2, f"x{station.clock_us}", action, payload]),
                                     station.clock_us, station.id_tags, decision)
    station.log.extend(outcome.events)
    return {"reply": json.loads(outcome.replies[0])[2], "events": outcome.events}


def test_session_answers_authorize_from_the_decision_and_logs_which_source_decided():
    station = Station()
    decision = d.AuthorizationDecision(id_tag="ROAMING1", source="downstream", downstream="answered",
                                       record=IdTagRecord(status="Accepted", parent_id_tag="FLEET"))
    result = decide(station, "Authorize", {"idTag": "roaming1"}, decision)
    assert result["reply"] == {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}
    decided = result["events"][-1]
    assert (decided.action, decided.direction, decided.message_type) == (ev.AUTHORIZATION_DECIDED, "system", "SESSION")
    assert json.loads(decided.payload) == {"id_tag": "ROAMING1", "source": "downstream", "downstream": "answered",
                                           "status": "Accepted"}


def test_free_vending_start_marks_the_transaction_and_replay_rebuilds_it_without_the_downstream():
    station = Station()
    decision = d.without_downstream("NEWCARD", "breaker_open", "free_vending", None, None)
    result = decide(station, "StartTransaction", {**VALID["StartTransaction"], "idTag": "NEWCARD"}, decision)
    tx_id = result["reply"]["transactionId"]
    assert result["reply"]["idTagInfo"] == {"status": "Accepted"}
    assert station.state.transactions[tx_id].authorization == "free_vending"
    assert json.loads(result["events"][-1].payload)["transaction_id"] == tx_id
    assert builtins(station.replayed().state) == builtins(station.state)


def test_repeated_start_keeps_the_decision_the_transaction_started_with():
    station = Station()
    payload = {**VALID["StartTransaction"], "idTag": "NEWCARD"}
    first = decide(station, "StartTransaction", payload, d.without_downstream("NEWCARD", "unavailable", "free_vending", None, None))
    again = decide(station, "StartTransaction", payload, d.answered("NEWCARD", IdTagRecord(status="Accepted")))
    assert again["reply"]["transactionId"] == first["reply"]["transactionId"]
    assert station.state.transactions[first["reply"]["transactionId"]].authorization == "free_vending"


def test_decision_for_another_id_tag_is_not_used():
    station = Station()
    decision = d.answered("SOMEONE", IdTagRecord(status="Accepted"))
    result = decide(station, "Authorize", {"idTag": "UNKNOWN9"}, decision)
    assert result["reply"] == {"idTagInfo": {"status": "Invalid"}}
    assert all(e.action != ev.AUTHORIZATION_DECIDED for e in result["events"])


def test_downstream_expiry_in_the_past_answers_expired():
    station = Station()
    past = station.clock_us - 1
    result = decide(station, "Authorize", {"idTag": "OLDCARD"},
                    d.answered("OLDCARD", IdTagRecord(status="Accepted", expiry_us=past)))
    assert result["reply"]["idTagInfo"]["status"] == "Expired"


# ================================================================================================
# The HTTP client and the resolver against a real local HTTP server
# ================================================================================================


@pytest.fixture
def server():
    downstream = AuthorizerServer()
    yield downstream
    downstream.close()


def client_for(server: AuthorizerServer, *, deadline_s: float = 2.0, attempt_timeout_s: float = 0.5,
               backoff_s: float = 0.05, failures: int = 100, cooldown_s: float = 30.0,
               token: str | None = None, breaker_clock: Clock | None = None) -> DownstreamClient:
    breaker = CircuitBreaker(failures, cooldown_s, **({"clock": breaker_clock} if breaker_clock else {}))
    return DownstreamClient(server.url, token, deadline_s=deadline_s, attempt_timeout_s=attempt_timeout_s,
                            backoff_s=backoff_s, breaker=breaker)


class WallClock:
    """The authorizer's wall clock in microseconds, set by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> int:
        return int(self.at.timestamp() * 1_000_000)


def authorizer_for(server: AuthorizerServer, clock_us: Callable[[], int] | None = None, **overrides) -> Authorizer:
    settings = dict(authorizer_url=server.url, authorizer_deadline_s=0.6, authorizer_attempt_timeout_s=0.2,
                    authorizer_backoff_s=0.02, authorizer_breaker_failures=100)
    settings.update(overrides)
    return Authorizer(Config(**settings), "station-host-test", token="", **({"clock_us": clock_us} if clock_us else {}))


async def test_failures_are_retried_with_exponential_backoff_seen_at_the_server(server):
    server.answer("ROAM1", "Accepted")
    server.behave("answer", 500, 503, 429, 502)
    client = client_for(server, backoff_s=0.05, deadline_s=5)
    try:
        result = await client.authorize("ROAM1", "CP-1")
    finally:
        await client.close()
    assert result.outcome == "answered" and result.answer.status == "Accepted" and result.attempts == 5
    arrivals = [r.at for r in server.requests_for("ROAM1")]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # Retry n waits backoff * 2^(n-1) * [0.5, 1): each gap at least the previous one's floor.
    for n, gap in enumerate(gaps):
        assert gap >= 0.05 * 2**n * 0.5, gaps
    assert gaps[-1] > gaps[0]
    assert client.counters.retries == 4 and client.counters.server_errors == 3 and client.counters.throttled == 1


async def test_client_errors_other_than_429_are_not_retried(server):
    server.behave(400)
    client = client_for(server)
    try:
        result = await client.authorize("ROAM2", "CP-1")
    finally:
        await client.close()
    assert result.outcome == "refused" and result.attempts == 1
    assert len(server.requests_for("ROAM2")) == 1


async def test_retry_after_of_a_429_is_honoured_within_the_deadline(server):
    server.answer("ROAM3", "Accepted")
    server.retry_after = "0.4"
    server.behave("answer", 429)
    client = client_for(server, backoff_s=0.01)
    try:
        result = await client.authorize("ROAM3", "CP-1")
    finally:
        await client.close()
    first, second = server.requests_for("ROAM3")
    assert result.outcome == "answered" and second.at - first.at >= 0.4


async def test_an_answer_outside_the_contract_counts_as_no_answer(server):
    server.answer("ROAM4", "Maybe")
    client = client_for(server)
    try:
        result = await client.authorize("ROAM4", "CP-1")
    finally:
        await client.close()
    assert result.outcome == "refused" and client.counters.refused == 1


async def test_the_token_goes_to_the_downstream_as_a_bearer_token(server):
    client = client_for(server, token="s3cret-token")
    try:
        await client.authorize("ROAM5", "CP-9")
    finally:
        await client.close()
    [seen] = server.requests_for("ROAM5")
    assert seen.authorization == "Bearer s3cret-token" and seen.station_id == "CP-9"


async def test_a_hanging_downstream_is_given_up_at_the_deadline(server):
    server.behave("hang")
    client = client_for(server, deadline_s=1.0, attempt_timeout_s=0.3, backoff_s=0.05)
    started = time.monotonic()
    try:
        result = await client.authorize("ROAM6", "CP-1")
    finally:
        await client.close()
    elapsed = time.monotonic() - started
    assert result.outcome == "unavailable" and result.attempts >= 2
    assert elapsed < 1.0 + 0.2, elapsed
    assert client.counters.timeouts == result.attempts


async def test_breaker_opens_fails_fast_then_closes_after_a_successful_half_open_probe(server):
    server.behave(500)
    clock = Clock()
    client = client_for(server, failures=3, cooldown_s=30, backoff_s=0.01, deadline_s=0.5, breaker_clock=clock)
    try:
        first = await client.authorize("ROAM7", "CP-1")
        assert first.outcome == "unavailable" and client.breaker.state == "open"
        seen = len(server.received)
        fast = await client.authorize("ROAM7", "CP-1")
        assert fast.outcome == "breaker_open" and fast.attempts == 0
        assert len(server.received) == seen  # failing fast: the downstream is left alone
        server.answer("ROAM7", "Accepted")
        server.behave("answer")
        clock.now += 29.9
        early = await client.authorize("ROAM7", "CP-1")
        assert early.outcome == "breaker_open" and len(server.received) == seen  # still cooling down
        clock.now += 0.1  # the cool-down is over: one probe goes through
        probe = await client.authorize("ROAM7", "CP-1")
        assert probe.outcome == "answered" and probe.attempts == 1
        assert client.breaker.state == "closed" and client.breaker.times_opened == 1
    finally:
        await client.close()


@pytest.mark.parametrize(("policy", "source", "status"), [
    ("free_vending", "free_vending", "Accepted"), ("local_only", "local_only", "Invalid"), ("reject", "reject", "Invalid")])
async def test_each_policy_decides_when_the_downstream_cannot_answer(server, policy, source, status):
    server.behave(503)
    authorizer = authorizer_for(server, authorizer_policy=policy)
    try:
        decision = await authorizer.decide("NOBODY1", "CP-1", {})
    finally:
        await authorizer.close()
    assert (decision.source, decision.record.status, decision.downstream) == (source, status, "unavailable")
    assert authorizer.status().decisions == {source: 1}


async def test_cached_answer_serves_a_tag_while_the_downstream_is_down_until_its_expiry(server):
    start = datetime.now(timezone.utc)
    expiry = start + timedelta(hours=1)
    server.answer("CACHED1", "Accepted", expiry_date=expiry.isoformat(), parent_id_tag="FLEET1")
    clock = WallClock(start)
    authorizer = authorizer_for(server, authorizer_policy="local_only", clock_us=clock)
    try:
        fresh = await authorizer.decide("CACHED1", "CP-1", {})
        server.behave(503)
        clock.at = expiry - timedelta(microseconds=1)
        just_before = await authorizer.decide("CACHED1", "CP-2", {})
        clock.at = expiry
        at_expiry = await authorizer.decide("CACHED1", "CP-2", {})
    finally:
        await authorizer.close()
    assert fresh.source == "downstream"
    assert just_before.source == "cache" and just_before.record == fresh.record
    assert just_before.record.parent_id_tag == "FLEET1"
    # Not used at or after the tag's expiry (the cache's rule): the policy decides instead.
    assert at_expiry.source == "local_only" and at_expiry.record.status == "Invalid"


async def test_a_fresh_answer_wins_over_the_cache_while_the_downstream_is_up(server):
    server.answer("CARD2", "Accepted")
    authorizer = authorizer_for(server)
    try:
        await authorizer.decide("CARD2", "CP-1", {})
        server.answer("CARD2", "Blocked")
        later = await authorizer.decide("CARD2", "CP-1", {})
    finally:
        await authorizer.close()
    assert later.source == "downstream" and later.record.status == "Blocked"


def authorize_frame(tag: str, message_id: str = "m1") -> str:
    return json.dumps([2, message_id, "Authorize", {"idTag": tag}])


async def test_unknown_only_mode_asks_only_about_tags_the_local_table_does_not_know(server):
    authorizer = authorizer_for(server)
    local = {"LOCAL1": IdTagRecord()}
    try:
        assert authorizer.wanted(authorize_frame("local1"), local) is None
        assert authorizer.wanted(authorize_frame("other1"), local) == ("Authorize", "m1", "OTHER1")
        assert authorizer.wanted(json.dumps([2, "m2", "Heartbeat", {}]), local) is None
        assert authorizer.wanted(json.dumps([2, "m3", "Authorize", {"idTag": 5}]), local) is None
    finally:
        await authorizer.close()


async def test_all_mode_asks_about_every_tag_and_falls_back_to_the_local_table(server):
    server.answer("LOCAL2", "Blocked")
    authorizer = authorizer_for(server, authorizer_mode="all")
    local = {"LOCAL2": IdTagRecord(status="Accepted")}
    try:
        assert authorizer.wanted(authorize_frame("LOCAL2"), local) == ("Authorize", "m1", "LOCAL2")
        assert (await authorizer.decide("LOCAL2", "CP-1", local)).record.status == "Blocked"
        server.behave(503)
        fallback = await authorizer.decide("LOCAL2", "CP-1", local)
    finally:
        await authorizer.close()
    # The downstream's cached Blocked is newer knowledge, but the local table is ours: it wins.
    assert fallback.source == "local" and fallback.record.status == "Accepted"


async def test_a_frame_is_deferred_until_its_decision_is_ready_then_handed_over_once(server):
    server.answer("DEFER1", "Accepted")
    authorizer = authorizer_for(server)
    frame = authorize_frame("DEFER1")
    try:
        pending = authorizer.decision_for("CP-1", "conn-1", 77, frame, {})
        assert isinstance(pending, asyncio.Task)
        assert authorizer.decision_for("CP-1", "conn-1", 77, frame, {}) is pending  # no second request
        await pending
        decision = authorizer.decision_for("CP-1", "conn-1", 77, frame, {})
        assert isinstance(decision, d.AuthorizationDecision) and decision.source == "downstream"
        assert authorizer.status().decisions_pending == 0
    finally:
        await authorizer.close()
    assert len(server.requests_for("DEFER1")) == 1


async def test_decisions_nobody_comes_back_for_are_swept(server, monkeypatch):
    from actors.authorizer import resolver

    monkeypatch.setattr(resolver, "UNCLAIMED_DECISION_TTL_S", 0.0)
    authorizer = authorizer_for(server)
    try:
        await authorizer.decision_for("CP-1", "conn-1", 5, authorize_frame("GONE1"), {})
        assert authorizer.sweep() == 1
        assert isinstance(authorizer.decision_for("CP-1", "conn-1", 5, authorize_frame("GONE1"), {}), asyncio.Task)
        assert authorizer.sweep() == 0  # still deciding: kept
    finally:
        await authorizer.close()


async def test_stop_transaction_is_answered_from_the_cache_at_once_without_asking(server):
    server.answer("ROAMSTOP", "Accepted", parent_id_tag="FLEET2")
    authorizer = authorizer_for(server)
    stop = json.dumps([2, "m9", "StopTransaction", {"transactionId": 1, "idTag": "roamstop", "meterStop": 5,
                                                    "timestamp": ts(9)}])
    try:
        assert authorizer.decision_for("CP-1", "conn-1", 78, stop, {}) is None  # nothing known: as before
        await authorizer.decide("ROAMSTOP", "CP-1", {})
        server.behave("hang")
        decision = authorizer.decision_for("CP-1", "conn-1", 78, stop, {})
    finally:
        await authorizer.close()
    assert isinstance(decision, d.AuthorizationDecision)
    assert (decision.source, decision.downstream, decision.record.parent_id_tag) == ("cache", "not_asked", "FLEET2")
    assert len(server.requests_for("ROAMSTOP")) == 1


def test_stop_transaction_answer_uses_a_cached_decision_and_leaves_the_transaction_alone():
    station = Station()
    started = station.answer("StartTransaction", {**VALID["StartTransaction"], "idTag": "TAG1"})
    result = decide(station, "StopTransaction",
                    {"transactionId": started["transactionId"], "idTag": "ROAMSTOP", "meterStop": 1500, "timestamp": ts(9)},
                    d.from_cache("ROAMSTOP", IdTagRecord(status="Accepted")))
    assert result["reply"] == {"idTagInfo": {"status": "Accepted"}}
    assert station.state.transactions[started["transactionId"]].authorization is None
    assert builtins(station.replayed().state) == builtins(station.state)


@pytest.mark.parametrize("url", ["ftp://hub.example/a", "hub.example/authorize", "http:///no-host"])
def test_an_authorizer_url_that_is_not_http_is_refused_before_anything_starts(url):
    from actors.authorizer.resolver import check_settings

    with pytest.raises(ValueError, match="authorizer_url") as refused:
        check_settings(Config(authorizer_url=url))
    assert url not in str(refused.value)


def test_authorizer_settings_come_from_the_environment_and_are_checked():
    from actors.config import load_config

    config = load_config(env={"CSMS_AUTHORIZER_URL": "https://hub.example/authorize",
                              "CSMS_AUTHORIZER_POLICY": "reject", "CSMS_AUTHORIZER_DEADLINE_S": "1.5"})
    assert (config.authorizer_url, config.authorizer_policy, config.authorizer_deadline_s) == (
        "https://hub.example/authorize", "reject", 1.5)
    with pytest.raises(ValueError, match="authorizer_breaker_failures"):
        load_config(env={"CSMS_AUTHORIZER_BREAKER_FAILURES": "0"})


# ================================================================================================
# Real stations through the whole CSMS (session config: free_vending, deadline 2 s, breaker
# after 4 failures, cool-down 1 s; see tests/conftest.py)
# ================================================================================================


@pytest.fixture
async def downstream(csms, authorizer_server):
    """The session's authorizer server, answering normally; every breaker closed again afterwards
    so later tests see a healthy downstream."""
    authorizer_server.reset()
    yield authorizer_server
    authorizer_server.reset()
    await close_breakers(csms)


async def authorization_status(csms, token: str | None = None) -> dict:
    async with csms.api() as api:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = await api.get("/api/authorization", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def host_status(csms, host: str) -> dict:
    [status] = [h for h in (await authorization_status(csms))["hosts"] if h["host"] == host]
    return status


def station_on(csms, host: str) -> str:
    hosts = directory.host_names(csms.config.station_hosts)
    while True:
        station_id = f"CP-{uuid.uuid4().hex[:10]}"
        if directory.host_for(station_id, hosts) == host:
            return station_id


async def close_breakers(csms) -> None:
    """Probe every host whose breaker is not closed with a fresh tag, once its cool-down is over."""
    for host in directory.host_names(csms.config.station_hosts):
        async def closed(host: str = host) -> bool:
            breaker = (await host_status(csms, host))["breaker"]
            if breaker["state"] == "closed":
                return True
            if not breaker["probe_in_s"]:  # cooled down (or half-open): probe it
                station_id = station_on(csms, host)
                await register_station(csms, station_id)
                async with connected_station(csms.ws_url, station_id) as station:
                    await boot(station)
                    await station.call(call.Authorize(id_tag=new_tag("PROBE")))
            return False

        await wait_until(closed, 20, f"the breaker of {host} to close")


async def open_breaker(csms, host: str, station) -> None:
    """Send Authorizes of unknown tags (the downstream failing) until the host's breaker opens."""
    async def opened() -> bool:
        if (await host_status(csms, host))["breaker"]["state"] == "open":
            return True
        await station.call(call.Authorize(id_tag=new_tag("FAIL")))
        return False

    await wait_until(opened, 30, f"the breaker of {host} to open", interval=0)


async def cooled_down(csms, host: str) -> None:
    """Until the open breaker of `host` lets its probe through (its cool-down runs in the host's clock)."""
    async def over() -> bool:
        return (await host_status(csms, host))["breaker"]["probe_in_s"] == 0

    await wait_until(over, 10, f"the cool-down of {host}'s breaker", interval=0.05)


async def boot(station) -> None:
    result = await station.call(call.BootNotification(charge_point_model="M1", charge_point_vendor="Acme"))
    assert result.status == "Accepted"


async def recent_events(csms, station_id: str) -> list[dict]:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}/events", params={"limit": 500})
    return response.json()["events"]


def decided(events: list[dict]) -> list[dict]:
    return [e["payload"] for e in events if e["action"] == ev.AUTHORIZATION_DECIDED]


@pytest.mark.ray
async def test_unknown_tag_is_authorized_by_the_downstream(csms, downstream, station_id):
    tag = new_tag("ROAM")
    downstream.answer(tag, "Accepted", expiry_date="2030-01-01T00:00:00Z", parent_id_tag="FLEET9")
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        auth = await station.call(call.Authorize(id_tag=tag.lower()))
    # (the ocpp library hands payloads over in snake case)
    assert auth.id_tag_info == {"status": "Accepted", "expiry_date": "2030-01-01T00:00:00Z", "parent_id_tag": "FLEET9"}
    [seen] = downstream.requests_for(tag)
    assert seen.station_id == station_id and seen.authorization == f"Bearer {AUTHORIZER_TOKEN}"
    assert decided(await recent_events(csms, station_id)) == [
        {"id_tag": tag, "source": "downstream", "downstream": "answered", "status": "Accepted"}]


@pytest.mark.ray
async def test_station_gets_its_answer_within_the_deadline_while_the_downstream_hangs(csms, downstream, station_id):
    downstream.behave("hang")
    tag = new_tag("HANG")
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        started = time.monotonic()
        auth = await station.call(call.Authorize(id_tag=tag))
        auth_s = time.monotonic() - started
        started = time.monotonic()
        start = await station.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=100,
                                                         timestamp=ts(5)))
        start_s = time.monotonic() - started
    # The deadline is 2 s; the rest is processing and the gateway's round trips.
    assert auth_s < 2.0 + 1.0 and start_s < 2.0 + 1.0, (auth_s, start_s)
    # free_vending: accepted, and the transaction is marked for billing to reconcile.
    assert auth.id_tag_info["status"] == "Accepted" and start.id_tag_info["status"] == "Accepted"
    async with csms.api() as api:
        [tx] = (await api.get("/api/transactions", params={"station_id": station_id})).json()["transactions"]
    assert tx["authorization"] == "free_vending" and tx["authorized_offline"] is True
    start_decided, auth_decided = decided(await recent_events(csms, station_id))  # newest first
    assert (auth_decided["source"], auth_decided["downstream"]) == ("free_vending", "unavailable")
    assert start_decided["source"] == "free_vending" and start_decided["transaction_id"] == start.transaction_id
    # Four timed-out attempts opened the breaker: the start was decided without even asking.
    assert start_decided["downstream"] in ("unavailable", "breaker_open")


@pytest.mark.ray
async def test_other_stations_are_not_held_up_by_a_slow_authorization(csms, downstream):
    host = directory.host_names(csms.config.station_hosts)[0]
    slow_id, fast_id = station_on(csms, host), station_on(csms, host)
    await register_station(csms, slow_id)
    await register_station(csms, fast_id)
    downstream.behave("hang")
    tag = new_tag("SLOW")
    async with contextlib.AsyncExitStack() as stack:
        slow = await stack.enter_async_context(connected_station(csms.ws_url, slow_id))
        await boot(slow)
        # Both on one gateway replica, so on one link to the host: the harshest case, where a
        # batch waiting for the slow decision would hold the other station's frames too.
        for _ in range(20):
            fast = await stack.enter_async_context(connected_station(csms.ws_url, fast_id))
            await boot(fast)
            if await gateway_replica(csms, fast_id) == await gateway_replica(csms, slow_id):
                break
        else:
            pytest.fail("could not get both stations onto one gateway replica")
        waiting = asyncio.create_task(slow.call(call.Authorize(id_tag=tag)))
        await downstream.wait_for_requests(tag, 1)
        await fast.call(call.Heartbeat())
        await fast.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        assert not waiting.done()
        assert (await waiting).id_tag_info["status"] == "Accepted"  # free_vending


async def gateway_replica(csms, station_id: str) -> str:
    """The gateway replica holding the station's socket (connection ids are `<replica>-<n>`)."""
    async with csms.api() as api:
        view = (await api.get(f"/api/stations/{station_id}")).json()
    return view["connection_id"].rsplit("-", 1)[0]


@pytest.mark.ray
async def test_breaker_opens_and_closes_and_operators_see_it(csms, downstream):
    host = directory.host_names(csms.config.station_hosts)[1]
    station_id = station_on(csms, host)
    await register_station(csms, station_id)
    downstream.behave(500)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        # Each decision makes up to a few attempts; 4 consecutive failures open the breaker.
        await open_breaker(csms, host, station)
        status = (await authorization_status(csms, VIEWER_TOKEN))
        [opened] = [h for h in status["hosts"] if h["host"] == host]
        assert status["policy"] == "free_vending" and opened["downstream"]["server_errors"] >= 4
        assert opened["breaker"]["times_opened"] >= 1
        # Open: fails fast, the downstream sees nothing, the station gets the policy's answer.
        tag = new_tag("FAST")
        auth = await station.call(call.Authorize(id_tag=tag))
        assert auth.id_tag_info["status"] == "Accepted" and downstream.requests_for(tag) == []
        assert decided(await recent_events(csms, station_id))[0]["downstream"] == "breaker_open"
        # Recovered downstream: after the cool-down one probe goes through and closes it.
        downstream.answer(tag, "Blocked")
        downstream.behave("answer")
        await cooled_down(csms, host)
        probed = await station.call(call.Authorize(id_tag=tag))
    assert probed.id_tag_info["status"] == "Blocked" and len(downstream.requests_for(tag)) == 1
    assert (await host_status(csms, host))["breaker"]["state"] == "closed"


@pytest.mark.ray
async def test_cached_answers_keep_working_while_the_downstream_is_down(csms, downstream, station_id):
    accepted, blocked = new_tag("OK"), new_tag("BLK")
    downstream.answer(accepted, "Accepted")
    downstream.answer(blocked, "Blocked")
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        await station.call(call.Authorize(id_tag=accepted))
        await station.call(call.Authorize(id_tag=blocked))
        downstream.behave(503)
        again = await station.call(call.Authorize(id_tag=accepted))
        still_blocked = await station.call(call.Authorize(id_tag=blocked))
    assert again.id_tag_info["status"] == "Accepted"
    # free_vending accepts only tags nobody vouches for: a cached Blocked stays blocked.
    assert still_blocked.id_tag_info["status"] == "Blocked"
    latest = decided(await recent_events(csms, station_id))[:2]  # newest first
    assert [(p["id_tag"], p["source"]) for p in latest] == [(blocked, "cache"), (accepted, "cache")]


@pytest.mark.ray
async def test_locally_known_tags_never_wait_for_the_downstream(csms, downstream, station_id):
    from tests.conftest import put_id_tag

    tag = new_tag("LOCAL")
    await put_id_tag(csms, tag)
    downstream.behave("hang")
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        auth = await station.call(call.Authorize(id_tag=tag))
    assert auth.id_tag_info["status"] == "Accepted" and downstream.requests_for(tag) == []
    assert decided(await recent_events(csms, station_id)) == []


@pytest.mark.ray
async def test_a_restarted_host_rebuilds_the_transactions_authorization_without_asking_the_downstream(csms, downstream):
    import ray

    host = directory.host_names(csms.config.station_hosts)[0]
    station_id = station_on(csms, host)
    tag = new_tag("REPLAY")
    downstream.answer(tag, "Accepted")
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        start = await station.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=7, timestamp=ts(3)))
    actor = directory.get_actor(host)
    before = ray.get(actor.stats.remote(), timeout=30)["incarnation"]
    ray.kill(actor, no_restart=False)  # SIGKILL; Ray restarts it and it replays its log

    def restarted() -> bool:
        try:
            return ray.get(actor.stats.remote(), timeout=5)["incarnation"] != before
        except ray.exceptions.RayError:
            return False

    await wait_until(restarted, 60, "Ray to restart the host")
    async with csms.api() as api:
        [tx] = (await api.get("/api/transactions", params={"station_id": station_id})).json()["transactions"]
    assert tx["transaction_id"] == start.transaction_id
    assert tx["authorization"] == "downstream" and tx["authorized_offline"] is False
    assert len(downstream.requests_for(tag)) == 1


async def breaker_metric_reaches(csms, host: str, value: str) -> None:
    """Poll Ray's Prometheus export until this host's breaker gauge reads `value`."""
    import httpx
    import ray

    port = ray._private.worker.global_worker.node.metrics_export_port
    async with httpx.AsyncClient(timeout=5) as client:
        async def reads_value() -> bool:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            return any(line.startswith("ray_csms_authorizer_breaker_open{") and f'host="{host}"' in line
                       and line.endswith(f" {value}") for line in text.splitlines())

        # Ray exports metrics about every 10 s.
        await wait_until(reads_value, 45, f"the breaker gauge of {host} to read {value}", interval=0.5)


@pytest.mark.ray
async def test_an_open_breaker_shows_in_rays_metrics(csms, downstream):
    host = directory.host_names(csms.config.station_hosts)[1]
    # Closed first (earlier tests may have opened and closed it), so the 1 below is this test's.
    await breaker_metric_reaches(csms, host, "0.0")
    station_id = station_on(csms, host)
    await register_station(csms, station_id)
    downstream.behave(500)
    async with connected_station(csms.ws_url, station_id) as station:
        await boot(station)
        await open_breaker(csms, host, station)
    await breaker_metric_reaches(csms, host, "1.0")


# ================================================================================================
# Late decisions are delivered, not polled (issue 10, point 5)
# ================================================================================================


@contextlib.asynccontextmanager
async def host_with_two_stations(server: AuthorizerServer, data_root):
    """A real StationHost in this process (tests/local_host.py) asking the real hub, and two
    booted stations on one gateway replica."""
    from tests.local_host import close, local_host
    from tests.test_version_seam import booted, registered

    host = local_host(data_root, authorizer_url=server.url, authorizer_deadline_s=2.0,
                      authorizer_attempt_timeout_s=1.0, authorizer_backoff_s=0.02)
    try:
        stations = await registered(host, "CP-SLOW-1", "CP-FAST-2")
        for station in stations:
            await booted(host, station)
        yield host, *stations
    finally:
        close(host)
        await host.authorizer.close()


async def test_a_late_decision_is_delivered_through_the_outbound_poll_while_neighbours_go_on(server, tmp_path):
    from actors.host_protocol import decode_outbound, replica_of
    from tests.local_host import batch

    tag = new_tag("LATE")
    server.answer(tag, "Accepted", parent_id_tag="FLEET5")
    server.answer_delay_s = 0.5
    async with host_with_two_stations(server, tmp_path) as (host, slow, fast):
        authorize = slow.frame([2, "a1", "Authorize", {"idTag": tag}])
        started = time.monotonic()
        waiting, heartbeat = await batch(host, [authorize, fast.frame([2, "h1", "Heartbeat", {}])])
        # Neither the batch nor the other station waited for the hub.
        assert time.monotonic() - started < server.answer_delay_s
        assert waiting.deferred and not waiting.replies
        assert json.loads(heartbeat.replies[0])[:2] == [3, "h1"]
        # The reply comes once, by itself, on the channel the gateway already long-polls.
        outbound = decode_outbound(await host.outbound(replica_of(slow.connection_id), 10))
        assert time.monotonic() - started >= server.answer_delay_s
        [delivered] = outbound.frames
        assert (delivered.station_id, delivered.connection_id, delivered.received_at_us) == (
            slow.station_id, slow.connection_id, authorize.received_at_us)
        assert json.loads(delivered.reply.replies[0]) == [3, "a1", {"idTagInfo": {
            "status": "Accepted", "parentIdTag": "FLEET5"}}]
        assert len(server.requests_for(tag)) == 1


async def test_a_late_reply_rides_along_on_the_next_batch_of_its_gateway_replica(server, tmp_path):
    from actors.host_protocol import decode_outbound, decode_replies, encode_requests, replica_of
    from tests.local_host import batch

    tag = new_tag("RIDE")
    server.answer(tag, "Accepted")
    server.answer_delay_s = 0.2
    async with host_with_two_stations(server, tmp_path) as (host, slow, fast):
        [waiting] = await batch(host, [slow.frame([2, "a1", "Authorize", {"idTag": tag}])])
        assert waiting.deferred
        await server.wait_for_requests(tag, 1)

        async def taken_along():
            answer = decode_replies(await host.process(encode_requests([fast.frame([2, "h", "Heartbeat", {}])])))
            return answer.outbound or None

        [delivered] = await wait_until(taken_along, 10, "the late reply on a batch's answer", interval=0.05)
        assert json.loads(delivered.reply.replies[0])[:2] == [3, "a1"]
        # Taken along, so the long poll has nothing left to answer with.
        assert decode_outbound(await host.outbound(replica_of(slow.connection_id), 0.2)).frames == []


@pytest.mark.ray
async def test_a_late_decision_reaches_the_station_before_its_next_frame_is_read(csms, downstream, station_id):
    from tests.stations import raw_socket

    tag = new_tag("ORDER")
    downstream.answer(tag, "Accepted")
    downstream.answer_delay_s = 0.2  # within one attempt (the session's attempt timeout: 0.5 s)
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        started = time.monotonic()
        # Both at once: the Heartbeat is read only after the Authorize is answered.
        await ws.send(json.dumps([2, "a1", "Authorize", {"idTag": tag}]))
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        authorize_s = time.monotonic() - started
        second = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert first[:2] == [3, "a1"] and first[2]["idTagInfo"]["status"] == "Accepted"
    assert second[:2] == [3, "h1"]
    # Answered by the hub (not at the deadline), as soon as it answered.
    assert downstream.answer_delay_s <= authorize_s < 1.5, authorize_s
    assert decided(await recent_events(csms, station_id))[0]["source"] == "downstream"
    [asked] = downstream.requests_for(tag)
    assert asked.station_id == station_id


@pytest.mark.ray
async def test_a_frame_waiting_for_its_decision_is_answered_after_its_host_restarts(csms, downstream):
    from tests.stations import raw_socket
    from tests.test_crash_recovery import kill_and_await_restart

    host_name = directory.host_names(csms.config.station_hosts)[0]
    station_id = station_on(csms, host_name)
    await register_station(csms, station_id)
    tag = new_tag("RESTART")
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        downstream.behave("hang")
        await ws.send(json.dumps([2, "a1", "Authorize", {"idTag": tag}]))
        await downstream.wait_for_requests(tag, 1)
        await kill_and_await_restart(host_name)  # the wait for the decision dies with the process
        # The gateway sends the waiting frame to the new incarnation, which decides it anew
        # (free_vending at the 2 s deadline, the hub still hanging) and delivers the answer.
        answer = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert answer[:2] == [3, "a1"] and answer[2]["idTagInfo"]["status"] == "Accepted"
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))[:2] == [3, "h1"]
    assert len(downstream.requests_for(tag)) >= 2  # asked again by the restarted host
