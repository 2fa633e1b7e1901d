"""Per-station rate limit on inbound frames (serve_app/rate_limit.py), in the pure and through the
real app (session CSMS: 20 frames/s sustained, burst 100, closed after 100 refusals a minute)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from actors import ocppj
from serve_app import rate_limit
from tests.conftest import register_station
from tests.stations import raw_socket

# --- the bucket and the classification, pure --------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_gives_the_burst_at_once_then_one_token_per_interval():
    clock = Clock()
    bucket = rate_limit.TokenBucket(10, 5, 100, clock=clock)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.1)


def test_bucket_refills_up_to_the_burst_only():
    clock = Clock()
    bucket = rate_limit.TokenBucket(10, 5, 100, clock=clock)
    for _ in range(5):
        bucket.take()
    clock.now += 3600
    assert [bucket.take() for _ in range(6)][-1] > 0


def test_strikes_within_a_minute_mean_disconnect_and_older_ones_are_forgotten():
    clock = Clock()
    bucket = rate_limit.TokenBucket(10, 5, 3, clock=clock)
    assert not bucket.strike() and not bucket.strike()
    clock.now += rate_limit.STRIKE_WINDOW_S + 1
    assert not bucket.strike() and not bucket.strike()
    assert bucket.strike()


@pytest.mark.parametrize(("text", "waits"), [
    ('[2,"1","StartTransaction",{}]', True),
    ('[2, "x\\"y" , "StopTransaction",{}]', True),
    ('[2,"1","MeterValues",{}]', True),
    ('[3,"1",{}]', True),
    (' [ 4 ,"1","GenericError","",{}]', True),
    ('[2,"1","Heartbeat",{}]', False),
    ('[2,"1","BootNotification",{}]', False),
    ('[22,"1","MeterValues",{}]', False),
    ('not json', False),
    ('', False),
])
def test_answers_and_transaction_messages_wait_other_frames_are_refused(text, waits):
    assert rate_limit.must_wait(text) is waits


def test_refusal_is_a_generic_error_under_the_frames_message_id():
    frame = json.loads(rate_limit.refusal('[2,"abc","Heartbeat",{}]', 20, 100))
    assert frame[:3] == [ocppj.CALLERROR, "abc", "GenericError"] and "rate limit" in frame[3]
    assert json.loads(rate_limit.refusal("garbage", 20, 100))[1] == "-1"


# --- through the real app ------------------------------------------------------------------


async def booted(ws) -> None:
    await ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    assert json.loads(await ws.recv())[0] == ocppj.CALLRESULT


async def replies_until_closed(ws) -> tuple[list[list], int | None]:
    replies = []
    try:
        while True:
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    except websockets.ConnectionClosed as closed:
        return replies, closed.rcvd.code if closed.rcvd else None


@pytest.mark.ray
async def test_flooding_station_gets_generic_errors_then_is_closed_with_1008(csms, station_id):
    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await booted(ws)
        # 600 Heartbeats without waiting for answers: far past the burst, never mind the rate.
        for n in range(600):
            await ws.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
        replies, code = await replies_until_closed(ws)
    assert code == rate_limit.CLOSE_POLICY_VIOLATION
    results = [r for r in replies if r[0] == ocppj.CALLRESULT]
    refused = [r for r in replies if r[0] == ocppj.CALLERROR]
    burst, strikes = csms.config.station_rate_burst, csms.config.station_rate_strikes
    assert len(results) >= burst - 1
    assert len(refused) == strikes  # the last one is answered, then the socket closed
    assert {r[2] for r in refused} == {"GenericError"} and all("rate limit" in r[3] for r in refused)
    # Answered in order, every one under its own id.
    assert [r[1] for r in replies] == [f"h{n}" for n in range(len(replies))]


@pytest.mark.ray
async def test_transaction_messages_over_the_limit_wait_and_none_is_refused_or_lost(csms, station_id):
    await register_station(csms, station_id)
    count = csms.config.station_rate_burst + 30
    async with raw_socket(csms.ws_url, station_id) as ws:
        await booted(ws)
        await ws.send(json.dumps([2, "s", "StartTransaction", {"connectorId": 1, "idTag": "NOSUCHTAG", "meterStart": 0,
                                                                "timestamp": "2024-03-01T00:00:00Z"}]))
        tx = json.loads(await ws.recv())[2]["transactionId"]
        for n in range(count):  # pipelined, as a station emptying its offline queue too eagerly
            await ws.send(json.dumps([2, f"m{n}", "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": f"2024-03-01T00:{n // 60:02d}:{n % 60:02d}Z", "sampledValue": [{"value": str(n + 1)}]}]}]))
        replies = [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(count)]
    assert [r[:2] for r in replies] == [[ocppj.CALLRESULT, f"m{n}"] for n in range(count)]
    async with csms.api() as api:
        (open_tx,) = (await api.get(f"/api/stations/{station_id}")).json()["active_transactions"]
    assert open_tx["energy_wh"] == count


@pytest.mark.ray
async def test_other_stations_are_served_while_one_floods(csms, station_id):
    flooder, calm = f"{station_id}-F", f"{station_id}-C"
    await register_station(csms, flooder)
    await register_station(csms, calm)
    flood_done = asyncio.Event()

    async def flood() -> int | None:
        async with raw_socket(csms.ws_url, flooder) as ws:
            await booted(ws)
            sender = asyncio.create_task(_send_forever(ws))
            try:
                _, code = await replies_until_closed(ws)
                return code
            finally:
                sender.cancel()
                flood_done.set()

    async def calm_station() -> list[list]:
        answers = []
        async with raw_socket(csms.ws_url, calm) as ws:
            await booted(ws)
            n = 0
            while not flood_done.is_set() or n < 20:
                await ws.send(json.dumps([2, f"c{n}", "Heartbeat", {}]))
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
                n += 1
                await asyncio.sleep(0.05)  # a station's pace, not synchronisation
        return answers

    code, answers = await asyncio.gather(flood(), calm_station())
    assert code == rate_limit.CLOSE_POLICY_VIOLATION
    assert answers and all(a[0] == ocppj.CALLRESULT for a in answers)


async def _send_forever(ws) -> None:
    n = 0
    try:
        while True:
            await ws.send(json.dumps([2, f"f{n}", "Heartbeat", {}]))
            n += 1
            if n % 50 == 0:
                await asyncio.sleep(0)  # let the reader run
    except websockets.ConnectionClosed:
        pass


def test_a_station_closed_for_flooding_is_locked_out_of_the_replica_for_a_while():
    clock = Clock()
    buckets = rate_limit.StationBuckets(10, 5, 3, clock=clock)
    assert buckets.locked_out_s("CP1") == 0
    buckets.flooded("CP1")
    assert buckets.locked_out_s("CP1") == rate_limit.FLOOD_LOCKOUT_S
    assert buckets.locked_out_s("CP2") == 0  # others are not
    clock.now += rate_limit.FLOOD_LOCKOUT_S - 1
    assert buckets.locked_out_s("CP1") == pytest.approx(1)
    clock.now += 1
    assert buckets.locked_out_s("CP1") == 0
    assert buckets.open("CP1") is not None


def test_buckets_are_off_when_the_rate_is_zero():
    assert rate_limit.StationBuckets(0, 5, 3).open("CP1") is None


@pytest.mark.ray
async def test_a_flooder_that_reconnects_at_once_is_refused_with_429(csms, station_id):
    await register_station(csms, station_id)
    outcomes = []
    # The balancer alternates the session's two gateway replicas: by the third attempt the
    # station is back at a replica that closed it for flooding.
    for _ in range(4):
        try:
            async with raw_socket(csms.ws_url, station_id) as ws:
                await booted(ws)
                for n in range(400):
                    await ws.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
                _, code = await replies_until_closed(ws)
                outcomes.append(code)
        except websockets.InvalidStatus as refused:
            outcomes.append(refused.response.status_code)
            assert int(refused.response.headers["Retry-After"]) > 0
    assert outcomes[0] == rate_limit.CLOSE_POLICY_VIOLATION
    assert 429 in outcomes[1:], outcomes
