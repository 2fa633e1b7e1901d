"""The back office's record pages: transactions (with CSV export) and the gold reports."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from actors.timestamps import to_us
from actors.views import TransactionFilter, TransactionView
from analytics import gold_views
from serve_app.backoffice.web import SECURITY_HEADERS, BackOffice

router = APIRouter(include_in_schema=False)

TRANSACTIONS_SHOWN = 500
CSV_COLUMNS = ("station_id", "transaction_id", "connector_id", "id_tag", "id_tag_status", "active", "orphan",
               "started_at", "stopped_at", "meter_start_wh", "meter_stop_wh", "energy_wh", "stop_reason",
               "meter_value_count", "authorization", "authorized_offline")


def _day_us(value: str, end: bool = False) -> int | None:
    if not value:
        return None
    day = date.fromisoformat(value)
    # `until` is inclusive of its day in the form: the filter's bound is the next midnight.
    moment = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return to_us(moment) + (86_400_000_000 if end else 0)


async def _transactions(bo: BackOffice, station_id: str, active: str, since: str, until: str) -> list[TransactionView]:
    query = TransactionFilter(station_id=station_id or None, active={"yes": True, "no": False}.get(active),
                              since_us=_day_us(since), until_us=_day_us(until, end=True))
    if query.station_id:
        parts = [await bo.call(bo.host(query.station_id).transactions.remote(query))]
    else:
        parts = await bo.on_every_host("transactions", query)
    rows = [t for part in parts for t in part]
    # Newest first: what support asks about is usually the last session.
    rows.sort(key=lambda t: (t.started_at or t.stopped_at or datetime.min.replace(tzinfo=timezone.utc),
                             t.station_id, t.transaction_id), reverse=True)
    return rows


Param = Annotated[str, Query(max_length=100)]


@router.get("/transactions")
async def transactions_page(request: Request, station_id: Param = "", active: Param = "", since: Param = "",
                            until: Param = "") -> Response:
    bo = BackOffice.of_replica()
    session = bo.require(request)
    error = None
    try:
        rows = await _transactions(bo, station_id, active, since, until)
    except ValueError:
        rows, error = [], "since and until are days (YYYY-MM-DD)"
    filters = {"station_id": station_id, "active": active, "since": since, "until": until}
    return bo.render("transactions.html", request, session, rows=rows[:TRANSACTIONS_SHOWN], total=len(rows),
                     energy_wh=sum(t.energy_wh or 0 for t in rows), filters=filters, error=error)


def _csv_cell(value: object) -> object:
    # A spreadsheet runs a cell that starts like a formula; id tags and stop reasons come from
    # stations (OWASP CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@router.get("/transactions.csv")
async def transactions_csv(request: Request, station_id: Param = "", active: Param = "", since: Param = "",
                           until: Param = "") -> Response:
    bo = BackOffice.of_replica()
    bo.require(request)
    rows = await _transactions(bo, station_id, active, since, until)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for t in rows:
        writer.writerow([_csv_cell(getattr(t, column)) for column in CSV_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="transactions.csv"'})


# --- reports (gold) ---------------------------------------------------------------------


def _last_month(today: date) -> str:
    first = today.replace(day=1)
    previous = date.fromordinal(first.toordinal() - 1)
    return f"{previous.year:04d}-{previous.month:02d}"


@router.get("/reports")
async def reports_page(request: Request, month: Param = "") -> Response:
    bo = BackOffice.of_replica()
    session = bo.require(request)
    month = month or _last_month(datetime.now(timezone.utc).date())
    error = None
    try:
        report = await bo.api._gold(gold_views.fault_report, month)
    except ValueError as exc:
        report, error = None, str(exc)
    anomalies = await bo.api._gold(gold_views.anomalies, None, 20)
    # Faults per day over the ranked stations: the e-mail's chart, drawn by uPlot (static/backoffice.js).
    per_day: dict[str, int] = {}
    for row in (report or {}).get("stations", []):
        for day, faults in row["daily_counts"].items():
            per_day[day] = per_day.get(day, 0) + faults
    chart = json.dumps({"days": sorted(per_day), "faults": [per_day[d] for d in sorted(per_day)]})
    return bo.render("reports.html", request, session, month=month, report=report, error=error,
                     anomalies=anomalies, chart=chart)
