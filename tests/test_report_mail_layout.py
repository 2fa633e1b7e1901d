"""The report e-mail as a real headless Chromium lays it out: dates, station ids and sites never break (issue 16 item 10)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from analytics import report_mail
from analytics.tables import FAULT_REPORT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/test installs it)")

# After layout, the number of line boxes of every nowrap cell and item of the report table,
# and of a control that must wrap (so a probe that cannot see wrapping fails the test).
PROBE = """<div id="control" style="width:3em">CP-FOXTROT-0001-NORTH</div><script>
window.addEventListener('load', () => {
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set(Array.from(r.getClientRects()).filter(x => x.width > 0).map(x => Math.round(x.top))).size; };
  const found = Array.from(document.querySelectorAll('#fault-report [style*="white-space:nowrap"]'))
    .map(el => [el.textContent, lines(el)]);
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({control: lines(document.getElementById('control')), cells: found});
  document.body.appendChild(pre);
});
</script></body>"""


def long_report(stations: int = 8) -> pl.DataFrame:
    """Long ids and hyphenated sites, a fault every other day, several codes and connectors."""
    sites = ["depot-north-west-7", None, "CP-site-FOXTROT", "parking-garage-level-3"]
    rows = [{
        "month": "2026-10", "rank": i + 1, "station_id": f"CP-FOXTROT-{i:04d}-NORTH", "site": sites[i % len(sites)],
        "faults_in_month": 100 - i, "worst_day": dt.date(2026, 10, 25), "worst_day_faults": 9,
        "days_at_or_over_threshold": 15,
        "daily_counts": json.dumps({f"2026-10-{d:02d}": 5 + d % 3 for d in range(1, 31, 2)}),
        "error_codes": json.dumps({"GroundFailure": 40, "HighTemperature": 30, "OverCurrentFailure": 20,
                                   "EVCommunicationError": 10}),
        "faulted_connectors": json.dumps({"0": 3, "1": 50, "2": 47}),
        "still_faulted_connectors": json.dumps([1, 2] if i % 2 else []),
    } for i in range(stations)]
    return pl.DataFrame(rows, schema=FAULT_REPORT.schema)


def laid_out(page: Path, width: int, profile: Path) -> dict:
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--window-size={width},1000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, check=True)
    start = result.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    return json.loads(result.stdout[start:result.stdout.index("</pre>", start)].replace("&quot;", '"'))


@pytest.mark.parametrize("width", [1400, 800])
def test_dates_station_ids_sites_and_day_counts_stay_on_one_line(tmp_path, width):
    report = long_report()
    page = tmp_path / "report.html"
    page.write_text(report_mail.html_body("2026-10", report).replace("</body>", PROBE))
    probe = laid_out(page, width, tmp_path / "profile")
    assert probe["control"] > 1
    cells = dict(probe["cells"])  # text -> lines (the last of equal texts: all rows are alike)
    for whole in ["CP-FOXTROT-0000-NORTH", "CP-FOXTROT-0007-NORTH", "depot-north-west-7", "CP-site-FOXTROT",
                  "parking-garage-level-3", "2026-10-25", "25: 6", "03: 5", "OverCurrentFailure 20", "station (3)",
                  "still faulted: 1, 2", "recovered"]:
        assert cells[whole] == 1, whole
    assert all(lines == 1 for _, lines in probe["cells"])
