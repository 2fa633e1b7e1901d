"""Station passwords changed by the operator (PUT /api/stations/{id}/password): pushed to the
station as ChangeConfiguration AuthorizationKey (OCPP-J 1.6 section 6.2.2) or stored at once,
kept only as salted hashes, and never shown, logged or landed anywhere.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import duckdb
import httpx
import pytest
import ray

from actors import directory
from tests.conftest import OPERATOR_TOKEN, PASSWORD, TOKEN, VIEWER_TOKEN, register_station
from tests.test_compliance_16 import events, handshake, online, view

pytestmark = pytest.mark.ray


def new_password() -> str:
    return f"pw-{uuid.uuid4().hex[:16]}"  # 19 ASCII characters: 19 bytes, pushable


async def change(csms, station_id: str, password: str, push: bool, token: str | None = None) -> httpx.Response:
    async with csms.api() as api:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await api.put(f"/api/stations/{station_id}/password", json={"password": password, "push": push},
                             headers=headers)


async def test_pushed_password_accepted_by_the_station_replaces_the_old_one(csms, station_id):
    await register_station(csms, station_id, site="depot-7")
    password = new_password()
    async with online(csms, station_id) as st:
        response = await change(csms, station_id, password, push=True)
        assert response.status_code == 200, response.text
        assert response.json() == {"station_id": station_id, "changed": True, "pushed": True,
                                   "station_status": "Accepted"}
        # The station gets the hex of the password's bytes (section 6.2.2).
        assert st.got("ChangeConfiguration") == [{"key": "AuthorizationKey", "value": password.encode().hex()}]
    assert await handshake(csms, station_id, password=PASSWORD) == 401
    assert await handshake(csms, station_id, password=password) == "ocpp1.6"
    assert (await view(csms, station_id))["site"] == "depot-7"


@pytest.mark.parametrize("answer", ["Rejected", "NotSupported"])
async def test_pushed_password_refused_by_the_station_is_409_and_the_old_one_stays(csms, station_id, answer):
    await register_station(csms, station_id)
    password = new_password()
    async with online(csms, station_id, answers={"ChangeConfiguration": {"status": answer}}):
        response = await change(csms, station_id, password, push=True)
    assert response.status_code == 409
    assert response.json()["detail"]["station_status"] == answer
    assert await handshake(csms, station_id, password=PASSWORD) == "ocpp1.6"
    assert await handshake(csms, station_id, password=password) == 401


async def test_push_to_a_station_that_is_not_connected_is_409_and_changes_nothing(csms, station_id):
    await register_station(csms, station_id)
    password = new_password()
    assert (await change(csms, station_id, password, push=True)).status_code == 409
    assert await handshake(csms, station_id, password=PASSWORD) == "ocpp1.6"
    assert await handshake(csms, station_id, password=password) == 401


async def test_push_of_a_password_longer_than_20_bytes_is_422_and_nothing_is_sent(csms, station_id):
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        response = await change(csms, station_id, "x" * 21, push=True)
        assert response.status_code == 422
        assert "16 to 20 bytes" in response.text
        assert st.got("ChangeConfiguration") == []


async def test_password_stored_without_push_counts_from_the_next_connection(csms, station_id):
    await register_station(csms, station_id, site="depot-9", metadata={"bay": "3"})
    password = "a-forty-character-password-0123456789abc"[:40]
    response = await change(csms, station_id, password, push=False)
    assert response.status_code == 200, response.text
    assert response.json() == {"station_id": station_id, "changed": True, "pushed": False}
    assert await handshake(csms, station_id, password=PASSWORD) == 401
    assert await handshake(csms, station_id, password=password) == "ocpp1.6"
    shown = await view(csms, station_id)
    assert shown["site"] == "depot-9" and shown["metadata"] == {"bay": "3"}


async def test_password_of_an_unknown_station_is_404(csms, station_id):
    assert (await change(csms, station_id, new_password(), push=False)).status_code == 404


@pytest.mark.parametrize("token", [VIEWER_TOKEN, OPERATOR_TOKEN])
async def test_only_an_admin_may_change_a_password(csms, station_id, token):
    await register_station(csms, station_id)
    assert (await change(csms, station_id, new_password(), push=False, token=token)).status_code == 403
    assert await handshake(csms, station_id, password=PASSWORD) == "ocpp1.6"


@pytest.mark.parametrize("bad", ["short-pw", "y" * 41])
async def test_invalid_password_is_422_without_echoing_it(csms, station_id, bad):
    await register_station(csms, station_id)
    response = await change(csms, station_id, bad, push=False)
    assert response.status_code == 422
    assert bad not in response.text and "password" in response.text
    async with csms.api() as api:  # registration bodies too
        response = await api.put(f"/api/stations/{station_id}", json={"password": bad})
    assert response.status_code == 422 and bad not in response.text


def _texts_of_the_lake(root: Path) -> str:
    files = sorted(str(p) for p in (root / "bronze").rglob("*.parquet"))
    if not files:
        return ""
    rows = duckdb.sql(f"SELECT COLUMNS(*)::VARCHAR FROM read_parquet({files!r}, union_by_name = true)").fetchall()
    return json.dumps(rows, default=str)


async def test_passwords_are_never_in_the_log_lake_snapshots_events_views_or_ray_logs(csms, station_id):
    await register_station(csms, station_id)
    pushed, stored = new_password(), new_password()
    async with online(csms, station_id):
        assert (await change(csms, station_id, pushed, push=True)).status_code == 200
    assert (await change(csms, station_id, stored, push=False)).status_code == 200
    async with online(csms, station_id, password=stored):
        pass
    # Land everything: the write-ahead log, the snapshot and the lake all hold this station now.
    hosts = directory.host_names(csms.config.station_hosts)
    ray.get([directory.get_actor(name).flush.remote() for name in hosts], timeout=60)

    secrets = [s.encode() for s in (pushed, stored, PASSWORD)] + [pushed.encode().hex().encode()]
    secrets += [s.upper() for s in secrets[-1:]]
    files = [p for p in csms.data_root.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert any(p.suffix == ".wal" for p in files) or any(p.name == "snapshot.msgpack" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not [s for s in secrets if s in data], f"a password is in {path}"
    lake = _texts_of_the_lake(csms.data_root).encode()
    assert station_id.encode() in lake
    assert not [s for s in secrets if s in lake]
    shown = (json.dumps(await events(csms, station_id)) + json.dumps(await view(csms, station_id))).encode()
    assert b"ChangeConfiguration" in shown
    assert not [s for s in secrets if s in shown]
    # Ray's logs of this session: every process of the CSMS, nothing of the passwords or the
    # operator tokens (a Config's repr hides them, error messages never echo them).
    tokens = [t.encode() for t in (TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN, csms.config.ingress_identity_secret)]
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    for path in logs.rglob("*"):
        if path.is_file() and path.stat().st_size < 64 * 1024 * 1024:
            data = path.read_bytes()
            assert not [s for s in secrets + tokens if s in data], f"a secret is in {path}"


async def test_a_wrong_or_right_bearer_token_is_never_echoed(csms):
    async with csms.api() as api:
        wrong = "wrong-token-0123456789-abcdef"
        response = await api.get("/api/stations", headers={"Authorization": f"Bearer {wrong}"})
        assert response.status_code == 401 and wrong not in response.text
        response = await api.get("/api/stations", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"},
                                 params={"limit": "not-a-number"})
        assert response.status_code == 422 and VIEWER_TOKEN not in response.text
