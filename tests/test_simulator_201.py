"""The simulator speaking OCPP 2.0.1 (scripts/simulator_ocpp.py): its payloads agree with the `ocpp`
library's schemas, and a short run of 2.0.1 stations (and a mixed fleet) against the real CSMS is
answered with CALLRESULTs only and shows up in the operator API as 2.0.1 transactions."""

from __future__ import annotations

import pytest
from ocpp.messages import Call, validate_payload

from scripts.simulator import SimulationConfig, run_simulation
from scripts.simulator_ocpp import DIALECTS, dialect_of
from tests.conftest import PASSWORD

NOW = "2026-12-02T10:00:00.000Z"


class Connector:
    def __init__(self) -> None:
        self.id, self.meter_wh, self.transaction_id, self.seq_no = 2, 1234, None, 0


def every_message(version: str) -> list[tuple[str, dict]]:
    """Every CALL the simulator makes in `version`, in the order of a session."""
    d, c = DIALECTS[version], Connector()
    messages = [("BootNotification", d.boot("SIM000001", "SimVendor", "SimModel")),
                ("Authorize", d.authorize("SIMTAG"))]
    messages += [("StatusNotification", d.status(cid, status, NOW))
                 for cid, status in d.boot_statuses({1: "Available", 2: "Available"})]
    messages.append(d.meter(c, 11_000.0, NOW))  # outside a transaction
    start = d.start(c, "run7", 1, "SIMTAG", NOW)
    messages.append(start)
    d.started(c, {"transactionId": 7, "idTagInfo": {"status": "Accepted"}} if version == "1.6" else {})
    messages += [("StatusNotification", d.status(c.id, d.charging_status, NOW)), d.meter(c, 7_400.0, NOW)]
    messages += [d.stop(c, "SIMTAG", reason, NOW) for reason in ("Local", "Remote", "DeAuthorized")]
    return messages


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_simulated_message_matches_the_version_schema(version):
    for k, (action, payload) in enumerate(every_message(version)):
        await validate_payload(Call(str(k), action, payload), version)  # raises on a schema violation


def test_a_2_0_1_session_numbers_its_events_from_zero_in_one_transaction():
    events = [p for a, p in every_message("2.0.1") if a == "TransactionEvent"]
    assert [(e["eventType"], e["seqNo"]) for e in events] == [("Started", 0), ("Updated", 1), ("Ended", 2),
                                                              ("Ended", 3), ("Ended", 4)]
    assert {e["transactionInfo"]["transactionId"] for e in events} == {"run7-2-1"}
    assert events[0]["evse"] == {"id": 2, "connectorId": 1} and events[0]["idToken"]["idToken"] == "SIMTAG"


def test_mixed_fleets_alternate_versions():
    assert [dialect_of("mixed", i).version for i in range(4)] == ["1.6", "2.0.1", "1.6", "2.0.1"]
    assert dialect_of("2.0.1", 0).subprotocol == "ocpp2.0.1"


# --- against the real CSMS -------------------------------------------------------------------------


def run_config(csms, prefix: str, **kw) -> SimulationConfig:
    base = dict(
        url=csms.http_url.replace("http://", "ws://"), station_prefix=prefix, stations=4, connectors=2,
        # Well under the CSMS's per-station rate limit (20 frames/s): about 10 a second.
        duration=6.0, heartbeat_interval=1.0, meter_interval=0.25, session_min=0.6, session_max=1.0,
        idle_min=0.5, idle_max=1.0, message_timeout=10.0, retry_interval=0.5, backoff_initial=0.1,
        backoff_max=0.5, seed=3, steady_start=False, register=True, api_url=csms.http_url, token=csms.token,
        password=PASSWORD, id_tag="SIM201TAG", workers=1,
    )
    base.update(kw)
    return SimulationConfig(**base)


@pytest.mark.ray
@pytest.mark.timeout(120)
async def test_a_2_0_1_fleet_runs_sessions_the_csms_answers_and_shows(csms):
    cfg = run_config(csms, "SIM201R", ocpp="2.0.1")
    r = await run_simulation(cfg)
    assert (r.stations_accepted, r.stations, r.errors_by_code) == (4, 4, {}), r.by_action
    assert r.transactions_started >= 4 and r.by_action["TransactionEvent"].results > 0
    assert "StartTransaction" not in r.by_action
    async with csms.api() as api:
        station = (await api.get(f"/api/stations/{cfg.station_id(0)}")).json()
        txs = (await api.get("/api/transactions", params={"station_id": cfg.station_id(0)})).json()["transactions"]
    assert station["ocpp_version"] == "2.0.1"
    assert [c["status"] for e in station["v201"]["evses"] for c in e["connectors"]]  # statuses per EVSE
    ended = [t for t in txs if not t["active"]]
    assert ended, txs
    for t in ended:  # every event arrived: no seqNo gaps; the energy is the register's
        assert isinstance(t["transaction_id"], str) and t["seq_gaps"] == [] and t["evse_id"] in (1, 2)
        assert t["energy_wh"] == t["meter_stop_wh"] - t["meter_start_wh"] >= 0
        # One id token for the whole simulated fleet: on the station's other EVSE at the same
        # time it is ConcurrentTx, and the station ends that transaction at once.
        assert (t["stop_reason"], t["id_tag_status"]) in (("Local", "Accepted"), ("DeAuthorized", "ConcurrentTx"))


@pytest.mark.ray
@pytest.mark.timeout(120)
async def test_a_mixed_fleet_is_answered_in_both_versions(csms):
    # (Throughput mode drives stations past the CSMS's per-station rate limit: bench_stations
    # turns it off for its own CSMS; this one keeps it.)
    cfg = run_config(csms, "SIMMIX", ocpp="mixed", duration=4.0)
    r = await run_simulation(cfg)
    assert (r.stations_accepted, r.errors_by_code, r.timeouts) == (4, {}, 0), r.by_action
    for action in ("StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent"):
        assert r.by_action[action].results > 0, action
    async with csms.api() as api:
        versions = [(await api.get(f"/api/stations/{cfg.station_id(i)}")).json()["ocpp_version"] for i in range(4)]
    assert versions == ["1.6", "2.0.1", "1.6", "2.0.1"]


@pytest.mark.ray
@pytest.mark.timeout(180)
async def test_the_bench_measures_1_6_then_2_0_1_stations_in_one_run(csms, capsys):
    import asyncio
    import os

    from scripts.bench_stations import main as bench_main
    from tests.test_simulator import _free_port

    argv = ["--url", csms.http_url.replace("http://", "ws://"), "--csms-pids", str(os.getpid()),
            "--mode", "realistic", "--versions", "1.6", "2.0.1", "--stations", "3", "--duration", "3",
            "--heartbeat-interval", "1", "--meter-interval", "0.3", "--session", "0.5", "1", "--idle", "0.5", "1",
            "--warmup", "0", "--prefix", "BENCH", "--password", PASSWORD, "--register", "--token", csms.token,
            "--baseline-port", str(_free_port()), "--pause", "0"]
    rc = await asyncio.to_thread(bench_main, argv)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "| baseline | 1 |" in out and "| csms 1.6 | 1 |" in out and "| csms 2.0.1 | 1 |" in out
    for ratio in ("csms 1.6 / baseline", "csms 2.0.1 / baseline", "csms 2.0.1 / csms 1.6"):
        line = next(x for x in out.splitlines() if x.startswith(f"| **{ratio}**"))
        assert line.count("x |") >= 5, line
    async with csms.api() as api:
        v16 = (await api.get("/api/stations/BENCH16-000000")).json()
        v201 = (await api.get("/api/stations/BENCH201-000000")).json()
    assert (v16["ocpp_version"], v201["ocpp_version"]) == ("1.6", "2.0.1")
