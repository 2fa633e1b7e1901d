"""The back office's admin pages: id tags and station registrations, one at a time or imported from CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, time, timezone

from fastapi import APIRouter, Request
from fastapi.responses import Response

from actors.id_tags import normalise
from actors.passwords import hash_password
from actors.station_state import IdTagRecord, Registration
from actors.timestamps import to_us
from serve_app.backoffice.web import BackOffice
from serve_app.handshake import valid_station_id

router = APIRouter(include_in_schema=False)

ID_TAG_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
# One upload; a larger fleet is imported in parts (each part is one fsync per host).
IMPORT_MAX_ROWS = 20_000


def _expiry_us(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if len(value) == 10:  # a day: valid through its end (UTC)
        return to_us(datetime.combine(date.fromisoformat(value), time.max, tzinfo=timezone.utc))
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def id_tag_record(row: dict[str, str]) -> tuple[str, IdTagRecord]:
    """An id tag from a form or CSV row (id_tag, status, expiry_date, parent_id_tag); ValueError says what is wrong."""
    id_tag = (row.get("id_tag") or "").strip()
    if not 1 <= len(id_tag) <= 20:
        raise ValueError("id tag must be 1-20 characters (OCPP 1.6 IdToken)")
    status = (row.get("status") or "Accepted").strip()
    if status not in ID_TAG_STATUSES:
        raise ValueError(f"status must be one of {', '.join(ID_TAG_STATUSES)}")
    parent = (row.get("parent_id_tag") or "").strip() or None
    if parent is not None and len(parent) > 20:
        raise ValueError("parent id tag must be at most 20 characters")
    try:
        expiry = _expiry_us(row.get("expiry_date") or "")
    except ValueError:
        raise ValueError("expiry date must be YYYY-MM-DD or ISO 8601") from None
    return id_tag, IdTagRecord(status=status, expiry_us=expiry, parent_id_tag=parent)


def station_registration(row: dict[str, str]) -> tuple[str, str, Registration]:
    """(station id, password, registration without its hash) from a form or CSV row; ValueError says what is wrong."""
    station_id = (row.get("station_id") or "").strip()
    if not valid_station_id(station_id):
        raise ValueError("station id must be 1-48 characters of A-Z a-z 0-9 . _ - : * + | @")
    password = row.get("password") or ""
    # OCPP security profiles ask for 16 to 40 character AuthorizationKeys (as the API).
    if not 16 <= len(password) <= 40:
        raise ValueError("password must be 16-40 characters")
    site = (row.get("site") or "").strip() or None
    if site is not None and len(site) > 100:
        raise ValueError("site must be at most 100 characters")
    boot_status = (row.get("boot_status") or "Accepted").strip()
    if boot_status not in BOOT_STATUSES:
        raise ValueError(f"boot status must be one of {', '.join(BOOT_STATUSES)}")
    return station_id, password, Registration(password_hash="", site=site, boot_status=boot_status)


async def _csv_rows(form) -> list[dict[str, str]]:
    upload = form.get("file")
    text = (await upload.read()).decode("utf-8-sig") if upload is not None and hasattr(upload, "read") else ""
    rows = list(csv.DictReader(io.StringIO(text)))
    if len(rows) > IMPORT_MAX_ROWS:
        raise ValueError(f"at most {IMPORT_MAX_ROWS} rows per file")
    return rows


def _problems(errors: list[str]) -> list[str]:
    return errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])


# --- id tags -------------------------------------------------------------------------------


@router.get("/admin/id-tags")
async def id_tags_page(request: Request) -> Response:
    bo = BackOffice.of_replica()
    session = bo.require(request)
    return await _id_tags(bo, request, session, None, [])


async def _id_tags(bo, request, session, notice: str | None, errors: list[str], status_code: int = 200) -> Response:
    tags = await bo.call(bo.registry().list.remote())
    return bo.render("id_tags.html", request, session, status_code=status_code, tags=sorted(tags.items()),
                     statuses=ID_TAG_STATUSES, notice=notice, errors=errors)


@router.post("/admin/id-tags")
async def put_id_tag(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        id_tag, record = id_tag_record({k: str(v) for k, v in form.items()})
    except ValueError as exc:
        return await _id_tags(bo, request, session, None, [str(exc)], 422)
    created = await bo.call(bo.registry().put.remote(id_tag, record))
    return await _id_tags(bo, request, session, f"{'Created' if created else 'Updated'} id tag {normalise(id_tag)}.", [])


@router.post("/admin/id-tags/delete")
async def delete_id_tag(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    id_tag = str(form.get("id_tag", ""))
    deleted = await bo.call(bo.registry().delete.remote(id_tag))
    return await _id_tags(bo, request, session, f"Deleted id tag {id_tag}." if deleted else None,
                          [] if deleted else [f"unknown id tag {id_tag}"])


@router.post("/admin/id-tags/import")
async def import_id_tags(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    errors: list[str] = []
    records = []
    try:
        rows = await _csv_rows(form)
    except (ValueError, UnicodeDecodeError) as exc:
        return await _id_tags(bo, request, session, None, [f"not a CSV file: {exc}"], 422)
    for line, row in enumerate(rows, start=2):
        try:
            records.append(id_tag_record(row))
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
    if errors:  # all or nothing: a half-imported file is harder to fix than a refused one
        return await _id_tags(bo, request, session, None, _problems(errors), 422)
    registry = bo.registry()
    await asyncio.gather(*(bo.call(registry.put.remote(t, r)) for t, r in records))
    return await _id_tags(bo, request, session, f"Imported {len(records)} id tags.", [])


# --- stations ------------------------------------------------------------------------------


@router.get("/admin/stations")
async def stations_page(request: Request) -> Response:
    bo = BackOffice.of_replica()
    session = bo.require(request)
    return bo.render("stations_admin.html", request, session, notice=None, errors=[], boot_statuses=BOOT_STATUSES)


def _stations_result(bo, request, session, notice, errors, status_code=200) -> Response:
    return bo.render("stations_admin.html", request, session, status_code=status_code, notice=notice,
                     errors=errors, boot_statuses=BOOT_STATUSES)


@router.post("/admin/stations")
async def register_station(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        station_id, password, registration = station_registration({k: str(v) for k, v in form.items()})
    except ValueError as exc:
        return _stations_result(bo, request, session, None, [str(exc)], 422)
    registration.password_hash = hash_password(password)
    created = await bo.call(bo.host(station_id).register.remote(station_id, registration))
    return _stations_result(bo, request, session, f"{'Registered' if created else 'Updated'} station {station_id}.", [])


@router.post("/admin/stations/delete")
async def delete_station(request: Request) -> Response:
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    station_id = str(form.get("station_id", ""))
    deleted = valid_station_id(station_id) and await bo.call(bo.host(station_id).deregister.remote(station_id))
    return _stations_result(bo, request, session, f"Deregistered station {station_id}." if deleted else None,
                            [] if deleted else [f"unknown station {station_id}"])


@router.post("/admin/stations/import")
async def import_stations(request: Request) -> Response:
    """CSV with station_id,password[,site,boot_status]: one `import_registrations` call (one fsync) per host."""
    bo = BackOffice.of_replica()
    form = await request.form()
    session = bo.require_change(request, form, "admin")
    try:
        rows = await _csv_rows(form)
    except (ValueError, UnicodeDecodeError) as exc:
        return _stations_result(bo, request, session, None, [f"not a CSV file: {exc}"], 422)
    parsed, errors = [], []
    for line, row in enumerate(rows, start=2):
        try:
            parsed.append(station_registration(row))
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        return _stations_result(bo, request, session, None, _problems(errors), 422)

    def hashed() -> dict[str, list[tuple[str, Registration]]]:
        by_host: dict[str, list[tuple[str, Registration]]] = {}
        hosts = bo.hosts_by_station([station_id for station_id, _, _ in parsed])
        host_of = {sid: host for host, sids in hosts.items() for sid in sids}
        for station_id, password, registration in parsed:
            registration.password_hash = hash_password(password)
            by_host.setdefault(host_of[station_id], []).append((station_id, registration))
        return by_host

    # PBKDF2 for every row (about 0.8 ms each): off the replica's event loop.
    by_host = await asyncio.to_thread(hashed)
    created = await asyncio.gather(*(bo.call(bo.host_named(h).import_registrations.remote(regs)) for h, regs in by_host.items()))
    return _stations_result(bo, request, session,
                            f"Imported {len(parsed)} stations ({sum(created)} new).", [])
