"""The station simulator against the baseline central system (and two tiny fakes), for real.

Everything runs on loopback; each run is a few seconds. No sleeps as synchronization: the
simulator runs for its configured duration and the tests poll state with a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest
from ocpp.v16 import call
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from scripts.baseline_central_system import BaselineState, server_port, start_baseline
from scripts.simulator import (
    RegistrationError, SimulationConfig, SimulationReport, main, run_simulation,
)
from tests.polling import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def baseline():
    server, state = await start_baseline("127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server_port(server)}", state
    finally:
        server.close()
        await server.wait_closed()


def fast(url: str, **kw) -> SimulationConfig:
    """Seconds instead of minutes, for tests."""
    base = dict(
        url=url, stations=20, connectors=2, duration=3.0, ramp_rate=200.0,
        heartbeat_interval=0.5, meter_interval=0.15, session_min=0.4, session_max=0.8,
        idle_min=0.05, idle_max=0.2, message_timeout=5.0, retry_interval=0.2,
        backoff_initial=0.05, backoff_max=0.2, seed=7,
    )
    base.update(kw)
    return SimulationConfig(**base)


def check_consistent(r: SimulationReport) -> None:
    """Report numbers agree with each other."""
    a = r.by_action
    assert r.calls_sent == sum(x.sent for x in a.values())
    assert r.callresults == sum(x.results for x in a.values())
    assert r.callerrors == sum(x.errors for x in a.values())
    assert r.timeouts == sum(x.timeouts for x in a.values())
    assert r.aborted == sum(x.aborted for x in a.values())
    # Every CALL sent ended one way or another.
    for name, x in a.items():
        assert x.sent == x.results + x.errors + x.timeouts + x.lost + x.aborted, name
        if x.results:
            assert x.p50_ms <= x.p95_ms <= x.p99_ms <= x.max_ms, name
    assert r.p50_ms <= r.p95_ms <= r.p99_ms <= r.max_ms
    # At most one outstanding CALL per connection when the run stopped.
    assert r.aborted <= r.stations
    answered = r.callresults + r.callerrors
    assert r.calls_per_s == pytest.approx(answered / r.duration_s, rel=0.01, abs=0.2)


def assert_clean(r: SimulationReport) -> None:
    assert r.stations_connected == r.stations_accepted == r.connections_held == r.stations
    assert r.connections_failed == 0 and r.disconnects == 0
    assert r.callerrors == 0 and r.timeouts == 0 and r.lost == 0 and r.resends == 0
    assert r.late_results == 0 and r.malformed == 0
    assert r.all_answered  # every CALL sent got a CALLRESULT (or was cut by the stop)


async def test_realistic_sessions_start_and_stop(baseline):
    url, state = baseline
    r = await run_simulation(fast(url, duration=3.5))
    check_consistent(r)
    assert_clean(r)
    assert r.by_action["BootNotification"].results == 20
    assert r.by_action["Heartbeat"].results > 0
    assert r.by_action["Authorize"].results >= r.transactions_started > 0
    assert 0 < r.transactions_stopped <= r.transactions_started <= r.transactions_stopped + 40
    assert r.by_action["MeterValues"].results > 0
    # The central system saw the same thing.
    assert len(state.boots) == 20
    assert len(state.statuses) == 20 * 3  # connectors 0..2 of every station
    aborted = r.by_action
    started = len(state.transactions)
    stopped = sum(1 for t in state.transactions.values() if t["stop"] is not None)
    assert r.transactions_started <= started <= r.transactions_started + aborted["StartTransaction"].aborted
    assert r.transactions_stopped <= stopped <= r.transactions_stopped + aborted["StopTransaction"].aborted
    for t in state.transactions.values():
        if t["stop"] is not None:
            assert t["meter_stop"] >= t["meter_start"]
            assert t["reason"] == "Local"
    assert state.meter_values >= r.by_action["MeterValues"].results
    # Stations close their sockets when the run ends.
    await wait_until(lambda: not state.connected, 10, "stations to disconnect", interval=0.02)


async def test_throughput_mode(baseline):
    url, state = baseline
    r = await run_simulation(fast(url, mode="throughput", mix="mixed", duration=2.5))
    check_consistent(r)
    assert_clean(r)
    assert set(r.by_action) == {"BootNotification", "StatusNotification", "Heartbeat", "MeterValues"}
    assert r.steady_calls_per_s is not None and r.steady_calls_per_s > 100
    assert r.steady_window_s > 1.0
    assert r.all_ready_s is not None and r.all_ready_s < 1.0
    assert r.steady_p50_ms <= r.steady_p99_ms <= r.max_ms
    assert r.calls_per_s > 100
    # The server answered every CALL we counted, and at most the cut ones more.
    assert r.callresults <= state.calls <= r.callresults + r.aborted
    assert r.transactions_started == 0


async def test_storm_mode_reports_time_to_all_accepted(baseline):
    url, state = baseline
    r = await run_simulation(fast(url, mode="storm", stations=30, connectors=3, ramp_rate=0.0,
                                  duration=20.0))
    check_consistent(r)
    assert_clean(r)
    assert r.storm_completed == 30 and r.storm_failed == 0
    assert r.storm_time_s is not None and 0 < r.storm_time_s < 10
    assert r.duration_s < 10  # the run ended once every station was done
    assert r.by_action["BootNotification"].results == 30
    assert r.by_action["StatusNotification"].results == 30 * 4
    assert r.aborted == 0
    assert len(state.boots) == 30 and len(state.statuses) == 30 * 4


async def flaky_central_system():
    """A raw OCPP-J server that drops the connection, unanswered, on the first
    StopTransaction and the first MeterValues of every station."""
    seen: dict[str, list] = {"frames": []}
    dropped: set[tuple[str, str]] = set()
    ids = itertools.count(1)

    async def handler(ws):
        sid = ws.request.path.rsplit("/", 1)[-1]
        try:
            async for raw in ws:
                msg = json.loads(raw)
                _, mid, action, payload = msg
                seen["frames"].append((sid, action, payload))
                if action in ("StopTransaction", "MeterValues") and (sid, action) not in dropped:
                    dropped.add((sid, action))
                    await ws.close()
                    return
                if action == "BootNotification":
                    res = {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}
                elif action == "StartTransaction":
                    res = {"transactionId": next(ids), "idTagInfo": {"status": "Accepted"}}
                elif action in ("Authorize", "StopTransaction"):
                    res = {"idTagInfo": {"status": "Accepted"}}
                elif action == "Heartbeat":
                    res = {"currentTime": "2024-01-01T00:00:00Z"}
                else:
                    res = {}
                await ws.send(json.dumps([3, mid, res]))
        except ConnectionClosed:
            pass

    server = await serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"])
    return server, seen


async def test_reconnect_resends_unanswered_transaction_messages():
    server, seen = await flaky_central_system()
    try:
        url = f"ws://127.0.0.1:{server_port(server)}"
        r = await run_simulation(fast(url, stations=5, connectors=1, duration=3.0,
                                      heartbeat_interval=60.0, session_min=0.35, session_max=0.5))
    finally:
        server.close()
        await server.wait_closed()
    check_consistent(r)
    assert r.callerrors == 0 and r.timeouts == 0
    assert r.disconnects >= 5 and r.connections_opened >= 10
    assert r.by_action["StopTransaction"].lost >= 5 and r.by_action["MeterValues"].lost >= 5
    assert r.by_action["StopTransaction"].resends == r.by_action["StopTransaction"].lost
    assert r.transactions_stopped >= 5
    frames = seen["frames"]
    # No new BootNotification after a reconnect: the station stays accepted.
    assert sum(1 for f in frames if f[1] == "BootNotification") == 5
    for sid in {f[0] for f in frames}:
        stops = [f[2] for f in frames if f[0] == sid and f[1] == "StopTransaction"]
        assert len(stops) >= 2 and stops[0] == stops[1]  # the same message, resent
        meters = [f[2] for f in frames if f[0] == sid and f[1] == "MeterValues"]
        assert meters[0] == meters[1]


async def test_csms_initiated_calls_are_answered(baseline):
    url, state = baseline
    cfg = fast(url, stations=2, connectors=2, duration=30.0, idle_min=100.0, idle_max=100.0,
               session_min=100.0, session_max=100.0, heartbeat_interval=100.0, steady_start=False)
    stop = asyncio.Event()
    sim = asyncio.create_task(run_simulation(cfg, stop=stop))
    sid = cfg.station_id(0)
    await wait_until(lambda: len(state.statuses) == 2 * 3, 10, "stations to boot", interval=0.02)
    cp = state.connected[sid]
    res = await cp.call(call.GetConfiguration())
    assert {k["key"] for k in res.configuration_key} >= {"HeartbeatInterval", "NumberOfConnectors"}
    res = await cp.call(call.RemoteStartTransaction(id_tag="REMOTE1", connector_id=2))
    assert res.status == "Accepted"
    await wait_until(lambda: any(t["id_tag"] == "REMOTE1" for t in state.transactions.values()), 10,
                     "the remote-started transaction", interval=0.02)
    tx_id, tx = next((k, t) for k, t in state.transactions.items() if t["id_tag"] == "REMOTE1")
    assert tx["station_id"] == sid and tx["connector_id"] == 2
    await wait_until(lambda: state.statuses[(sid, 2)][0] == "Charging", 10, "status Charging", interval=0.02)
    res = await cp.call(call.RemoteStartTransaction(id_tag="REMOTE2", connector_id=2))
    assert res.status == "Rejected"  # the connector is busy
    res = await cp.call(call.RemoteStopTransaction(transaction_id=tx_id))
    assert res.status == "Accepted"
    await wait_until(lambda: tx["stop"] is not None, 10, "the remote stop", interval=0.02)
    assert tx["reason"] == "Remote"
    await wait_until(lambda: state.statuses[(sid, 2)][0] == "Available", 10, "status Available", interval=0.02)
    res = await cp.call(call.Reset(type="Soft"))
    assert res.status == "Accepted"
    stop.set()
    r = await sim
    assert r.duration_s < 30
    check_consistent(r)
    assert_clean(r)
    assert r.incoming_calls == {"GetConfiguration": 1, "RemoteStartTransaction": 2,
                                "RemoteStopTransaction": 1, "Reset": 1}
    assert r.transactions_started == r.transactions_stopped == 1


async def test_cli_prints_json_report(baseline, capsys):
    url, state = baseline
    argv = ["--url", url, "--mode", "throughput", "--stations", "3", "--duration", "1.5", "--json"]
    rc = await asyncio.to_thread(main, argv)
    assert rc == 0
    out = capsys.readouterr().out
    report = msgspec.json.decode(out, type=SimulationReport)
    assert report.stations_connected == 3 and report.callerrors == 0
    assert report.by_action["Heartbeat"].results > 0
    rc = await asyncio.to_thread(main, ["--url", url, "--mode", "storm", "--stations", "2",
                                        "--duration", "5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "time to all accepted+statuses" in out and "BootNotification" in out


async def test_register_puts_stations_and_id_tag(baseline):
    url, _ = baseline
    requests: list[tuple[str, str, str | None, dict]] = []

    class Api(BaseHTTPRequestHandler):
        def do_PUT(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append((self.command, self.path, self.headers.get("Authorization"), body))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        cfg = fast(url, stations=3, duration=1.0, register=True, token="T0K",
                   api_url=f"http://127.0.0.1:{httpd.server_address[1]}")
        r = await run_simulation(cfg)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert r.registered == 4 and r.register_failures == 0
    paths = sorted(p for _, p, _, _ in requests)
    assert paths == ["/api/id-tags/SIMTAG", "/api/stations/SIM000000", "/api/stations/SIM000001",
                     "/api/stations/SIM000002"]
    assert all(auth == "Bearer T0K" for _, _, auth, _ in requests)
    station = next(b for _, p, _, b in requests if p == "/api/stations/SIM000001")
    assert station["password"] == cfg.password
    tag = next(b for _, p, _, b in requests if p.startswith("/api/id-tags/"))
    assert tag == {"status": "Accepted", "expiry_date": None, "parent_id_tag": None}
    assert r.stations_connected == 3


async def test_registration_failure_stops_the_run_with_the_answer(baseline):
    url, state = baseline

    class Api(BaseHTTPRequestHandler):
        def do_PUT(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"detail": "password too short"}'
            self.send_response(422)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        cfg = fast(url, stations=2, duration=1.0, register=True, token="T0K",
                   api_url=f"http://127.0.0.1:{httpd.server_address[1]}")
        with pytest.raises(RegistrationError, match="HTTP 422.*password too short"):
            await run_simulation(cfg)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not state.boots  # no station was started


async def test_worker_processes_share_the_stations(baseline):
    url, state = baseline
    r = await run_simulation(fast(url, mode="throughput", stations=10, duration=1.5, workers=2))
    assert r.workers == 2
    check_consistent(r)
    assert_clean(r)
    assert len(state.boots) == 10
    assert r.steady_calls_per_s is not None and r.steady_calls_per_s > 50


@pytest.mark.parametrize("field,value", [("url", "ws://10.1.2.3:8000"), ("url", "ws://example.com"),
                                         ("api_url", "http://192.168.1.1:8000")])
async def test_only_loopback_targets(field, value):
    cfg = SimulationConfig(register=True, api_url="http://127.0.0.1:8000", duration=1.0)
    setattr(cfg, field, value)
    with pytest.raises(ValueError, match="loopback"):
        await run_simulation(cfg)


def test_bounds_are_enforced():
    with pytest.raises(ValueError):
        SimulationConfig(stations=0).validate()
    with pytest.raises(ValueError):
        SimulationConfig(duration=10 * 3600).validate()
    with pytest.raises(ValueError):
        SimulationConfig(mode="chaos").validate()


async def test_bench_prints_markdown_for_both_targets(baseline, capsys):
    """scripts.bench_stations end to end, with a second baseline standing in for the CSMS."""
    import os

    from scripts.bench_stations import main as bench_main

    url, _ = baseline
    argv = ["--url", url, "--csms-pids", str(os.getpid()), "--mode", "throughput",
            "--stations", "5", "--duration", "1", "--baseline-port", str(_free_port()),
            "--pause", "0"]
    rc = await asyncio.to_thread(bench_main, argv)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "| baseline | 1 |" in out and "| csms | 1 |" in out
    ratio = next(line for line in out.splitlines() if line.startswith("| **csms / baseline**"))
    assert ratio.count("x |") >= 5
    assert "python -m scripts.bench_stations --url" in out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
