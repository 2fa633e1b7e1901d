"""The operator API over real HTTP: authentication, registration, id tags, errors."""

from __future__ import annotations

import httpx
import pytest
from ocpp.v16 import call

from tests.conftest import put_id_tag, register_station
from tests.polling import wait_until
from tests.stations import connected_station

pytestmark = pytest.mark.ray


async def test_health_needs_no_token_and_reports_every_host(csms):
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        health = (await client.get("/api/health")).json()
    assert health["status"] == "ok"
    assert len(health["station_hosts"]) == csms.config.station_hosts


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
async def test_requests_without_a_valid_token_are_refused(csms, headers):
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        response = await client.get("/api/stations", headers=headers)
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_unknown_station_is_404_with_a_message(csms):
    async with csms.api() as api:
        response = await api.get("/api/stations/no-such-station")
        deleted = await api.delete("/api/stations/no-such-station")
    assert response.status_code == 404 and "no-such-station" in response.json()["detail"]
    assert deleted.status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"password": "short"}, {"password": "x" * 41}, {"password": "p" * 16, "boot_status": "Maybe"},
     {"password": "p" * 16, "metadata": {"a": {"nested": 1}}}],
)
async def test_invalid_registration_is_422(csms, station_id, body):
    async with csms.api() as api:
        response = await api.put(f"/api/stations/{station_id}", json=body)
        missing = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 422
    assert missing.status_code == 404  # nothing half-registered


async def test_register_update_list_and_delete_a_station(csms, station_id):
    async with csms.api() as api:
        created = await api.put(f"/api/stations/{station_id}", json={"password": "p" * 16, "site": "north"})
        updated = await api.put(f"/api/stations/{station_id}", json={"password": "p" * 16, "site": "south",
                                                                     "metadata": {"model": "X"}})
        listed = (await api.get("/api/stations", params={"site": "south"})).json()
        view = (await api.get(f"/api/stations/{station_id}")).json()
        deleted = await api.delete(f"/api/stations/{station_id}")
        after = await api.get(f"/api/stations/{station_id}")
    assert created.status_code == 201 and updated.status_code == 200
    assert station_id in [s["station_id"] for s in listed["stations"]]
    assert view["site"] == "south" and view["metadata"] == {"model": "X"}
    assert "password" not in str(view) and "pbkdf2" not in str(view)
    assert deleted.status_code == 204 and after.status_code == 404


async def test_id_tag_lifecycle(csms):
    async with csms.api() as api:
        created = await api.put("/api/id-tags/Tag-Lifecycle",
                                json={"status": "Blocked", "expiry_date": "2030-01-01T00:00:00Z", "parent_id_tag": "FLEET"})
        fetched = await api.get("/api/id-tags/tag-lifecycle")
        listed = (await api.get("/api/id-tags")).json()
        invalid = await api.put("/api/id-tags/" + "T" * 21, json={"status": "Accepted"})
        bad_status = await api.put("/api/id-tags/OK", json={"status": "Maybe"})
        deleted = await api.delete("/api/id-tags/TAG-LIFECYCLE")
        gone = await api.get("/api/id-tags/TAG-LIFECYCLE")
    assert created.status_code == 201
    assert fetched.json()["status"] == "Blocked" and fetched.json()["parent_id_tag"] == "FLEET"
    assert "TAG-LIFECYCLE" in [t["id_tag"] for t in listed["id_tags"]]
    assert invalid.status_code == 422 and bad_status.status_code == 422
    assert deleted.status_code == 204 and gone.status_code == 404


async def authorize_gives(station, id_tag: str, status: str) -> bool:
    return (await station.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == status


async def test_id_tag_changes_reach_stations_on_every_host(csms):
    """Authorize is answered from each host's copy of the table: changes must propagate."""
    stations = [f"CP-tagprop-{i}" for i in range(6)]  # spread over both hosts
    for sid in stations:
        await register_station(csms, sid)
    await put_id_tag(csms, "PROPAGATE", status="Accepted")
    for sid in stations:
        async with connected_station(csms.ws_url, sid) as station:
            await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            await wait_until(lambda: authorize_gives(station, "propagate", "Accepted"), 10,
                             f"{sid} to know the tag as Accepted", interval=0.05)
    await put_id_tag(csms, "PROPAGATE", status="Blocked")
    async with connected_station(csms.ws_url, stations[-1]) as station:
        await wait_until(lambda: authorize_gives(station, "PROPAGATE", "Blocked"), 10,
                         "the tag to be Blocked", interval=0.05)


async def test_openapi_document_lists_the_api(csms):
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert "/api/stations/{station_id}" in spec["paths"] and "/api/transactions" in spec["paths"]
    assert docs.status_code == 200


async def test_station_events_page_through_both_directions_newest_first(csms, station_id):
    import json

    from tests.stations import raw_socket

    await register_station(csms, station_id)
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "boot-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        await ws.recv()
        await ws.send("this is not OCPP")
        await ws.recv()
    async with csms.api() as api:
        first = (await api.get(f"/api/stations/{station_id}/events", params={"limit": 2})).json()
        rest = (await api.get(f"/api/stations/{station_id}/events", params={"limit": 50, "offset": 2})).json()
        missing = await api.get("/api/stations/nobody/events")
    events = first["events"] + rest["events"]
    assert len(events) == first["total_kept"]
    kinds = [(e["direction"], e["message_type"], e["action"]) for e in events]
    assert kinds[0] == ("system", "SESSION", "Disconnected")  # newest first
    assert ("in", "CALL", "Malformed") in kinds and ("out", "CALLERROR", "Malformed") in kinds
    boot_result = next(e for e in events if e["message_type"] == "CALLRESULT")
    assert boot_result["message_id"] == "boot-1" and boot_result["payload"]["status"] == "Accepted"
    assert next(e for e in events if e["action"] == "Malformed" and e["direction"] == "in")["payload"] == "this is not OCPP"
    assert kinds[-1] == ("system", "SESSION", "StationRegistered")
    assert "pbkdf2" not in json.dumps(events)
    assert missing.status_code == 404
