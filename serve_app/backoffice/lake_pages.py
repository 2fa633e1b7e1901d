"""The back office's pages over the lake: the reports (fault report, faults per day, anomalies) and the data catalog.

Read-only and for every role; the files are read the API's way (`OperatorApi._gold`: off the
event loop, with its timeout), through the same functions as `/api/reports/faults`,
`/api/anomalies` and `/api/catalog` (analytics/gold_views.py, analytics/catalog.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from analytics import catalog, gold_views
from analytics.fault_report import previous_month
# Stations drawn as bars beside the ranked table: as many as the e-mail's chart.
from analytics.report_mail import CHART_ROWS
from serve_app.backoffice.web import BackOffice

router = APIRouter(include_in_schema=False)

Param = Annotated[str, Query(max_length=20)]


@router.get("/reports")
async def reports_page(request: Request, month: Param = "", day: Param = "") -> Response:
    """The month's fault report (ranked table, the e-mail's bars), the fleet's faults per day of
    the month (uPlot, static/backoffice.js), and the mass outages and maintenance risk of a day
    (default: the latest)."""
    bo = BackOffice.of_replica()
    session = bo.require(request)
    month = month or previous_month(datetime.now(timezone.utc))
    errors: list[str] = []
    report, per_day = None, None
    try:
        report = await bo.api._gold(gold_views.fault_report, month)
        per_day = await bo.api._gold(gold_views.faults_per_day, month)
    except ValueError as exc:
        errors.append(str(exc))
    try:
        anomaly_day = date.fromisoformat(day) if day else None
    except ValueError:
        anomaly_day = None
        errors.append(f"day must be YYYY-MM-DD (e.g. 2026-10-16), got {day!r}")
    anomalies = await bo.api._gold(gold_views.anomalies, anomaly_day, 20)
    bars = (report or {}).get("stations", [])[:CHART_ROWS]
    return bo.render("reports.html", request, session, month=month, day=day, report=report, notice=None, errors=errors,
                     bars=bars, most=max([r["faults_in_month"] for r in bars] or [1]),
                     per_day=per_day, chart=json.dumps(per_day) if per_day else "",
                     per_day_rows=list(zip(per_day["days"], per_day["faults"])) if per_day else [],
                     anomalies=anomalies)


@router.get("/catalog")
async def catalog_page(request: Request) -> Response:
    """What `csms catalog` prints: every table's grain, columns and freshness."""
    bo = BackOffice.of_replica()
    session = bo.require(request)
    return bo.render("catalog.html", request, session, catalog=await bo.api._gold(catalog.catalog))
