"""Bulk onboarding over real HTTP (issue 15 item 6): JSON and CSV, every row validated, all or nothing, idempotent."""

from __future__ import annotations

import json
import uuid

import pytest

from serve_app.bulk_rows import decode
from actors.bulk_registration import StationRow
from tests.stations import raw_socket

pytestmark = pytest.mark.ray


def stations(prefix: str, n: int, **fields) -> list[dict]:
    return [{"station_id": f"{prefix}-{k}", "password": f"machine-secret-{prefix}-{k}"[:40], **fields} for k in range(n)]


async def test_a_json_batch_registers_every_station_and_sending_it_again_changes_nothing(csms):
    prefix = f"BULK{uuid.uuid4().hex[:6]}"
    rows = stations(prefix, 40, site="depot-7")
    async with csms.api() as api:
        first = await api.post("/api/bulk/stations", json=rows)
        again = await api.post("/api/bulk/stations", json=rows)
        rows[3] = {**rows[3], "site": "depot-8"}
        changed = await api.post("/api/bulk/stations", json=rows)
        view = (await api.get(f"/api/stations/{prefix}-3")).json()
        events = (await api.get(f"/api/stations/{prefix}-0/events")).json()
    assert first.status_code == 200, first.text
    assert first.json() == {"rows": 40, "created": 40, "updated": 0, "unchanged": 0}
    assert again.json() == {"rows": 40, "created": 0, "updated": 0, "unchanged": 40}
    assert changed.json() == {"rows": 40, "created": 0, "updated": 1, "unchanged": 39}
    assert view["site"] == "depot-8"
    # Idempotent in the log too: the unchanged rows logged nothing.
    assert [e["action"] for e in events["events"]] == ["StationRegistered"]
    # Each station connects with its own password.
    async with raw_socket(csms.ws_url, f"{prefix}-5", password=rows[5]["password"]) as ws:
        assert ws.subprotocol == "ocpp1.6"


async def test_a_csv_batch_fills_sites_and_metadata_columns(csms):
    prefix = f"CSV{uuid.uuid4().hex[:6]}"
    body = "station_id,password,site,boot_status,metadata.bay\n" + "".join(
        f"{prefix}-{k},csv-machine-secret-{k:04d},north,Pending,{k}\n" for k in range(5))
    async with csms.api() as api:
        response = await api.post("/api/bulk/stations", content=body, headers={"Content-Type": "text/csv"})
        view = (await api.get(f"/api/stations/{prefix}-2")).json()
    assert response.json() == {"rows": 5, "created": 5, "updated": 0, "unchanged": 0}, response.text
    assert (view["site"], view["metadata"], view["registration_boot_status"]) == ("north", {"bay": "2"}, "Pending")


async def test_a_batch_with_bad_rows_names_each_of_them_and_applies_none(csms):
    prefix = f"BAD{uuid.uuid4().hex[:6]}"
    rows = stations(prefix, 5)
    rows[1] = {**rows[1], "password": "short-secret"}
    rows[3] = {**rows[3], "station_id": "has space"}
    rows.append(dict(rows[0]))  # the same station twice
    async with csms.api() as api:
        response = await api.post("/api/bulk/stations", json=rows)
        untouched = [(await api.get(f"/api/stations/{prefix}-{k}")).status_code for k in (0, 2, 4)]
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "nothing was applied" in detail["message"]
    assert [(e["row"], e["id"]) for e in detail["errors"]] == [(2, f"{prefix}-1"), (4, "has space"), (6, f"{prefix}-0")]
    assert "length >= 16" in detail["errors"][0]["message"] and "row 1" in detail["errors"][2]["message"]
    assert "short-secret" not in response.text
    assert untouched == [404, 404, 404]


async def test_id_tags_in_bulk_are_all_or_nothing_and_idempotent(csms):
    prefix = f"T{uuid.uuid4().hex[:6]}".upper()
    rows = [{"id_tag": f"{prefix}{k}", "status": "Accepted", "expiry_date": "2030-01-01T00:00:00Z"} for k in range(30)]
    csv_body = f"id_tag,status,parent_id_tag\n{prefix}X,Blocked,{prefix}0\n"
    async with csms.api() as api:
        first = await api.post("/api/bulk/id-tags", json=rows)
        again = await api.post("/api/bulk/id-tags", json=rows)
        from_csv = await api.post("/api/bulk/id-tags", content=csv_body, headers={"Content-Type": "text/csv"})
        duplicate = await api.post("/api/bulk/id-tags", json=[{"id_tag": f"{prefix}NEW"}, {"id_tag": f"{prefix}new"}])
        tag = (await api.get(f"/api/id-tags/{prefix}7")).json()
        blocked = (await api.get(f"/api/id-tags/{prefix}X")).json()
        new = await api.get(f"/api/id-tags/{prefix}NEW")
    assert first.json() == {"rows": 30, "created": 30, "updated": 0, "unchanged": 0}
    assert again.json() == {"rows": 30, "created": 0, "updated": 0, "unchanged": 30}
    assert from_csv.json()["created"] == 1 and blocked["parent_id_tag"] == f"{prefix}0"
    assert tag["expiry_date"] == "2030-01-01T00:00:00Z"
    assert duplicate.status_code == 422 and new.status_code == 404


def test_rows_are_checked_without_echoing_their_values():
    body = json.dumps([{"station_id": "CP-1", "password": "tiny"}, {"station_id": "CP-2", "password": "x" * 41},
                       {"station_id": "CP-3", "password": "p" * 16, "colour": "red"}]).encode()
    rows, errors = decode(body, "application/json", StationRow, "station_id", 10)
    assert rows == [] and [e.row for e in errors] == [1, 2, 3]
    assert "unknown field `colour`" in errors[2].message
    assert not any("tiny" in e.message or "x" * 41 in e.message for e in errors)
