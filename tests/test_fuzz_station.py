"""Property-based fuzzing of everything a station can send, at two levels.

1. Pure: hostile frames straight into a StationSession (many examples). It never raises, answers
   every CALL (and everything that is not an answer) with exactly one CALLRESULT or CALLERROR
   under the frame's message id (or "-1"), answers nothing to an answer, logs only events the
   write-ahead log and the lake can hold, and its state is what replaying its log gives.
2. Real sockets: fewer hostile frames through the whole Serve app (balancer, gateway, hosts).
   The CSMS never crashes; every frame gets its CALLERROR/CALLRESULT or the socket is closed
   with a proper code; a well-behaved station beside it keeps being served; and what was
   logged for the fuzzed station replays to exactly the state the CSMS shows.

The well-formed-but-random sequences (transactions, duplicates, orphans) are fuzzed in
tests/test_station_session.py; this file is about input nobody should send.
"""

from __future__ import annotations

import asyncio
import json
import math
import os

import msgspec
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ocppj
from actors.events import decode_event, encode_event
from actors.views import station_view
from tests.conftest import register_station
from tests.polling import wait_until_blocking
from tests.stations import raw_socket
from tests.test_station_session import VALID, Station, builtins, frames as well_formed_frames

# --- hostile frames ---------------------------------------------------------------------------

MAX_FRAME = 65_536  # the gateway closes anything larger (1009) before a session sees it
# A longer hunt: CSMS_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz_station.py -k session
PURE_EXAMPLES = int(os.environ.get("CSMS_FUZZ_EXAMPLES", "600"))

huge_ints = st.integers() | st.sampled_from([2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 2**64, 10**400])
json_numbers_text = st.sampled_from(["1e400", "-1e400", "1e-400", "-0", "0.0", "1E+2", "123456789012345678901234567890",
                                     "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "0x10", "+1"])
any_text = st.text(max_size=40) | st.text(st.characters(codec="utf-8"), max_size=200)
escapes = st.sampled_from(["\\ud800", "\\udc00", "\\ud800\\udc00", "\\u0000", "\\uffff", "\\\\", "\\x41", "\\u12", "\\"])
json_values = st.recursive(
    st.none() | st.booleans() | huge_ints | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)


def raw_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def nested(depth: int, opener: str, inner: str = "") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return '{"a":' * depth + (inner or "1") + "}" * depth
    return opener * depth + inner + closer * depth


def wrong_typed(action: str, field: str | None, value) -> str:
    payload = dict(VALID[action])
    if field is not None:
        payload[field] = value
    return raw_json([2, "w1", action, payload])


wrong_types = st.sampled_from(sorted(VALID)).flatmap(lambda action: st.builds(
    wrong_typed, st.just(action), st.sampled_from([None, "extra", *VALID[action]]), json_values))

hostile_frames = st.one_of(
    # arbitrary JSON, and arbitrary JSON arrays that look a little like frames
    json_values.map(raw_json),
    st.lists(json_values, max_size=6).map(raw_json),
    st.builds(lambda t, mid, rest: raw_json([t, mid, *rest]), huge_ints | json_values, json_values, st.lists(json_values, max_size=4)),
    # wrong types in every field of every action
    wrong_types,
    # numbers JSON cannot hold, or that no field can
    st.builds(lambda n, action: f'[2,"n1","{action}",{{"connectorId":{n},"transactionId":{n},"meterStart":{n},'
                                 f'"idTag":"T","timestamp":"2024-03-01T00:00:00Z","meterStop":{n}}}]',
              json_numbers_text, st.sampled_from(["StartTransaction", "StopTransaction", "MeterValues"])),
    st.builds(lambda n: f'[{n},"n2","Heartbeat",{{}}]', json_numbers_text),
    # deep nesting, at the top and inside a payload
    st.builds(lambda d, o: nested(d, o), st.integers(1, 5000), st.sampled_from(["[", "{"])),
    st.builds(lambda d, o: f'[2,"d1","DataTransfer",{{"vendorId":"v","data":{nested(d, o)}}}]',
              st.integers(1, 5000), st.sampled_from(["[", "{"])),
    st.builds(lambda d: f'[3,"d2",{nested(d, "[")}]', st.integers(1, 5000)),
    # invalid UTF-8 in a binary frame: the gateway decodes it with replacement characters
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")),
    st.builds(lambda b: '[2,"u1","DataTransfer",{"vendorId":"' + b.decode("utf-8", errors="replace").replace("\\", "").replace('"', "")
              + '"}]', st.binary(max_size=100)),
    # JSON escapes that are not characters (lone surrogates), in every string position
    st.builds(lambda e, where: {
        "id": f'[2,"{e}","Heartbeat",{{}}]', "action": f'[2,"e1","{e}",{{}}]',
        "field": f'[2,"e2","DataTransfer",{{"vendorId":"{e}"}}]', "key": f'[2,"e3","DataTransfer",{{"{e}":1}}]',
        "answer": f'[3,"{e}",{{}}]', "error": f'[4,"e4","{e}","{e}",{{}}]',
    }[where], escapes, st.sampled_from(["id", "action", "field", "key", "answer", "error"])),
    # giant strings, up to the frame limit
    st.builds(lambda n, where: {
        "id": raw_json([2, "i" * n, "Heartbeat", {}]), "action": raw_json([2, "g1", "A" * n, {}]),
        "field": raw_json([2, "g2", "DataTransfer", {"vendorId": "v", "data": "x" * n}]),
        "idtag": raw_json([2, "g3", "Authorize", {"idTag": "T" * n}]),
    }[where], st.integers(0, MAX_FRAME - 100), st.sampled_from(["id", "action", "field", "idtag"])),
    # unknown message types, and answers to CALLs never made
    st.builds(lambda t, payload: raw_json([t, "t1", "Heartbeat", payload]), st.integers(-10, 10) | huge_ints, json_values),
    st.builds(lambda mid, payload: raw_json([3, mid, payload]), any_text, json_values),
    st.builds(lambda mid, code, d, det: raw_json([4, mid, code, d, det]), any_text, any_text, any_text, json_values),
    # what a careless serializer emits
    st.sampled_from(["", " ", "null", "[]", "[2]", '[2,"x"]', '[2,"x","Heartbeat"]', '[2,"x","Heartbeat",{}] ',
                     '[2,"x","Heartbeat",{},{}]', "[2,'x','Heartbeat',{}]", '[2,"x","Heartbeat",{}]\x00',
                     '\ufeff[2,"x","Heartbeat",{}]', '[2,"x","Heartbeat",{"a":1,"a":2}]', '[2,"","Heartbeat",{}]',
                     '[2,"x","Heartbeat",null]', '[2,"x","Heartbeat",[]]', '[2,"x",null,{}]', '[2,null,"Heartbeat",{}]']),
)
# Hostile frames mixed with well-formed ones, so hostile input also meets open transactions.
any_frames = st.one_of(hostile_frames, hostile_frames, well_formed_frames)


def check_answer(text: str, outcome) -> None:
    """The one property of every frame: answered exactly once, under its id, in valid OCPP-J."""
    parsed = ocppj.parse_frame(text)
    if isinstance(parsed, ocppj.CallResult | ocppj.CallError):
        assert outcome.replies == [], "an answer is never answered (OCPP-J 1.6 section 4.1.3)"
        return
    assert len(outcome.replies) == 1, (text[:200], outcome.replies)
    (reply,) = outcome.replies
    reply.encode("utf-8")  # strict: the gateway could not send it otherwise
    answered = json.loads(reply)
    assert answered[0] in (ocppj.CALLRESULT, ocppj.CALLERROR)
    assert answered[1] == parsed.message_id
    if answered[0] == ocppj.CALLERROR:
        assert len(answered) == 5 and isinstance(answered[2], str) and isinstance(answered[3], str)


def check_loggable(events) -> None:
    """Every event survives the write-ahead log's codec and holds only text the lake can store."""
    for event in events:
        assert decode_event(encode_event(event)) == event
        for text in (event.station_id, event.message_id, event.action, event.payload):
            text.encode("utf-8")  # strict: Parquet strings are UTF-8
        assert math.isfinite(event.received_at_us)


@settings(max_examples=PURE_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(st.booleans(), st.lists(any_frames, min_size=1, max_size=12))
def test_session_answers_every_hostile_frame_and_replays_to_the_live_state(booted, texts):
    station = Station(boot=booted)
    for text in texts:
        before = len(station.log)
        outcome = station.send(text)
        check_answer(text, outcome)
        check_loggable(station.log[before:])
    assert builtins(station.replayed().state) == builtins(station.state)
    # What operators see of the station can still be built and sent as JSON.
    msgspec.json.encode(station_view(station.state))


@pytest.mark.parametrize("depth", [10, 100, 500, 900, 1000, 2000, 10_000, 30_000])
@pytest.mark.parametrize("where", ["frame", "payload", "answer"])
def test_deep_nesting_at_any_depth_is_answered(depth, where):
    text = {"frame": nested(depth, "["),
            "payload": f'[2,"d1","DataTransfer",{{"vendorId":"v","data":{nested(depth, "{")}}}]',
            "answer": f'[3,"d2",{nested(depth, "[")}]'}[where]
    station = Station()
    outcome = station.send(text)
    check_answer(text, outcome)
    check_loggable(outcome.events)
    assert builtins(station.replayed().state) == builtins(station.state)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z"])
def test_station_time_without_a_utc_date_is_refused_and_the_view_survives(stamp):
    station = Station()
    frame = json.loads(station.send(raw_json([2, "t1", "StartTransaction", {
        "connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": stamp}])).replies[0])
    assert frame[:3] == [ocppj.CALLERROR, "t1", ocppj.PROPERTY_CONSTRAINT_VIOLATION]
    msgspec.json.encode(station_view(station.state))


def test_hostile_events_land_in_the_lake_and_read_back(tmp_path):
    """Events of hostile frames are written to and read back from real Parquet files."""
    import duckdb

    from actors import lake

    station = Station()
    corpus = ['[2,"\\ud800","Heartbeat",{}]', '[2,"a","DataTransfer",{"vendorId":"\\udc00"}]',
               b"\xff\xfe[2,\x80".decode("utf-8", errors="replace"), nested(5000, "["), '[3,"none",{"x":1e400}]',
               raw_json([2, "big", "DataTransfer", {"vendorId": "v", "data": "\u2603" * 10_000}]), "\x00"]
    for text in corpus:
        station.send(text)
    events = list(enumerate(station.log, start=1))
    lake.write_bronze(tmp_path, events, "fuzz", "fuzz-1")
    files = [str(p) for p in (tmp_path / "bronze").rglob("*.parquet")]
    rows = duckdb.sql(f"SELECT payload FROM read_parquet({files!r}) ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [e.payload for _, e in events]


# --- level 2: hostile frames through the real app ----------------------------------------------

SOCKET_EXAMPLES = int(os.environ.get("CSMS_SOCKET_FUZZ_EXAMPLES", "40"))
# Frames the app must see as a whole: a text frame, or the bytes of a binary one.
socket_frames = st.one_of(
    hostile_frames.filter(lambda t: len(t.encode()) <= MAX_FRAME),
    st.binary(max_size=200),  # binary frames, mostly invalid UTF-8
    st.builds(lambda n: "x" * n, st.integers(MAX_FRAME + 1, MAX_FRAME * 2)),  # over the limit: 1009
    well_formed_frames,
)


def expected_answer_id(frame: str | bytes) -> str | None:
    """The message id the CSMS must answer `frame` under; None when it must not answer."""
    text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
    parsed = ocppj.parse_frame(text)
    return None if isinstance(parsed, ocppj.CallResult | ocppj.CallError) else parsed.message_id


def too_big(frame: str | bytes) -> bool:
    return len(frame.encode() if isinstance(frame, str) else frame) > MAX_FRAME


async def exchange(url: str, station_id: str, frames: list[str | bytes], probe_id: str) -> None:
    """Send the frames, then a Heartbeat probe; every frame that is not an answer is answered
    once, in order, under its message id, unless a frame is too big: then the socket closes
    with 1009 right there, everything before it answered."""
    async with raw_socket(url, station_id) as ws:
        sent: list[str | bytes] = []
        for frame in frames:
            await ws.send(frame)
            sent.append(frame)
            if too_big(frame):
                break
        oversize = too_big(sent[-1])
        if not oversize:
            probe = json.dumps([2, probe_id, "Heartbeat", {}])
            await ws.send(probe)
            sent.append(probe)
        wanted = [mid for mid in map(expected_answer_id, sent[:-1] if oversize else sent) if mid is not None]
        replies: list[list] = []
        try:
            while oversize or len(replies) < len(wanted):
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        except websockets.ConnectionClosed as closed:
            assert oversize and closed.rcvd is not None and closed.rcvd.code == 1009, closed
    assert [r[1] for r in replies] == wanted
    assert all(r[0] in (ocppj.CALLRESULT, ocppj.CALLERROR) for r in replies)


async def calm_station(url: str, station_id: str, stop: asyncio.Event) -> list[list]:
    """A well-behaved station beside the fuzzing: a Heartbeat every 50 ms until told to stop."""
    answers = []
    async with raw_socket(url, station_id) as ws:
        n = 0
        while not stop.is_set():
            await ws.send(json.dumps([2, f"c{n}", "Heartbeat" if n else "BootNotification",
                                      {} if n else {"chargePointVendor": "V", "chargePointModel": "M"}]))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            n += 1
            await asyncio.sleep(0.05)  # the station's pace
    return answers


def logged_events(csms, station_id: str) -> list:
    """The station's events as landed in the lake, in log order (after its host's flush)."""
    import duckdb

    from actors import lake
    from actors.events import Event

    rows = duckdb.execute(
        f"SELECT epoch_us(received_at), epoch_us(station_ts), ocpp_version, direction, message_type, "
        f"message_id, action, payload FROM {lake.bronze_source_sql(csms.data_root)} WHERE station_id = ? ORDER BY seq",
        [station_id],
    ).fetchall()
    return [Event(station_id=station_id, received_at_us=r[0], station_ts_us=r[1], ocpp_version=r[2], direction=r[3],
                  message_type=r[4], message_id=r[5], action=r[6], payload=r[7]) for r in rows]


@pytest.mark.ray
def test_hostile_frames_through_the_real_app_are_answered_and_what_is_logged_replays(csms):
    import itertools
    import uuid

    import ray

    from actors import directory
    from actors.ocpp16.station_side import Policy
    from actors.station_session import StationSession
    from actors.views import station_view
    fuzzed, calm = f"FZ-{uuid.uuid4().hex[:8]}", f"CALM-{uuid.uuid4().hex[:8]}"
    loop = asyncio.new_event_loop()  # our own: hypothesis runs each example synchronously
    try:
        loop.run_until_complete(register_station(csms, fuzzed))
        loop.run_until_complete(register_station(csms, calm))
        stop = asyncio.Event()
        calm_task = loop.create_task(calm_station(csms.ws_url, calm, stop))
        probes = itertools.count()

        @settings(max_examples=SOCKET_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(socket_frames, min_size=1, max_size=10))
        def hostile_connection(frames):
            loop.run_until_complete(exchange(csms.ws_url, fuzzed, frames, f"probe-{next(probes)}"))

        hostile_connection()
        assert next(probes) >= SOCKET_EXAMPLES  # every example really went through a socket
        stop.set()
        answers = loop.run_until_complete(calm_task)
    finally:
        loop.close()
    # The well-behaved station was served all along.
    assert len(answers) > 5 and all(a[0] == ocppj.CALLRESULT for a in answers)

    # What was logged is complete and replays to the state the CSMS holds.
    hosts = directory.host_names(csms.config.station_hosts)
    host = directory.get_actor(directory.host_for(fuzzed, hosts))
    wait_until_blocking(lambda: not ray.get(host.station.remote(fuzzed), timeout=30).connected, 30,
                        "the fuzzed station to show as disconnected (its last Disconnect logged)", interval=0.1)
    ray.get(host.flush.remote(), timeout=60)
    events = logged_events(csms, fuzzed)
    assert len(events) > SOCKET_EXAMPLES
    for inbound, answer in zip(events, events[1:]):
        if inbound.direction == "in" and inbound.message_type == "CALL":
            assert answer.direction == "out" and answer.message_id == inbound.message_id, (inbound, answer)
    config = csms.config
    replayed = StationSession(fuzzed, Policy(heartbeat_interval_s=config.heartbeat_interval_s,
                                             pending_retry_interval_s=config.pending_retry_interval_s,
                                             completed_transactions_kept=config.completed_transactions_kept))
    for event in events:
        replayed.apply(event)
    live = ray.get(host.station.remote(fuzzed), timeout=30)
    assert msgspec.to_builtins(station_view(replayed.state)) == msgspec.to_builtins(live)


# --- the station id in the URL (OCPP-J 1.6 section 3.1.1) ---------------------------------------


async def raw_upgrade(csms, path: bytes) -> bytes:
    """The status line the CSMS answers a websocket upgrade for `path` with (raw bytes, no client
    library to normalise the path on the way)."""
    port = int(csms.ws_url.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic Q1AtMTpzdGF0aW9uLXBhc3N3b3JkLTAxMjM=\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()


@pytest.mark.ray
@pytest.mark.parametrize("path", [
    b"/ocpp/", b"/ocpp", b"/ocpp/" + b"S" * 49, b"/ocpp/" + b"S" * 5000,
    b"/ocpp/CP%201", b"/ocpp/CP%2F1", b"/ocpp/CP%00", b"/ocpp/%C3%BC", b"/ocpp/CP%0D%0AX-Injected:%201",
    b"/ocpp/..%2F..%2Fapi%2Fstations", b"/ocpp/CP;1", b"/ocpp/CP%251", b"/ocpp/%", b"/ocpp/CP-1/extra",
    b"/ocpp/\xc3\xbc", b"/ocpp//CP-1",
])
async def test_station_id_that_is_not_a_valid_identifier_is_refused_at_the_real_handshake(csms, path):
    await register_station(csms, "CP-1")
    status = await raw_upgrade(csms, path)
    assert status.startswith(b"HTTP/1.1 4"), (path, status)


@pytest.mark.ray
async def test_the_same_handshake_with_a_valid_id_is_accepted(csms):
    # The control for the test above: the raw request itself is a good upgrade.
    await register_station(csms, "CP-1")
    assert (await raw_upgrade(csms, b"/ocpp/CP-1")).startswith(b"HTTP/1.1 101")
    assert (await raw_upgrade(csms, b"/ocpp/CP%2D1")).startswith(b"HTTP/1.1 101")  # %2D is "-" (RFC 3986 2.3)
