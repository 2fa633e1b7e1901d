"""The anomaly jobs find what was planted in a generated silver history (tests/fleet_history.py)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import maintenance, mass_outage
from analytics.tables import MAINTENANCE_SCORES, MASS_OUTAGES, PART_FILE, day_dir
from tests import fleet_history as fh


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    fh.generate(root)
    return root


def _matches(incident: dict, outage: fh.PlantedOutage) -> bool:
    in_time = incident["window_start"] <= outage.at + dt.timedelta(minutes=4) and outage.at <= incident["window_end"]
    if not in_time:
        return False
    if incident["scope"] == outage.scope and incident["scope_key"] == outage.key:
        return True
    # A region-wide outage is also an outage of each of its sites that it hit hard.
    return (outage.scope == "region" and incident["scope"] == "site"
            and fh.region(int(incident["scope_key"].split("-")[1])) == outage.key)


def test_mass_outages_found_with_precision_and_recall(fleet):
    incidents = mass_outage.run(fleet, fh.SCORED_DAYS, use_ray=False).to_dicts()
    true_positives = [i for i in incidents if any(_matches(i, o) for o in fh.PLANTED_OUTAGES)]
    found = [o for o in fh.PLANTED_OUTAGES
             if any(_matches(i, o) and i["scope"] == o.scope and i["scope_key"] == o.key for i in incidents)]
    precision = len(true_positives) / max(len(incidents), 1)
    recall = len(found) / len(fh.PLANTED_OUTAGES)
    print(f"\nmass outages: {len(incidents)} incidents, precision {precision:.2f}, recall {recall:.2f}")
    assert recall == 1.0 and precision >= 0.9
    for outage in fh.PLANTED_OUTAGES:
        (incident,) = [i for i in incidents if i["scope"] == outage.scope and i["scope_key"] == outage.key
                       and _matches(i, outage)]
        assert set(json.loads(incident["station_ids"])) >= set(outage.stations)
        assert incident["window_end"] - incident["window_start"] <= dt.timedelta(minutes=20)
        assert incident["score"] >= 4.0 and incident["expected"] == 0.0
    # The near misses: a site-wide blip that came straight back, two stations down together.
    for key, at, _, _ in fh.NEAR_MISSES:
        assert not [i for i in incidents if i["scope_key"] == key and abs(i["window_start"] - at) < dt.timedelta(hours=1)]


def test_mass_outage_partitions_are_written_per_day_and_rewritten_identically(fleet):
    first = mass_outage.run(fleet, fh.SCORED_DAYS, use_ray=False)
    files = {day: day_dir(MASS_OUTAGES, fleet, day) / PART_FILE for day in fh.SCORED_DAYS}
    before = {day: pl.read_parquet(path) for day, path in files.items()}
    assert sum(f.height for f in before.values()) == first.height
    assert before[dt.date(2026, 10, 15)].is_empty()  # scored, nothing found: still a partition
    mass_outage.run(fleet, fh.SCORED_DAYS, use_ray=False)
    assert all(pl.read_parquet(path).equals(before[day]) for day, path in files.items())


def _alerts(scores: dict[dt.date, pl.DataFrame], top: int, threshold: float) -> tuple[float, float]:
    alerts = {(r["station_id"], day) for day, frame in scores.items()
              for r in frame.filter(pl.col("rank") <= top, pl.col("score") >= threshold).iter_rows(named=True)}
    positives = {(s, day) for day in scores for s in fh.DEGRADING if fh.at_risk(s, day)}
    hits = alerts & positives
    return len(hits) / max(len(alerts), 1), len(hits) / len(positives)


def test_maintenance_ranks_the_degrading_chargers_first(fleet):
    robust = maintenance.run(fleet, fh.SCORED_DAYS, use_ray=False)
    iforest = maintenance.run(fleet, fh.SCORED_DAYS, model="iforest", use_ray=False)
    p_robust, r_robust = _alerts(robust, top=3, threshold=6.0)
    p_iforest, r_iforest = _alerts(iforest, top=3, threshold=0.65)
    print(f"\nmaintenance (alert = top 3 of the day and over the threshold): "
          f"robust precision {p_robust:.2f} recall {r_robust:.2f}; "
          f"isolation forest precision {p_iforest:.2f} recall {r_iforest:.2f}")
    assert p_robust >= 0.9 and r_robust >= 0.75
    assert p_iforest >= 0.7 and r_iforest >= 0.6
    # On its failure day every degrading charger ranks above every healthy one (only other
    # wearing chargers, whose ramps overlap, may be ahead of it).
    for station_id, failure in fh.DEGRADING.items():
        day = robust[failure]
        rank = day.filter(pl.col("station_id") == station_id)["rank"][0]
        assert set(day.filter(pl.col("rank") < rank)["station_id"]) <= set(fh.DEGRADING)
        assert rank <= 3


def test_maintenance_scores_say_which_features_drove_them(fleet):
    scored = maintenance.run(fleet, [dt.date(2026, 10, 19)], use_ray=False)[dt.date(2026, 10, 19)]
    assert scored.schema == MAINTENANCE_SCORES.schema
    assert scored.height == fh.SITES * fh.PER_SITE and list(scored["rank"]) == list(range(1, scored.height + 1))
    assert scored["score"].is_sorted(descending=True)
    top = scored.row(0, named=True)
    drivers = json.loads(top["top_features"])
    assert top["station_id"] in fh.DEGRADING and 1 <= len(drivers) <= 3
    assert {d["feature"] for d in drivers} <= set(maintenance.FEATURES)
    assert all(d["z_fleet"] + d["z_self"] >= 2.0 for d in drivers)
    assert top["faults"] >= 4 and top["day_ts"] == dt.datetime(2026, 10, 19, tzinfo=dt.timezone.utc)
    healthy = scored.filter(~pl.col("station_id").is_in(list(fh.DEGRADING)))
    assert healthy["meter_cadence_cv"].median() < 0.05  # a steady 5-minute clock


def test_isolation_forest_isolates_an_outlier():
    import numpy as np

    rng = np.random.default_rng(1)
    points = np.vstack([rng.normal(0, 1, (500, 3)), [[9.0, 9.0, 9.0]]])
    scores = maintenance.IsolationForest(seed=3).fit(points).score(points)
    assert scores.argmax() == 500 and scores[500] > 0.7 and np.median(scores[:500]) < 0.5


@pytest.mark.ray
def test_jobs_give_the_same_answer_as_ray_tasks(fleet):
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address="local", include_dashboard=False, num_cpus=2, logging_level="WARNING")
    try:
        local = mass_outage.detect(fleet, fh.SCORED_DAYS, use_ray=False)
        assert mass_outage.detect(fleet, fh.SCORED_DAYS, shards=3, use_ray=True).equals(local)
        day = dt.date(2026, 10, 18)
        features = maintenance.compute_features(fleet, [day], shards=3, use_ray=True)
        in_process = maintenance.compute_features(fleet, [day], shards=3, use_ray=False)
        # Float sums may differ in the last bits with DuckDB's parallel aggregation.
        assert_frame_equal(features.sort("station_id", "day"), in_process.sort("station_id", "day"), check_exact=False)
        assert maintenance.score_day(features, day)["station_id"][0] == "CP-4-02"
    finally:
        if started_here:
            ray.shutdown()


def test_command_lines_score_and_print(fleet, capsys):
    assert mass_outage.main(["--day", "2026-10-16", "--data-root", str(fleet)]) == 0
    assert "site:site-1:2026-10-16T10:00:00Z: 10/12 stations" in capsys.readouterr().out
    assert maintenance.main(["--day", "2026-10-16", "--top", "2", "--data-root", str(fleet)]) == 0
    out = capsys.readouterr().out
    assert "2026-10-16: top 2 of 96" in out and "CP-0-05" in out.splitlines()[1]
