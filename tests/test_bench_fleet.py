"""The light fleet client's parts: raw frames, the latency histogram, /proc readings, and a short run against the baseline."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import ocpp.v16
import pytest
from websockets.asyncio.server import serve
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from scripts import fleet_frames as ff
from scripts.baseline_central_system import server_port, start_baseline
from scripts.bench_fleet import (
    Fleet, FleetConfig, ProcSeries, WorkerResult, cores_between, merge_results, report, split_indices,
)
from scripts.bench_stations import process_tree, sample

pytestmark = pytest.mark.timeout(60)

SCHEMAS = Path(ocpp.v16.__file__).parent / "schemas"


def _parse_client_frame(data: bytes) -> Frame:
    """The websockets library's own parser, as a server reads a client's frame."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


# --- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_client_frame_is_a_masked_text_frame_websockets_reads(size):
    payload = b"x" * size
    frame = _parse_client_frame(ff.ws_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_server_frames_split_at_any_byte_are_reassembled():
    wire = b"".join(Frame(Opcode.TEXT, p).serialize(mask=False) for p in (b"[3,\"1\",{}]", b"y" * 300))
    for cut in range(len(wire)):
        first, used = ff.parse_ws_frames(wire[:cut])
        rest, used2 = ff.parse_ws_frames(wire[used:])
        assert [f[2] for f in first + rest] == [b"[3,\"1\",{}]", b"y" * 300]
        assert used + used2 == len(wire)


def test_close_frame_carries_its_code():
    frames, _ = ff.parse_ws_frames(Frame(Opcode.CLOSE, b"\x0f\xa0bye").serialize(mask=False))
    assert frames[0][1] == ff.OP_CLOSE and ff.close_code(frames[0][2]) == 4000
    assert ff.close_code(b"") == 1005


def test_handshake_sends_path_subprotocol_and_basic_credentials():
    req = ff.handshake_request("127.0.0.1:8000", "/ocpp/", "CP-1", "a-16-char-password").decode()
    assert req.startswith("GET /ocpp/CP-1 HTTP/1.1\r\n") and req.endswith("\r\n\r\n")
    assert "Sec-WebSocket-Protocol: ocpp1.6\r\n" in req
    assert f"Authorization: Basic {base64.b64encode(b'CP-1:a-16-char-password').decode()}\r\n" in req
    assert ff.handshake_status(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket") == 101
    assert ff.handshake_status(b"HTTP/1.1 401 Unauthorized") == 401
    assert ff.handshake_status(b"garbage") == 0


@pytest.mark.parametrize("action, payload", [
    ("BootNotification", ff.boot_notification()),
    ("Heartbeat", ff.HEARTBEAT),
    ("StatusNotification", ff.status_notification(1, "Available", "2026-12-02T07:00:00Z")),
    ("StartTransaction", ff.start_transaction(1, "FLEETTAG", 0, "2026-12-02T07:00:00Z")),
    ("MeterValues", ff.meter_values(1, 42, "2026-12-02T07:00:00Z", 1200)),
])
def test_calls_are_valid_ocpp16_by_the_official_schemas(action, payload):
    frame = _parse_client_frame(ff.call(7, action, payload))
    message = json.loads(frame.data)
    assert message[:3] == [2, "7", action]
    jsonschema.validate(message[3], json.loads((SCHEMAS / f"{action}.json").read_text()))


def test_meter_values_carry_four_sampled_values():
    sampled = json.loads(ff.meter_values(1, 42, "2026-12-02T07:00:00Z", 1200))["meterValue"][0]["sampledValue"]
    assert len(sampled) == 4 and sampled[0] == {
        "value": "1200", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}


def test_replies_are_read_by_slicing_with_or_without_spaces():
    assert ff.parse_message(b'[3,"12",{"currentTime":"x"}]') == (3, "12", b'{"currentTime":"x"}]')
    kind, mid, rest = ff.parse_message(b'[4, "13", "FormationViolation", "bad", {}]')
    assert (kind, mid, ff.first_string(rest)) == (4, "13", "FormationViolation")
    kind, mid, rest = ff.parse_message(b'[2,"srv-1","Reset",{"type":"Soft"}]')
    assert (kind, mid, ff.first_string(rest)) == (2, "srv-1", "Reset")
    with pytest.raises(ValueError):
        ff.parse_message(b"not ocpp")


# --- histogram and schedules ------------------------------------------------------------------


def test_histogram_quantiles_are_within_its_bucket_precision():
    h = ff.Histogram()
    for us in range(1, 100_001):  # 1 us .. 100 ms, uniform
        h.record(us)
    assert h.n == 100_000 and h.max_us == 100_000
    assert h.quantile_us(0.5) == pytest.approx(50_000, rel=0.025)
    assert h.quantile_us(0.99) == pytest.approx(99_000, rel=0.025)
    assert h.quantile_us(1.0) == 100_000  # capped at the exact max
    assert ff.Histogram().quantile_us(0.5) is None


def test_one_stall_shows_as_the_max_and_merges_keep_counts():
    quiet, stalled = ff.Histogram(), ff.Histogram()
    for _ in range(99):
        quiet.record(2_000)
        stalled.record(2_000)
    stalled.record(600_000)
    assert quiet.summary_ms()["max_ms"] == 2.0 and stalled.summary_ms()["max_ms"] == 600.0
    assert stalled.summary_ms()["p50_ms"] == pytest.approx(2.0, rel=0.025)
    both = ff.merged([quiet, stalled])
    assert both.n == 199 and both.max_us == 600_000 and quiet.n == 99  # the parts are untouched


def test_schedule_spreads_members_evenly_over_the_period():
    # 300 stations, 300 s: one send per second; 20 probes at 1 s: one each 50 ms.
    assert [ff.due_count(t, 300, 300.0) for t in (0, 0.5, 1.0, 299.9, 300.0)] == [0, 0, 1, 299, 300]
    assert ff.due_count(1.0, 20, 1.0) == 20 and ff.due_count(0.049, 20, 1.0) == 0
    assert ff.due_count(10, 0, 1.0) == 0


def test_processes_share_probes_and_charging_stations_round_robin():
    parts = split_indices(10, 3)
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    cfg = FleetConfig(mode="realistic", stations=8, probes=2)
    assert [cfg.is_charging(i) for i in range(10)] == [True, False] * 4 + [False, False]
    assert [cfg.is_probe(i) for i in range(10)] == [False] * 8 + [True, True]


def test_results_of_processes_add_up():
    a = WorkerResult(stations=2, ready=2, callerrors={"Heartbeat:InternalError": 1}, close_codes={1006: 1},
                     t_start=1.0, t_all_ready=2.0, window_start=3.0, window_end=5.0,
                     histograms={"Heartbeat": {0: ff.Histogram(counts={10: 1}, n=1, max_us=2)}})
    b = WorkerResult(stations=3, ready=1, callerrors={"Heartbeat:InternalError": 2}, close_codes={1000: 1},
                     t_start=0.5, t_all_ready=2.5, window_start=3.1, window_end=5.1,
                     histograms={"Heartbeat": {0: ff.Histogram(counts={10: 2}, n=2, max_us=3)}})
    m = merge_results([a, b])
    assert (m.stations, m.ready, m.t_start, m.t_all_ready) == (5, 3, 0.5, 2.5)
    assert m.callerrors == {"Heartbeat:InternalError": 3} and m.close_codes == {1006: 1, 1000: 1}
    assert m.histograms["Heartbeat"][0].n == 3 and m.histograms["Heartbeat"][0].max_us == 3


# --- /proc ------------------------------------------------------------------------------------


def test_process_tree_takes_descendants_and_sample_reads_cpu_and_pss():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert child.pid in process_tree([os.getpid()])
        assert process_tree([child.pid]) == [child.pid]
        before = sample([os.getpid()])
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        after = sample([os.getpid()])
        assert after.cpu_s - before.cpu_s >= 0.2
        assert before.pids == 1 and before.pss_kib > 1024 and before.rss_kib >= before.pss_kib // 2
        assert sample([os.getpid(), child.pid]).pids == 2
        assert sample([os.getpid()], memory=False).pss_kib == 0
    finally:
        child.communicate(b"")


def test_series_gives_the_cpu_a_process_used_and_memory_every_few_samples():
    series = ProcSeries(lambda: [os.getpid()], interval=0.1, memory_every=3)
    cpu0 = time.process_time()
    series.start()
    while time.process_time() < cpu0 + 0.5:  # CPU time, not wall time: the machine is shared
        pass
    series.stop()
    cpu1 = time.process_time()
    (t0, first), (t1, last) = series.cpu[0], series.cpu[-1]
    # /proc counts in clock ticks (10 ms); the sampler thread's own reads count too.
    assert last.cpu_s - first.cpu_s == pytest.approx(cpu1 - cpu0, abs=0.08)
    assert cores_between(series.cpu) == pytest.approx((last.cpu_s - first.cpu_s) / (t1 - t0))
    assert cores_between(series.cpu[:1]) is None
    assert 2 <= len(series.memory) < len(series.cpu) and all(s.pss_kib > 0 for _, s in series.memory)
    assert series.cpu_over(t0, t1) == series.cpu


# --- a short run, for real ----------------------------------------------------------------------


async def test_idle_fleet_against_the_baseline_answers_every_probe():
    server, state = await start_baseline("127.0.0.1", 0)
    try:
        cfg = FleetConfig(url=f"ws://127.0.0.1:{server_port(server)}", mode="realistic", stations=6, probes=2,
                          duration=1.5, warmup=0.2, probe_interval=0.1, meter_interval=0.5, connect_rate=0)
        r = await Fleet(cfg, list(range(cfg.total))).run()
    finally:
        server.close()
        await server.wait_closed()
    assert (r.ready, r.held, r.callerrors, r.connect_failures, r.unanswered) == (8, 8, {}, {}, 0)
    assert state.boots.keys() == {cfg.station_id(i) for i in range(8)}
    assert len(state.transactions) == 3  # stations 0, 2, 4 charge
    probes = sum(h.n for s, h in r.histograms["Heartbeat"].items() if s >= 0)
    assert probes >= 2 * 10  # 2 probes x 10/s over the 1.5 s window, at least 1 s of it
    assert sum(h.n for s, h in r.histograms["MeterValues"].items() if s >= 0) >= 3


async def test_storm_reports_every_station_accepted_with_its_boot_and_status():
    server, state = await start_baseline("127.0.0.1", 0)
    client = ProcSeries(lambda: [os.getpid()], memory_every=10**9).start()
    try:
        cfg = FleetConfig(url=f"ws://127.0.0.1:{server_port(server)}", mode="storm", stations=30, connect_rate=0)
        r = await Fleet(cfg, list(range(cfg.total))).run()
    finally:
        client.stop()
        server.close()
        await server.wait_closed()
    out = report(cfg, "baseline", r, None, client, None)
    assert out["held"] == 30 and out["ready_s"] is not None and out["callerrors"] == {}
    # Every answer of the storm counts, the last partial second's included.
    assert {a: out["latency"][a]["n"] for a in ("Handshake", "BootNotification", "StatusNotification")} == {
        "Handshake": 30, "BootNotification": 30, "StatusNotification": 30}
    assert len(state.statuses) == 30


async def test_a_server_close_is_counted_with_its_code():
    async def hang_up(ws):
        await ws.recv()  # the BootNotification
        await ws.close(4001, "go away")

    async with serve(hang_up, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        cfg = FleetConfig(url=f"ws://127.0.0.1:{port}", stations=2, probes=0, duration=0.1, warmup=0,
                          ready_timeout=10, connect_rate=0)
        r = await Fleet(cfg, [0, 1]).run()
    assert r.close_codes == {4001: 2}
    assert r.ready == 0 and r.connect_failures == {"closed before ready": 2}


# --- py-spy recordings ------------------------------------------------------------------------


def test_busy_stretches_are_runs_of_samples_outside_the_selector():
    from scripts.spy_stalls import busy_runs, what_ran

    names = ["Thread.run (threading.py:982)", "select (selectors.py:468)", "process (actors/station_host.py:190)",
             "_land_sealed_segments (actors/station_host.py:652)"]
    idle, work, snapshot = [0], [0, 2], [0, 2, 3]
    samples = [idle, work, idle, snapshot, snapshot, snapshot, idle, [0, 1], work]
    assert busy_runs(samples, names) == [(1, 1), (3, 3), (8, 1)]
    assert what_ran(samples, names, 3, 3, depth=1) == ["_land_sealed_segments (actors/station_host.py:652) x3"]
