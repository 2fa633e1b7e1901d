"""The back office's admin pages: id tags and station registrations, one at a time or imported from CSV.

Every change goes the API's bulk way (`OperatorApi._register_rows`, `_put_id_tag_rows`: the
rows of `POST /api/bulk/stations` and `/api/bulk/id-tags`, validated by serve_app/bulk_rows.py
against actors/bulk_registration.py's types): a form is a batch of one row, a CSV file a batch
of its rows, and the page shows the same per-row errors the API answers with.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from actors.bulk_registration import BulkOutcome, IdTagRow, StationRow
from actors.id_tags import normalise
from serve_app.backoffice.web import BackOffice
from serve_app.bulk_rows import METADATA_PREFIX
from serve_app.handshake import valid_station_id

router = APIRouter(include_in_schema=False)

ID_TAG_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
# Row errors shown on the page; the rest are counted.
ERRORS_SHOWN = 20


def problems(detail: Any) -> list[str]:
    """An HTTPException's detail as the page's error lines: the API's message, then each bad row."""
    if not isinstance(detail, dict):
        return [str(detail)]
    lines = [str(detail.get("message", detail))]
    rows = detail.get("errors", [])
    for e in rows[:ERRORS_SHOWN]:
        lines.append(f"row {e['row']}" + (f" ({e['id']})" if e.get("id") else "") + f": {e['message']}")
    if len(rows) > ERRORS_SHOWN:
        lines.append(f"... and {len(rows) - ERRORS_SHOWN} more")
    return lines


# The API's id field of each row type, and the key two rows may not share (id tags: case-insensitive).
_ROW_KEYS = {StationRow: ("station_id", lambda key: key), IdTagRow: ("id_tag", normalise)}


def _batch(body: bytes, content_type: str, row_type: type) -> list:
    """The API's `_bulk_rows`: every row valid, else HTTPException(422) naming each bad row."""
    id_field, key = _ROW_KEYS[row_type]
    return BackOffice.of_replica().api._bulk_rows(body, content_type, row_type, id_field, key)


def _form_row(form: Any, row_type: type) -> list:
    """One form as a batch of one JSON row, validated as the API validates it."""
    values = {k: str(v) if k == "password" else str(v).strip() for k, v in form.items() if k != "csrf"}
    values = {k: v for k, v in values.items() if v}  # an empty field: the row's default
    # `metadata.<key>` fields, as the CSV's columns (serve_app/bulk_rows.py).
    metadata = {k[len(METADATA_PREFIX):]: values.pop(k) for k in list(values) if k.startswith(METADATA_PREFIX)}
    if metadata:
        values["metadata"] = metadata
    if row_type is IdTagRow and len(values.get("expiry_date", "")) == 10:
        # The form's date input names a day: valid through its end (UTC).
        values["expiry_date"] += "T23:59:59.999999Z"
    return _batch(msgspec.json.encode([values]), "application/json", row_type)


async def _csv_file(form: Any, row_type: type) -> list:
    upload = form.get("file")
    return _batch(await upload.read() if hasattr(upload, "read") else b"", "text/csv", row_type)


def _counted(outcome: BulkOutcome) -> str:
    return f"{outcome.created} new, {outcome.updated} updated, {outcome.unchanged} unchanged"


# --- id tags -------------------------------------------------------------------------------


async def _id_tags(bo: BackOffice, request: Request, session, notice: str | None, errors: list[str],
                   status_code: int = 200, edit: str = "") -> Response:
    tags = await bo.call(bo.registry().list.remote())
    key = normalise(edit) if edit else ""
    editing = {"id_tag": key, "record": tags[key]} if key in tags and session.role == "admin" else None
    return bo.render("id_tags.html", request, session, status_code=status_code, tags=sorted(tags.items()),
                     statuses=ID_TAG_STATUSES, notice=notice, errors=errors, editing=editing)


@router.get("/admin/id-tags")
async def id_tags_page(request: Request, edit: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The id tags; `edit` fills the form with one of them (admin)."""
    bo = BackOffice.of_replica()
    return await _id_tags(bo, request, bo.require(request), None, [], edit=edit)


@router.post("/admin/id-tags")
async def put_id_tag(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        rows = _form_row(form, IdTagRow)
        outcome = await bo.api._put_id_tag_rows(rows)
    except HTTPException as exc:
        return await _id_tags(bo, request, session, None, problems(exc.detail), exc.status_code)
    verb = "Created" if outcome.created else "Updated" if outcome.updated else "Unchanged:"
    return await _id_tags(bo, request, session, f"{verb} id tag {normalise(rows[0].id_tag)}.", [])


@router.post("/admin/id-tags/delete")
async def delete_id_tag(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    id_tag = str(form.get("id_tag", ""))
    try:
        deleted = await bo.api._write(bo.registry().delete.remote(id_tag))
    except HTTPException as exc:
        return await _id_tags(bo, request, session, None, problems(exc.detail), exc.status_code)
    return await _id_tags(bo, request, session, f"Deleted id tag {id_tag}." if deleted else None,
                          [] if deleted else [f"unknown id tag {id_tag}"], 200 if deleted else 404)


@router.post("/admin/id-tags/import")
async def import_id_tags(request: Request) -> Response:
    """CSV as `POST /api/bulk/id-tags` takes it: all rows or none, one write."""
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        outcome = await bo.api._put_id_tag_rows(await _csv_file(form, IdTagRow))
    except HTTPException as exc:
        return await _id_tags(bo, request, session, None, problems(exc.detail), exc.status_code)
    return await _id_tags(bo, request, session, f"Imported {outcome.rows} id tags ({_counted(outcome)}).", [])


# --- stations ------------------------------------------------------------------------------


def _stations(bo: BackOffice, request: Request, session, notice: str | None, errors: list[str],
              status_code: int = 200, editing: Any = None) -> Response:
    return bo.render("stations_admin.html", request, session, status_code=status_code, notice=notice,
                     errors=errors, boot_statuses=BOOT_STATUSES, editing=editing)


@router.get("/admin/stations")
async def stations_page(request: Request, edit: Annotated[str, Query(max_length=48)] = "") -> Response:
    """Register, import, deregister; `edit` fills the form with a registered station's site and
    boot answer (its password is never shown: it is stored only as a hash)."""
    bo = BackOffice.of_replica()
    session = bo.require(request)
    editing = None
    if edit and valid_station_id(edit) and session.role == "admin":
        editing = await bo.call(bo.host(edit).station.remote(edit))
    return _stations(bo, request, session, None, [], editing=editing)


@router.post("/admin/stations")
async def register_station(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        rows = _form_row(form, StationRow)
        outcome = await bo.api._register_rows(rows)
    except HTTPException as exc:
        return _stations(bo, request, session, None, problems(exc.detail), exc.status_code)
    verb = "Registered" if outcome.created else "Updated" if outcome.updated else "Unchanged:"
    return _stations(bo, request, session, f"{verb} station {rows[0].station_id}.", [])


@router.post("/admin/stations/delete")
async def delete_station(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    station_id = str(form.get("station_id", ""))
    try:
        deleted = valid_station_id(station_id) and await bo.api._write(bo.host(station_id).deregister.remote(station_id))
    except HTTPException as exc:
        return _stations(bo, request, session, None, problems(exc.detail), exc.status_code)
    return _stations(bo, request, session, f"Deregistered station {station_id}." if deleted else None,
                     [] if deleted else [f"unknown station {station_id}"], 200 if deleted else 404)


@router.post("/admin/stations/import")
async def import_stations(request: Request) -> Response:
    """CSV as `POST /api/bulk/stations` takes it (station_id,password,site,boot_status,metadata.<key>):
    every row valid or none applied; idempotent."""
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        outcome = await bo.api._register_rows(await _csv_file(form, StationRow))
    except HTTPException as exc:
        return _stations(bo, request, session, None, problems(exc.detail), exc.status_code)
    return _stations(bo, request, session, f"Imported {outcome.rows} stations ({_counted(outcome)}).", [])
