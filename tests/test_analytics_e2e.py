"""Bronze -> silver -> gold end to end: the curation and the gold jobs run together.

Part 1: a hand-written month of bronze whose fault report is computed by hand below.
Part 2: a generated fleet (scripts/gen_history.py) whose planted anomalies the gold jobs
must find; precision and recall are printed and held to floors.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from analytics import curate, fault_report, maintenance, mass_outage
from analytics import tables as t
from scripts import gen_history
from tests.bronze import Bronze

MONTH = "2026-10"


def _faults(b: Bronze, station: str, times: list[str], error_code: str, connector: int = 1,
            received: str | None = None) -> None:
    """Faulted notifications at the given station times, each followed by Available a minute later."""
    for at in times:
        b.status(station, connector, "Faulted", at, received=received, error_code=error_code)
        back = dt.datetime.fromisoformat(at.replace("Z", "+00:00")) + dt.timedelta(minutes=1)
        b.status(station, connector, "Available", back.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 received=received)


def _no_timestamp_fault(b: Bronze, station: str, received: str, error_code: str) -> None:
    # A station without a clock: the payload has no timestamp, bronze no station_ts.
    b.call(station, "StatusNotification", {"connectorId": 1, "errorCode": error_code, "status": "Faulted"}, received)


def first_batch(b: Bronze) -> None:
    """Everything received by 1 November."""
    reg = {"password_hash": "", "metadata": {"region": "north"}}
    b.session("CP-A", "StationRegistered", {**reg, "site": "depot-1"}, "2026-09-01T08:00:00Z")
    b.session("CP-G", "StationRegistered", {**reg, "site": "depot-2"}, "2026-09-01T08:00:00Z")
    # CP-A: exactly 5 on 3 October (in), one more on the 10th.
    _faults(b, "CP-A", [f"2026-10-03T08:{m:02d}:00Z" for m in (0, 10, 20, 30, 40)], "GroundFailure")
    _faults(b, "CP-A", ["2026-10-10T12:00:00Z"], "OverCurrentFailure")
    # CP-B: 4 + 4 on two days (out); one of the 5th-October faults is retransmitted 40 s later,
    # same content: counted once (twice would make that day 5 and CP-B qualify).
    _faults(b, "CP-B", [f"2026-10-05T10:{m:02d}:00Z" for m in (0, 10, 20, 30)], "GroundFailure")
    b.status("CP-B", 1, "Faulted", "2026-10-05T10:20:00Z", received="2026-10-05T10:20:40Z", error_code="GroundFailure")
    _faults(b, "CP-B", [f"2026-10-06T10:{m:02d}:00Z" for m in (0, 10, 20, 30)], "GroundFailure")
    # CP-C: 5 just before midnight by the station's clock, all received after it; 2 after it.
    # By station time 5 + 2 (in); by receive time 0 + 7.
    _faults(b, "CP-C", [f"2026-10-09T23:{m}:00Z" for m in (50, 52, 54, 56)], "HighTemperature",
            received="2026-10-10T00:01:00Z")
    b.status("CP-C", 1, "Faulted", "2026-10-09T23:58:00Z", received="2026-10-10T00:01:00Z", error_code="HighTemperature")
    _faults(b, "CP-C", ["2026-10-10T00:05:00Z", "2026-10-10T00:07:00Z"], "HighTemperature")
    # CP-D: 8 faults within 14 minutes, 4 on each side of midnight: out.
    for at in [f"2026-10-07T23:{m}:00Z" for m in (52, 54, 56, 58)] + [f"2026-10-08T00:0{m}:00Z" for m in (0, 2, 4, 6)]:
        b.status("CP-D", 1, "Faulted", at, error_code="GroundFailure")
    # CP-E: 5 on the evening of 31 October, queued offline and received on 1 November: October's.
    for k, m in enumerate((0, 10, 20, 30, 40)):
        b.status("CP-E", 1, "Faulted", f"2026-10-31T20:{m:02d}:00Z", received=f"2026-11-01T08:00:0{k}Z",
                 error_code="PowerMeterFailure")
    # CP-F: 4 on 30 October now (out so far); the 5th arrives after the first curation run.
    _faults(b, "CP-F", [f"2026-10-30T09:{m:02d}:00Z" for m in (0, 10, 20, 30)], "ReaderFailure")
    # CP-G: 2 on connector 0 (the whole station) and 3 on connector 1 the same day: 5, in.
    _faults(b, "CP-G", ["2026-10-14T06:00:00Z", "2026-10-14T06:30:00Z"], "InternalError", connector=0)
    _faults(b, "CP-G", [f"2026-10-14T07:{m:02d}:00Z" for m in (0, 10, 20)], "GroundFailure")
    # CP-H: 4 with a timestamp on the 20th, and two without one: the receive time decides the
    # day, one just before midnight (the 20th: 5, in) and one just after it (the 21st).
    _faults(b, "CP-H", [f"2026-10-20T22:{m:02d}:00Z" for m in (0, 10, 20, 30)], "EVCommunicationError")
    _no_timestamp_fault(b, "CP-H", "2026-10-20T23:59:30Z", "EVCommunicationError")
    _no_timestamp_fault(b, "CP-H", "2026-10-21T00:00:30Z", "EVCommunicationError")
    # CP-I: 5 on 30 September received on 1 October (September's, not October's) and 1 in October.
    for m in (0, 10, 20, 30, 40):
        b.status("CP-I", 1, "Faulted", f"2026-09-30T23:{m:02d}:00Z", received="2026-10-01T00:10:00Z",
                 error_code="GroundFailure")
    _faults(b, "CP-I", ["2026-10-01T06:00:00Z"], "GroundFailure")
    # CP-J: 4 Faulted and 3 Unavailable on one day: only Faulted counts, out.
    _faults(b, "CP-J", [f"2026-10-15T05:{m:02d}:00Z" for m in (0, 10, 20, 30)], "GroundFailure")
    for m in (0, 10, 20):
        b.status("CP-J", 1, "Unavailable", f"2026-10-15T07:{m:02d}:00Z")


def late_batch(b: Bronze) -> None:
    """CP-F's 5th fault of 30 October, delivered on 2 November (after the first curation)."""
    b.status("CP-F", 1, "Faulted", "2026-10-30T17:00:00Z", received="2026-11-02T07:00:00Z", error_code="ReaderFailure")


# rank, station, site, faults in month, worst day, its faults, days >= 5, per-day counts, error codes
EXPECTED = [
    (1, "CP-C", None, 7, "2026-10-09", 5, 1, {"2026-10-09": 5, "2026-10-10": 2}, {"HighTemperature": 7}),
    (2, "CP-A", "depot-1", 6, "2026-10-03", 5, 1, {"2026-10-03": 5, "2026-10-10": 1},
     {"GroundFailure": 5, "OverCurrentFailure": 1}),
    (3, "CP-H", None, 6, "2026-10-20", 5, 1, {"2026-10-20": 5, "2026-10-21": 1}, {"EVCommunicationError": 6}),
    (4, "CP-E", None, 5, "2026-10-31", 5, 1, {"2026-10-31": 5}, {"PowerMeterFailure": 5}),
    (5, "CP-F", None, 5, "2026-10-30", 5, 1, {"2026-10-30": 5}, {"ReaderFailure": 5}),
    (6, "CP-G", "depot-2", 5, "2026-10-14", 5, 1, {"2026-10-14": 5}, {"GroundFailure": 3, "InternalError": 2}),
]
SEPTEMBER = [(1, "CP-I", None, 5, "2026-09-30", 5, 1, {"2026-09-30": 5}, {"GroundFailure": 5})]


def as_tuples(report: pl.DataFrame) -> list[tuple]:
    return [(r["rank"], r["station_id"], r["site"], r["faults_in_month"], r["worst_day"].isoformat(),
             r["worst_day_faults"], r["days_at_or_over_threshold"], json.loads(r["daily_counts"]),
             json.loads(r["error_codes"])) for r in report.iter_rows(named=True)]


def curate_default(root: Path, today: str) -> list[str]:
    return sorted(curate.run(root, today=dt.date.fromisoformat(today), echo=lambda *_: None))


def lake_bytes(root: Path) -> dict[str, bytes]:
    """Every silver and gold file (not the curation's own state) by path."""
    return {str(p.relative_to(root)): p.read_bytes() for layer in ("silver", "gold")
            for p in sorted((root / layer).rglob("*")) if p.is_file() and "_curation" not in p.parts}


def test_hand_written_month_curated_and_reported(tmp_path):
    root = tmp_path / "incremental"
    b = Bronze()
    first_batch(b)
    b.write(root, "host-0-1", first_seq=1)

    # The daily run of 2 November: yesterday plus every day the new bronze touched.
    days = curate_default(root, "2026-11-02")
    assert days == ["2026-09-01", "2026-09-30", "2026-10-01", *[f"2026-10-{d:02d}" for d in
                    (3, 5, 6, 7, 8, 9, 10, 14, 15, 20, 21, 30, 31)], "2026-11-01"]
    before_late = fault_report.run(root, MONTH)
    assert as_tuples(before_late) == [(r, *row[1:]) for r, row in enumerate(
        [e for e in EXPECTED if e[1] != "CP-F"], 1)]

    # CP-F's late fault arrives; the next daily run rewrites 30 October (and curates yesterday).
    late_batch(b)
    b.write(root, "host-0-10000", first_seq=10_000)
    assert curate_default(root, "2026-11-03") == ["2026-10-30", "2026-11-02"]
    report = fault_report.run(root, MONTH)
    assert report.schema == t.FAULT_REPORT.schema
    assert as_tuples(report) == EXPECTED
    assert set(report["month"]) == {MONTH}
    # Error codes most frequent first, as the e-mail shows them.
    assert list(json.loads(report.filter(pl.col("station_id") == "CP-G")["error_codes"][0])) == \
        ["GroundFailure", "InternalError"]
    assert as_tuples(fault_report.run(root, "2026-09")) == SEPTEMBER
    assert fault_report.build_report(root, "2026-11").is_empty()  # CP-E's arrival month has none of it

    # The CSV says what the Parquet says.
    directory = fault_report.report_dir(root, MONTH)
    parquet = pl.read_parquet(directory / t.PART_FILE)
    csv = pl.read_csv(directory / fault_report.CSV_FILE, schema={**t.FAULT_REPORT.schema, "worst_day": pl.String})
    assert csv.with_columns(pl.col("worst_day").str.to_date()).equals(parquet)
    assert as_tuples(parquet) == EXPECTED

    # Re-running everything (each day of both months by `day=`, then both reports) gives the same bytes.
    built = lake_bytes(root)
    for day in [*days, "2026-11-02"]:
        curate.run(root, day=dt.date.fromisoformat(day), echo=lambda *_: None)
    fault_report.run(root, "2026-09")
    fault_report.run(root, MONTH)
    assert lake_bytes(root) == built

    # Curating all the bronze at once (no late arrival) gives the same silver and gold.
    at_once = tmp_path / "at-once"
    b = Bronze()
    first_batch(b)
    b.write(at_once, "host-0-1", first_seq=1)
    late_batch(b)
    b.write(at_once, "host-0-10000", first_seq=10_000)
    curate_default(at_once, "2026-11-03")
    fault_report.run(at_once, "2026-09")
    fault_report.run(at_once, MONTH)
    assert lake_bytes(at_once) == built


def test_duplicate_and_clockless_statuses_in_silver(tmp_path):
    """The silver rows behind the report's counts: one row per retransmitted fault, the receive
    time as the event time of a notification without a timestamp."""
    b = Bronze()
    first_batch(b)
    b.write(tmp_path, "host-0-1")
    curate_default(tmp_path, "2026-11-02")

    def faulted(station: str, day: str) -> pl.DataFrame:
        path = t.day_dir(t.STATUS_CHANGES, tmp_path, dt.date.fromisoformat(day)) / t.PART_FILE
        return pl.read_parquet(path).filter(pl.col("station_id") == station, pl.col("status") == "Faulted")

    assert faulted("CP-B", "2026-10-05").height == 4
    clockless = faulted("CP-H", "2026-10-20").filter(pl.col("station_ts").is_null())
    assert clockless.select(pl.col("event_ts").dt.strftime("%H:%M:%S")).item() == "23:59:30"
    assert faulted("CP-H", "2026-10-21").height == 1
    late = faulted("CP-E", "2026-10-31")
    assert late.height == 5 and late["lateness_s"].min() > 11 * 3600
    assert faulted("CP-I", "2026-10-01").height == 1 and faulted("CP-I", "2026-09-30").height == 5


# --- part 2: a generated fleet against its truth file -------------------------------------------

GEN_START, GEN_DAYS = dt.date(2026, 9, 24), 38  # the whole of October, and a week of history before it
GEN_DAYS_LIST = [GEN_START + dt.timedelta(days=k) for k in range(GEN_DAYS)]
SCORED = [d for d in GEN_DAYS_LIST if d >= dt.date(2026, 10, 1)]
MAINTENANCE_TOP = 3  # an alert: one of the day's three highest scores (1 % of the fleet) ...
MAINTENANCE_MIN_SCORE = 6.0  # ... and a score this high (the threshold test_anomalies uses)
WARNING_DAYS = 3  # a degrading charger counts as found when alerted in the 3 days before it fails


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    options = gen_history.Options(
        stations=300, start=GEN_START, days=GEN_DAYS, seed=11, data_root=root, truth=root / "truth.json",
        degrading_share=0.03, outages=12, chunk_stations=300)
    gen_history.generate(options, echo=lambda *a, **k: None)
    truth = json.loads(options.truth.read_text())
    curate.run(root, today=GEN_START + dt.timedelta(days=GEN_DAYS), echo=lambda *_: None)
    return root, truth


def _overlaps(incident: dict, outage: dict, slack=dt.timedelta(minutes=5)) -> bool:
    start = dt.datetime.fromisoformat(outage["window_start"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(outage["window_end"].replace("Z", "+00:00"))
    return incident["window_start"] <= end + slack and start <= incident["window_end"]


def _explains(incident: dict, outage: dict, sites: dict[str, str]) -> bool:
    if not _overlaps(incident, outage):
        return False
    if (incident["scope"], incident["scope_key"]) == (outage["scope"], outage["scope_key"]):
        return True
    # A region-wide outage is also an outage of each of its sites; a site-wide one may lift
    # its whole region above that region's normal (a small region is a few sites).
    if outage["scope"] == "region" and incident["scope"] == "site":
        return sites.get(incident["scope_key"]) == outage["scope_key"]
    if outage["scope"] == "site" and incident["scope"] == "region":
        return sites.get(outage["scope_key"]) == incident["scope_key"]
    return False


def test_generated_mass_outages_match_the_truth(generated):
    root, truth = generated
    incidents = mass_outage.run(root, SCORED, shards=2, use_ray=False).to_dicts()
    planted = [o for o in truth["outages"] if dt.date.fromisoformat(o["day"]) in SCORED]
    explained = [i for i in incidents if any(_explains(i, o, truth["sites"]) for o in planted)]
    found = [o for o in planted if any(_overlaps(i, o) and (i["scope"], i["scope_key"]) == (o["scope"], o["scope_key"])
                                       for i in incidents)]
    precision = len(explained) / max(len(incidents), 1)
    recall = len(found) / max(len(planted), 1)
    print(f"\nmass outages on generated data: {len(planted)} planted, {len(incidents)} incidents, "
          f"precision {precision:.2f}, recall {recall:.2f}")
    for o in planted:
        if o not in found:
            print("  missed:", {k: o[k] for k in ("scope", "scope_key", "mode", "window_start", "in_scope")},
                  len(o["stations"]), "stations")
    for i in incidents:
        if i not in explained:
            print("  unexplained:", i["incident_id"], i["stations_affected"], "/", i["stations_in_scope"])
    assert len(planted) >= 8
    # Measured (seed 11): precision 1.00, recall 1.00 (11 planted, 47 incidents: a region-wide outage
    # is also one incident per site it hit).
    assert precision >= 0.9 and recall >= 0.9


def _maintenance_quality(scores: dict[dt.date, pl.DataFrame], degrading: list[dict]) -> tuple[float, float, list]:
    alerts = {(r["station_id"], day) for day, frame in scores.items()
              for r in frame.filter(pl.col("rank") <= MAINTENANCE_TOP, pl.col("score") >= MAINTENANCE_MIN_SCORE)
              .iter_rows(named=True)}
    ramps = {d["station_id"]: (dt.date.fromisoformat(d["degrading_from"]), dt.date.fromisoformat(d["failure_day"]))
             for d in degrading}
    # A true alert: a degrading charger, in its ramp or on its failure day.
    true_alerts = {(s, day) for s, day in alerts if s in ramps and ramps[s][0] <= day <= ramps[s][1]}
    # Found: alerted on one of the WARNING_DAYS days before the failure (a scored day).
    judged = {s: r for s, r in ramps.items() if r[1] - dt.timedelta(days=1) in scores}
    found = [s for s, (_, failure) in judged.items()
             if any((s, failure - dt.timedelta(days=k)) in alerts for k in range(1, WARNING_DAYS + 1))]
    missed = sorted(set(judged) - set(found))
    return len(true_alerts) / max(len(alerts), 1), len(found) / max(len(judged), 1), missed


def test_generated_degrading_chargers_are_ranked_before_they_fail(generated):
    root, truth = generated
    scores = maintenance.run(root, SCORED, shards=2, use_ray=False)
    precision, recall, missed = _maintenance_quality(scores, truth["degrading"])
    judged = [d for d in truth["degrading"] if dt.date.fromisoformat(d["failure_day"]) - dt.timedelta(days=1) in scores]
    print(f"\npredictive maintenance on generated data: {len(judged)} degrading chargers judged, "
          f"alert = top {MAINTENANCE_TOP} and score >= {MAINTENANCE_MIN_SCORE}: precision {precision:.2f}, "
          f"recall {recall:.2f} (alerted within {WARNING_DAYS} days before failing); missed {missed}")
    assert len(judged) >= 5
    # Measured (seed 11): precision 0.92, recall 1.00. The false alerts left are healthy chargers
    # whose fault burst fell on a day with a link drop (a reconnect always boots in the generator).
    assert precision >= 0.85 and recall >= 0.85


def test_generated_month_fault_report_is_what_was_planted(generated):
    root, truth = generated
    report = fault_report.run(root, MONTH)
    reported = {(r["station_id"], day): n for r in report.iter_rows(named=True)
                for day, n in json.loads(r["daily_counts"]).items() if n >= fault_report.FAULTS_PER_DAY_THRESHOLD}
    planted = {(b["station_id"], b["day"]): b["faults"] for b in truth["fault_burst_days"] if b["day"].startswith(MONTH)}
    assert len(planted) >= 10
    assert reported == planted
    assert report.height == len({s for s, _ in planted})


def test_a_one_day_fault_burst_alone_is_not_wear():
    """Found by the generated fleet: healthy chargers with one loud day of faults (what the fault
    report is for) took most maintenance alerts. One symptom now scores at most MAX_EVIDENCE."""
    day = dt.date(2026, 10, 20)
    rows = []
    for k in range(15):
        d = day - dt.timedelta(days=14 - k)
        for s in range(20):
            sid = f"CP-{s:02d}"
            today = d == day
            rows.append({"station_id": sid, "day": d,
                         "faults": 9 if today and sid == "CP-00" else 3 if today and sid == "CP-01" else 0,
                         "reboots": 2 if today and sid == "CP-01" else 0,
                         "disconnects": 2 if today and sid == "CP-01" else 0, "failed_starts": 0,
                         "meter_cadence_cv": 0.01, "energy_per_session_wh": 20_000.0})
    scored = maintenance.score_day(pl.DataFrame(rows), day)
    by_station = {r["station_id"]: r for r in scored.iter_rows(named=True)}
    assert by_station["CP-01"]["rank"] == 1 and by_station["CP-01"]["score"] >= MAINTENANCE_MIN_SCORE
    assert by_station["CP-00"]["rank"] == 2 and by_station["CP-00"]["score"] == maintenance.MAX_EVIDENCE
