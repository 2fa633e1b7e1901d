"""Authorization outcomes in silver: AuthorizationDecided folded onto transactions, the
authorizations table, and maintenance's failed_starts counted from real refusals."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl

from actors import lake
from actors.authorizer import decision as d
from analytics import catalog as cat
from analytics import curate, maintenance, silver
from analytics import tables as t
from tests.bronze import Bronze
from tests.test_station_session import DAY, Station
from tests.test_station_session import ts as station_ts

D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)
TODAY = dt.date(2026, 11, 5)


def run(root, day=None):
    return curate.run(root, day=day, today=TODAY, echo=lambda *_: None)


def read(table, root, day):
    return pl.read_parquet(t.day_dir(table, root, day) / t.PART_FILE)


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- transactions --------------------------------------------------------------------------


def test_decisions_are_folded_onto_transactions_and_offline_ones_flagged_for_billing(tmp_path):
    b = Bronze()
    # Free vending while the downstream was down: accepted offline.
    b.start("CP1", 1, "2026-11-02T08:00:00Z", id_tag="NEWCARD", message_id="s1")
    b.decided("CP1", "s1", "2026-11-02T08:00:00Z", "free_vending", downstream="breaker_open", transaction_id=1)
    # A fresh downstream answer: a live check.
    b.start("CP1", 2, "2026-11-02T09:00:00Z", id_tag="ROAM", message_id="s2")
    b.decided("CP1", "s2", "2026-11-02T09:00:00Z", "downstream", transaction_id=2)
    # A cached answer, queued offline by the station on D1 and received (and decided) on D3.
    b.start("CP1", 3, "2026-11-02T10:00:00Z", received="2026-11-04T07:00:00Z", id_tag="OLD", message_id="s3")
    b.decided("CP1", "s3", "2026-11-04T07:00:00Z", "cache", downstream="unavailable", transaction_id=3)
    # The local table answered, no authorizer configured: no decision logged.
    b.start("CP2", 1, "2026-11-02T08:30:00Z", message_id="s4")
    for station, tx, stop in (("CP1", 1, "11:00"), ("CP1", 2, "11:10"), ("CP2", 1, "11:20"), ("CP2", -1, "11:30")):
        b.stop(station, tx, f"2026-11-02T{stop}:00Z", 5000)
    b.stop("CP1", 3, "2026-11-02T11:40:00Z", 6000, received="2026-11-04T07:00:05Z")
    # A stop's idTagInfo is decided too (from the cache, without asking): logged, not an authorization.
    b.call("CP2", "StopTransaction", {"transactionId": 7, "meterStop": 10, "timestamp": "2026-11-04T08:00:00Z",
                                      "idTag": "TAG1"}, "2026-11-04T08:00:00Z", station_ts="2026-11-04T08:00:00Z",
           message_id="stop7", result={"idTagInfo": {"status": "Accepted"}})
    b.decided("CP2", "stop7", "2026-11-04T08:00:00Z", "cache", downstream="not_asked")
    b.write(tmp_path)
    run(tmp_path)
    rows = read(t.TRANSACTIONS, tmp_path, D1).select(
        "station_id", "transaction_id", "authorization", "authorized_offline").rows()
    assert rows == [("CP1", 1, "free_vending", True), ("CP1", 2, "downstream", False), ("CP1", 3, "cache", True),
                    ("CP2", 1, None, False), ("CP2", -1, None, None)]
    assert read(t.QUARANTINE, tmp_path, D3).is_empty()  # well-formed decisions are never quarantined
    assert read(t.AUTHORIZATIONS, tmp_path, D3).is_empty()


def test_a_retried_start_keeps_the_decision_it_started_with(tmp_path):
    b = Bronze()
    b.start("CP1", 5, "2026-11-02T08:00:00Z", message_id="a")
    b.decided("CP1", "a", "2026-11-02T08:00:00Z", "free_vending", downstream="unavailable", transaction_id=5)
    b.start("CP1", 5, "2026-11-02T08:00:00Z", received="2026-11-02T08:00:30Z", message_id="b")
    b.decided("CP1", "b", "2026-11-02T08:00:30Z", "downstream", transaction_id=5)
    b.stop("CP1", 5, "2026-11-02T09:00:00Z", 4000)
    b.write(tmp_path)
    run(tmp_path, D1)
    [tx] = read(t.TRANSACTIONS, tmp_path, D1).rows(named=True)
    assert (tx["authorization"], tx["authorized_offline"], tx["is_duplicate"]) == ("free_vending", True, True)
    [auth] = read(t.AUTHORIZATIONS, tmp_path, D1).rows(named=True)  # one row for the retried start
    assert (auth["authorization"], auth["downstream"], auth["seq"]) == ("free_vending", "unavailable", 1)


def test_a_malformed_decision_is_quarantined_with_its_reason_and_decides_nothing(tmp_path):
    b = Bronze()
    b.start("CP1", 1, "2026-11-02T08:00:00Z", message_id="s1")
    b.decided("CP1", "s1", "2026-11-02T08:00:00Z", "telepathy", transaction_id=1)  # not a source
    b.session("CP1", "AuthorizationDecided", "{not json", "2026-11-02T08:05:00Z", message_id="x")
    b.stop("CP1", 1, "2026-11-02T09:00:00Z", 4000)
    b.write(tmp_path)
    run(tmp_path, D1)
    quarantined = read(t.QUARANTINE, tmp_path, D1).select("seq", "action", "reason").rows()
    assert [(seq, action) for seq, action, _ in quarantined] == [(3, "AuthorizationDecided"),
                                                                 (4, "AuthorizationDecided")]
    assert all(reason.startswith("AuthorizationDecided event payload unreadable") for _, _, reason in quarantined)
    assert "telepathy" in quarantined[0][2]
    [tx] = read(t.TRANSACTIONS, tmp_path, D1).rows(named=True)
    assert (tx["authorization"], tx["authorized_offline"]) == (None, False)


# --- the authorizations table ------------------------------------------------------------


def _authorization_bronze() -> Bronze:
    b = Bronze()
    b.authorize("CP1", "roam1", "2026-11-02T07:00:00Z", message_id="a1")
    b.decided("CP1", "a1", "2026-11-02T07:00:00Z", "downstream")
    b.authorize("CP1", "stolen", "2026-11-02T07:05:00Z", status="Blocked")
    b.start("CP1", 9, "2026-11-02T07:10:00Z", id_tag="roam1", connector=2, message_id="s9")
    b.decided("CP1", "s9", "2026-11-02T07:10:00Z", "cache", downstream="breaker_open", transaction_id=9)
    b.start("CP1", 9, "2026-11-02T07:10:00Z", received="2026-11-02T07:10:20Z", id_tag="roam1", connector=2)
    b.start("CP2", 4, "2026-11-02T08:00:00Z", id_tag="expired", status="Expired")
    b.remote_start("CP2", "app-user", "2026-11-02T09:00:00Z", "2026-11-02T09:00:01Z", "Accepted")
    b.remote_start("CP2", "app-user", "2026-11-02T09:10:00Z", "2026-11-02T09:10:01Z", "Rejected", connector=None)
    b.remote_start("CP2", "app-user", "2026-11-02T09:20:00Z", "2026-11-02T09:20:01Z", error=("NotSupported", "no"))
    b.remote_start("CP2", "app-user", "2026-11-02T09:30:00Z")  # never answered
    b.remote_start("CP2", "app-user", "2026-11-02T23:59:59Z", "2026-11-03T00:00:02Z", "Rejected")
    b.status("CP2", 1, "Available", "2026-11-03T08:00:00Z")  # D2 has events of its own
    return b


def test_the_authorizations_table_has_one_row_per_answer(tmp_path):
    _authorization_bronze().write(tmp_path)
    run(tmp_path)
    frame = read(t.AUTHORIZATIONS, tmp_path, D1)
    assert frame.schema == t.AUTHORIZATIONS.schema
    rows = frame.select("station_id", "event_ts", "action", "connector_id", "status", "accepted", "authorization",
                        "downstream", "transaction_id").rows()
    assert rows == [
        ("CP1", ts("2026-11-02T07:00:00Z"), "Authorize", None, "Accepted", True, "downstream", "answered", None),
        ("CP1", ts("2026-11-02T07:05:00Z"), "Authorize", None, "Blocked", False, None, None, None),
        ("CP1", ts("2026-11-02T07:10:00Z"), "StartTransaction", 2, "Accepted", True, "cache", "breaker_open", 9),
        ("CP2", ts("2026-11-02T08:00:00Z"), "StartTransaction", 1, "Expired", False, None, None, 4),
        ("CP2", ts("2026-11-02T09:00:00Z"), "RemoteStartTransaction", 1, "Accepted", True, None, None, None),
        ("CP2", ts("2026-11-02T09:10:00Z"), "RemoteStartTransaction", None, "Rejected", False, None, None, None),
        ("CP2", ts("2026-11-02T09:20:00Z"), "RemoteStartTransaction", 1, None, False, None, None, None),
        ("CP2", ts("2026-11-02T09:30:00Z"), "RemoteStartTransaction", 1, None, False, None, None, None),
        # Sent before midnight, answered after: the day it was sent, with its answer.
        ("CP2", ts("2026-11-02T23:59:59Z"), "RemoteStartTransaction", 1, "Rejected", False, None, None, None),
    ]
    assert set(frame["id_tag_hash"]) == {silver.id_tag_hash(x) for x in ("ROAM1", "stolen", "expired", "app-user")}
    assert read(t.AUTHORIZATIONS, tmp_path, D2).is_empty()
    assert read(t.QUARANTINE, tmp_path, D1).is_empty()
    assert not {"roam1", "ROAM1", "stolen", "expired", "app-user"} & {v for row in frame.rows() for v in row}


def test_a_start_queued_offline_is_an_authorization_of_the_day_it_happened(tmp_path):
    b = Bronze()
    b.start("CP1", 3, "2026-11-02T10:00:00Z", received="2026-11-04T07:00:00Z", id_tag="late", message_id="s3")
    b.decided("CP1", "s3", "2026-11-04T07:00:00Z", "free_vending", downstream="unavailable", transaction_id=3)
    b.write(tmp_path)
    run(tmp_path)
    [row] = read(t.AUTHORIZATIONS, tmp_path, D1).rows(named=True)
    assert (row["event_ts"], row["received_at"], row["authorization"]) == (
        ts("2026-11-02T10:00:00Z"), ts("2026-11-04T07:00:00Z"), "free_vending")
    assert read(t.AUTHORIZATIONS, tmp_path, D3).is_empty()


def test_rerunning_writes_the_same_authorizations_and_grouping_does_not_change_them(tmp_path):
    _authorization_bronze().write(tmp_path)
    run(tmp_path, D1)
    path = t.day_dir(t.AUTHORIZATIONS, tmp_path, D1) / t.PART_FILE
    first = path.read_bytes()
    run(tmp_path, D1)
    assert path.read_bytes() == first
    state = curate.State.load(tmp_path)
    grouped = curate.curate_day(tmp_path, state, D1, curate.Settings(rows_per_group=3))
    assert grouped[t.AUTHORIZATIONS.name] == 9 and path.read_bytes() == first


def test_silver_understands_what_the_live_session_logs(tmp_path):
    """Bronze from the real StationSession (not hand-written): decisions, refusals, a RemoteStart."""
    station = Station()
    station.clock_us += 1_000_000
    decision = d.without_downstream("NEWCARD", "breaker_open", "free_vending", None, None)
    start = {"connectorId": 1, "idTag": "newcard", "meterStart": 100, "timestamp": station_ts(2)}
    outcome = station.session.handle(json.dumps([2, "st1", "StartTransaction", start]), station.clock_us,
                                     station.id_tags, decision)
    station.log.extend(outcome.events)
    tx_id = json.loads(outcome.replies[0])[2]["transactionId"]
    station.call("Authorize", {"idTag": "BLOCKED"})  # the local table answers: no decision
    station.clock_us += 1_000_000
    _, sent = station.session.send_command("rs1", "RemoteStartTransaction", json.dumps({"idTag": "TAG1"}),
                                           station.clock_us)
    station.log.append(sent)
    station.send(json.dumps([3, "rs1", {"status": "Rejected"}]))
    station.call("StopTransaction", {"transactionId": tx_id, "meterStop": 900, "timestamp": station_ts(30)})
    lake.write_bronze(tmp_path, list(enumerate(station.log, 1)), "station-host-0", "live")
    day = DAY.date()
    curate.run(tmp_path, day=day, echo=lambda *_: None)

    assert read(t.QUARANTINE, tmp_path, day).is_empty()
    [tx] = read(t.TRANSACTIONS, tmp_path, day).rows(named=True)
    assert (tx["transaction_id"], tx["authorization"], tx["authorized_offline"]) == (tx_id, "free_vending", True)
    assert d.OFFLINE_SOURCES == {"cache", "free_vending"}
    rows = read(t.AUTHORIZATIONS, tmp_path, day).select("action", "status", "authorization", "downstream").rows()
    assert rows == [("Authorize", "Blocked", None, None),  # by event time: the start's is its own timestamp
                    ("RemoteStartTransaction", "Rejected", None, None),
                    ("StartTransaction", "Accepted", "free_vending", "breaker_open")]


# --- catalog and retention -------------------------------------------------------------------


def test_the_catalog_describes_the_authorizations_as_they_are_written(tmp_path):
    _authorization_bronze().write(tmp_path)
    run(tmp_path)
    entries = {tb["id"]: tb for tb in cat.catalog(tmp_path)["tables"]}
    entry = entries["silver.authorizations"]
    assert entry["partitioning"]["time_column"] == "event_ts" and entry["freshness"]["rows"] == 9
    described = duckdb.sql(f"describe select * from read_parquet('{t.day_dir(t.AUTHORIZATIONS, tmp_path, D1)}/"
                           f"{t.PART_FILE}', hive_partitioning=false)").fetchall()
    assert [(c["name"], c["type"]) for c in entry["columns"]] == [(r[0], r[1]) for r in described]
    tx_columns = [c["name"] for c in entries["silver.transactions"]["columns"]]
    # Appended after the authorization columns: the 2.0.1 ones (issue 11).
    assert tx_columns[-5:] == ["authorization", "authorized_offline", "station_transaction_id", "evse_id", "seq_gaps"]


# --- maintenance ---------------------------------------------------------------------------


def test_failed_starts_are_the_real_refusals_of_each_station_and_day(tmp_path):
    _authorization_bronze().write(tmp_path)
    b = Bronze(source="station-host-1")
    # A short session with no energy is not a refusal any more (it was the proxy).
    b.start("CP3", 1, "2026-11-02T12:00:00Z")
    b.stop("CP3", 1, "2026-11-02T12:00:30Z", 1000)
    b.authorize("CP3", "nobody", "2026-11-03T12:00:00Z", status="Invalid")
    b.write(tmp_path)
    run(tmp_path)
    features = maintenance.compute_features(tmp_path, [D1, D2], history_days=0, shards=2, use_ray=False)
    counts = {(r["station_id"], r["day"]): r["failed_starts"] for r in features.iter_rows(named=True)}
    # CP1: Blocked Authorize. CP2: Expired start, Rejected RemoteStart (the CALLERROR and the
    # unanswered one are not refusals), and the one rejected just after midnight, dated when sent.
    assert counts == {("CP1", D1): 1, ("CP1", D2): 0, ("CP2", D1): 3, ("CP2", D2): 0,
                      ("CP3", D1): 0, ("CP3", D2): 1}
