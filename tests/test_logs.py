"""Where each part of the CSMS logs (issue 16 item 9, docs/operations.md section 9): every actor
and replica writes its `csms` lines as JSON to its worker's stderr (`logs/worker-*.err`).

The gateway's connect and disconnect lines are checked in tests/test_disconnects.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import register_station
from tests.polling import wait_until
from tests.worker_logs import json_lines, other_lines

pytestmark = pytest.mark.ray


async def test_the_analytics_scheduler_and_its_jobs_log_json_lines_to_the_workers_stderr(csms):
    # The session's scheduler catches up yesterday when it starts: a curation job, run in a
    # task of its own (analytics/scheduler.py in_own_workers).
    def curation_logged():
        scheduler = json_lines("AnalyticsScheduler")
        job = json_lines(task_name="analytics-curation")
        done = any(line["msg"] == "analytics job done" for line in scheduler)
        return done and {line["logger"] for line in job} >= {"csms.analytics.curate"} and (scheduler, job)

    await wait_until(curation_logged, 60, "the scheduler's and the curation's JSON lines")
    # Nothing of ours in another format beside them (only the shards' progress lines are plain).
    for plain in (other_lines("AnalyticsScheduler"), other_lines(None, task_name="analytics-curation")):
        assert [raw for raw in plain if " csms." in raw or " analytics." in raw] == []


async def test_an_operator_command_is_logged_once_by_the_stations_host_with_its_outcome(csms, station_id):
    await register_station(csms, station_id)
    async with csms.api() as api:
        response = await api.post(f"/api/stations/{station_id}/commands/Reset", json={"type": "Soft"})
    assert response.status_code == 409  # not connected: the host decided it

    def logged():
        return [line for line in json_lines() if line.get("station_id") == station_id and line.get("action") == "Reset"]

    lines = await wait_until(logged, 30, "the line about the command")
    assert [(line["logger"], line["msg"], line["outcome"]) for line in lines] == [
        ("csms.station_host", "command not_connected", "not_connected")]
    assert lines[0] in json_lines("StationHost")
