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
    # The session's scheduler catches up yesterday when it starts: a curation job.
    def curation_logged():
        lines = json_lines("AnalyticsScheduler")
        loggers = {line["logger"] for line in lines}
        return {"csms.analytics.scheduler", "csms.analytics.curate"} <= loggers and lines

    lines = await wait_until(curation_logged, 60, "the scheduler's and the curation's JSON lines")
    assert any(line["msg"] == "analytics job done" for line in lines)
    # Nothing of ours in another format beside them (only the shards' progress lines are plain).
    assert [raw for raw in other_lines("AnalyticsScheduler") if " csms." in raw or " analytics." in raw] == []


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
