"""GET /api/reports/faults, GET /api/anomalies and POST /api/jobs/{job} through the real Serve app."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests import fleet_history as fh
from tests.conftest import VIEWER_TOKEN
from tests.test_fault_report import EXPECTED

pytestmark = pytest.mark.ray


def viewer(csms) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=csms.http_url, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}, timeout=60)


async def test_a_viewer_reads_the_monthly_fault_report(csms, october_gold):
    async with viewer(csms) as api:
        response = await api.get("/api/reports/faults", params={"month": "2026-10"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["month"] == "2026-10" and body["total"] == len(EXPECTED)
    assert [(r["rank"], r["station_id"], r["faults_in_month"]) for r in body["stations"]] == [e[:2] + (e[3],) for e in EXPECTED]
    first = body["stations"][0]
    assert first["worst_day"] == "2026-10-15" and first["daily_counts"] == {"2026-10-15": 5, "2026-10-16": 5}
    assert first["error_codes"] == {"HighTemperature": 10} and first["site"] == "depot-2"


@pytest.mark.parametrize("params, status", [
    ({"month": "2026-07"}, 404), ({"month": "2026-7"}, 422), ({"month": "July"}, 422), ({}, 422),
])
async def test_fault_report_errors(csms, october_gold, params, status):
    async with viewer(csms) as api:
        response = await api.get("/api/reports/faults", params=params)
    assert response.status_code == status, response.text
    assert "detail" in response.json()
    if status == 404:
        assert "2026-07 has not been built" in response.json()["detail"]


async def test_reports_need_a_token(csms, october_gold):
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        assert (await client.get("/api/reports/faults", params={"month": "2026-10"})).status_code == 401
        assert (await client.get("/api/anomalies")).status_code == 401


async def test_anomalies_of_a_day(csms, october_gold):
    async with viewer(csms) as api:
        response = await api.get("/api/anomalies", params={"day": "2026-10-16", "limit": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    (incident,) = body["mass_outages"]
    assert incident["scope_key"] == "site-1" and incident["window_start"].startswith("2026-10-16T10:00:00")
    assert set(incident["station_ids"]) >= set(fh.PLANTED_OUTAGES[0].stations)
    assert [s["rank"] for s in body["maintenance"]] == [1, 2, 3]
    top = body["maintenance"][0]
    assert top["station_id"] == "CP-0-05" and top["day_ts"].startswith("2026-10-16")
    assert top["top_features"] and {"feature", "value", "z_fleet", "z_self"} <= set(top["top_features"][0])


async def test_anomalies_default_to_the_latest_and_respect_the_limit(csms, october_gold):
    async with viewer(csms) as api:
        body = (await api.get("/api/anomalies", params={"limit": 2})).json()
        bad_day = await api.get("/api/anomalies", params={"day": "2026-10-32"})
        bad_limit = await api.get("/api/anomalies", params={"limit": 0})
    assert len(body["mass_outages"]) == 2 and len(body["maintenance"]) == 2
    assert body["maintenance_day"] >= "2026-10-21"
    assert body["mass_outages"][0]["window_start"] >= body["mass_outages"][1]["window_start"]
    assert bad_day.status_code == 422 and bad_limit.status_code == 422


async def test_an_admin_runs_a_job_on_demand(csms, october_gold):
    async with csms.api() as admin, viewer(csms) as api:
        forbidden = await api.post("/api/jobs/fault_report", params={"period": "2026-09"})
        unknown = await admin.post("/api/jobs/reindex")
        bad = await admin.post("/api/jobs/fault_report", params={"period": "2026-9"})
        assert (await api.get("/api/reports/faults", params={"month": "2026-09"})).status_code == 404
        response = await admin.post("/api/jobs/fault_report", params={"period": "2026-09"})
        assert response.status_code == 200, response.text
        built = await api.get("/api/reports/faults", params={"month": "2026-09"})
    assert forbidden.status_code == 403 and unknown.status_code == 404 and bad.status_code == 422
    outcome = response.json()
    assert outcome["job"] == "fault_report" and outcome["period"] == "2026-09" and outcome["status"] == "done"
    assert outcome["on_demand"] is True
    # CP-E's five faults on 30 September (the fixture) make September's report
    assert built.status_code == 200 and [r["station_id"] for r in built.json()["stations"]] == ["CP-E"]


async def test_a_daily_job_on_demand_runs_as_ray_tasks(csms, october_gold):
    day = dt.date(2026, 10, 18)
    async with csms.api() as admin:
        response = await admin.post("/api/jobs/mass_outage", params={"period": day.isoformat()})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "done"
    async with viewer(csms) as api:
        body = (await api.get("/api/anomalies", params={"day": day.isoformat()})).json()
    assert [i["scope_key"] for i in body["mass_outages"]] == ["site-5"]


async def test_the_catalog_describes_the_tables_written_in_the_lake(csms, october_gold):
    async with viewer(csms) as api:
        response = await api.get("/api/catalog")
        # Other tests of this module rebuild this month and build others: compare with now.
        built = (await api.get("/api/reports/faults", params={"month": "2026-10"})).json()["total"]
    assert response.status_code == 200, response.text
    tables = {t["id"]: t for t in response.json()["tables"]}
    report = tables["gold.fault_report"]
    # Rows are counted over every month built; October's alone are `built`.
    assert report["freshness"]["newest_partition"] == "2026-10" and report["freshness"]["rows"] >= built > 0
    assert [c["name"] for c in report["columns"]][:3] == ["month", "rank", "station_id"]
    assert tables["silver.status_changes"]["freshness"]["rows"] > 0
    assert {"bronze.events", "silver.meter_values", "gold.mass_outages"} <= tables.keys()
