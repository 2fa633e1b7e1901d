"""The operator API's contract as /openapi.json states it: real schemas, the role of every operation, one timestamp format."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import OPERATOR_TOKEN, TOKEN, VIEWER_TOKEN, put_id_tag, register_station
from tests.stations import raw_socket

pytestmark = pytest.mark.ray

# The least role each operation needs (README, Operator API); None: no token at all.
ROLES = {
    ("GET", "/api/health"): None,
    ("GET", "/api/stations"): "viewer",
    ("GET", "/api/stations/{station_id}"): "viewer",
    ("PUT", "/api/stations/{station_id}"): "admin",
    ("DELETE", "/api/stations/{station_id}"): "admin",
    ("PUT", "/api/stations/{station_id}/password"): "admin",
    ("GET", "/api/stations/{station_id}/events"): "viewer",
    ("GET", "/api/stations/{station_id}/variables"): "viewer",
    ("POST", "/api/stations/{station_id}/commands/{action}"): "operator",
    ("POST", "/api/stations/{station_id}/certificate-renewal"): "operator",
    ("GET", "/api/unknown-stations"): "viewer",
    ("GET", "/api/certificates"): "viewer",
    ("POST", "/api/bulk/stations"): "admin",
    ("POST", "/api/bulk/id-tags"): "admin",
    ("GET", "/api/transactions"): "viewer",
    ("POST", "/api/stations/{station_id}/transactions/{transaction_id}/close"): "admin",
    ("GET", "/api/authorization"): "viewer",
    ("GET", "/api/id-tags"): "viewer",
    ("GET", "/api/id-tags/{id_tag}"): "viewer",
    ("PUT", "/api/id-tags/{id_tag}"): "admin",
    ("DELETE", "/api/id-tags/{id_tag}"): "admin",
    ("GET", "/api/reports/faults"): "viewer",
    ("GET", "/api/anomalies"): "viewer",
    ("GET", "/api/catalog"): "viewer",
    ("POST", "/api/jobs/{job}"): "admin",
}
TOKENS = {"viewer": VIEWER_TOKEN, "operator": OPERATOR_TOKEN, "admin": TOKEN}
RANK = ["viewer", "operator", "admin"]

# The main answers and the schema each must name.
SCHEMAS = {
    ("GET", "/api/health"): "Health",
    ("GET", "/api/stations"): "StationPage",
    ("GET", "/api/stations/{station_id}"): "StationView",
    ("PUT", "/api/stations/{station_id}"): "StationRegistered",
    ("GET", "/api/stations/{station_id}/events"): "EventPage",
    ("GET", "/api/stations/{station_id}/variables"): "StationVariables",
    ("GET", "/api/transactions"): "TransactionPage",
    ("POST", "/api/stations/{station_id}/transactions/{transaction_id}/close"): "TransactionView",
    ("GET", "/api/id-tags"): "IdTagList",
    ("GET", "/api/id-tags/{id_tag}"): "IdTagView",
    ("GET", "/api/unknown-stations"): "UnknownStationPage",
    ("GET", "/api/certificates"): "CertificatePage",
    ("POST", "/api/bulk/stations"): "BulkOutcome",
}

# RFC 3339 in UTC with Z, microseconds when not zero (serve_app/api_schema.py).
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


async def openapi(csms) -> dict:
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        return (await client.get("/openapi.json")).json()


async def test_openapi_names_real_schemas_for_the_main_answers(csms):
    spec = await openapi(csms)
    schemas = spec["components"]["schemas"]
    for (method, path), name in SCHEMAS.items():
        answer = spec["paths"][path][method.lower()]["responses"]
        ok = answer.get("200") or answer["201"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}, (method, path)
        assert schemas[name]["properties"], name
    # Nested views resolve too, and timestamps are declared as such.
    station = schemas["StationView"]["properties"]
    assert station["connectors"]["items"] == {"$ref": "#/components/schemas/ConnectorView"}
    assert schemas["EventView"]["properties"]["received_at"] == {"type": "string", "format": "date-time"}
    bulk = spec["paths"]["/api/bulk/stations"]["post"]["requestBody"]["content"]
    assert bulk["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/StationRow"}
    assert "text/csv" in bulk


async def test_every_operation_is_listed_with_the_role_it_requires(csms):
    spec = await openapi(csms)
    listed = {(method.upper(), path): op.get("x-required-role")
              for path, ops in spec["paths"].items() for method, op in ops.items()}
    assert listed == ROLES


def _concrete(path: str) -> str:
    return (path.replace("{station_id}", "CP-contract-nobody").replace("{action}", "Reset")
            .replace("{id_tag}", "NOBODY-TAG").replace("{job}", "no-such-job").replace("{transaction_id}", "1"))


@pytest.mark.parametrize(("method", "path"), [k for k, role in ROLES.items() if role])
async def test_each_operation_refuses_a_missing_token_and_every_lower_role(csms, method, path):
    need = ROLES[(method, path)]
    url = _concrete(path)
    body = {"json": {}} if method in ("PUT", "POST") else {}
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as client:
        assert (await client.request(method, url, **body)).status_code == 401
        for role in RANK:
            response = await client.request(method, url, headers={"Authorization": f"Bearer {TOKENS[role]}"}, **body)
            if RANK.index(role) < RANK.index(need):
                assert response.status_code == 403, (role, response.text)
                assert need in response.json()["detail"]
            else:  # allowed in: whatever the answer (404 unknown ids, 422 empty bodies), not a refusal
                assert response.status_code not in (401, 403), (role, response.text)


def _timestamps(value, found: list[str]) -> list[str]:
    """Every timestamp in an answer, except inside frames' payloads (as the station sent them)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "payload":
                _timestamps(item, found)
    elif isinstance(value, list):
        for item in value:
            _timestamps(item, found)
    elif isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        found.append(value)
    return found


async def test_every_timestamp_the_api_prints_is_utc_with_z(csms, station_id):
    import json

    await register_station(csms, station_id)
    await put_id_tag(csms, "TS-FORMAT", status="Accepted", expiry_date="2031-05-06T07:08:09.5+02:00")
    async with raw_socket(csms.ws_url, station_id) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        await ws.recv()
        await ws.send(json.dumps([2, "s", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                                 "status": "Available", "timestamp": "2026-10-01T12:00:00Z"}]))
        await ws.recv()
        async with csms.api() as api:
            answers = [(await api.get(path)).json() for path in (
                f"/api/stations/{station_id}", f"/api/stations/{station_id}/events", "/api/stations",
                "/api/id-tags/TS-FORMAT", "/api/transactions", "/api/unknown-stations")]
    found = _timestamps(answers, [])
    assert len(found) >= 8, found
    assert [t for t in found if not TIMESTAMP.match(t)] == []
    assert "2031-05-06T05:08:09.500000Z" in found and "2026-10-01T12:00:00Z" in found
