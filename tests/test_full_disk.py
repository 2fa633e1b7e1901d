"""A full data disk, for real (issue 16 item 4): a tmpfs of a few MiB as the data root, filled up.

What must hold: nothing is acknowledged that is not durable; a change the API answers as failed
has not happened; /api/health says degraded and names the cause while events cannot be made
durable; the host's log names the operating system's error; all of it recovers once there is room.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from actors.event_log import CommitFailed, EventLog
from actors.events import Event
from tests.conftest import PASSWORD, TOKEN, free_port
from tests.csms_process import kill_process_tree, start_csms, wait_ready
from tests.polling import wait_until
from tests.stations import raw_socket

MiB = 1024 * 1024


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(root: Path, leave_bytes: int = 0) -> Path:
    """Write a filler file until the filesystem is full, then give back `leave_bytes`."""
    filler = root / f"filler-{uuid.uuid4().hex[:6]}"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        if leave_bytes:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave_bytes))
    finally:
        os.close(fd)
    return filler


def heartbeat(n: int, size: int = 1000) -> Event:
    return Event(station_id="CP-1", received_at_us=n, direction="in", message_type="CALL",
                 message_id=str(n), action="Heartbeat", payload="x" * size)


async def test_a_commit_on_a_full_disk_fails_naming_enospc_and_its_events_never_come_back(tmp_path):
    with tmpfs(tmp_path / "fs", 1 * MiB) as root:
        log = EventLog(root / "wal", 64 * MiB, 3600)
        log.append([heartbeat(1)])
        await log.commit()
        # Room for a few records of the next batch but not all: a part reaches the file.
        fill(root, leave_bytes=8192)
        log.append([heartbeat(n) for n in range(2, 102)])
        with pytest.raises(CommitFailed) as failed:
            await log.commit()
        assert failed.value.errno == errno.ENOSPC
        assert "writing" in str(failed.value) and "No space left on device" in str(failed.value)
        assert log.durable_seq == 1
        log.close()
        # What the next process replays is exactly what was acknowledged.
        reopened = EventLog(root / "wal", 64 * MiB, 3600)
        assert [seq for seq, _ in reopened.replay()] == [1]
        reopened.close()


# --- a whole CSMS on a small data root ---------------------------------------------------------


@pytest.fixture(scope="module")
async def small_csms(tmp_path_factory):
    """`csms serve` of its own with a 48 MiB tmpfs as data root (and registrations hidden)."""
    base_dir = tmp_path_factory.mktemp("full-disk")
    with tmpfs(base_dir / "data", 48 * MiB) as root:
        port, log_path = free_port(), base_dir / "csms.log"
        proc = start_csms(root, port, log_path, disk_free_min_bytes=str(256 * 1024), hide_registrations="true",
                          # Frames of a host that cannot commit wait for it a while, then the socket closes.
                          host_retry_deadline_s="20")
        try:
            await wait_ready(f"http://127.0.0.1:{port}", proc, log_path)
            yield root, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ocpp", log_path
        finally:
            kill_process_tree(proc)


# About 50 KB of sampled values: under max_frame_bytes, more than a page of the log.
BIG_METER_VALUES = {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-01T10:00:00Z", "sampledValue": [
    {"value": str(1000 + k), "measurand": "Energy.Active.Import.Register", "unit": "Wh"} for k in range(600)]}]}


def admin(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


async def call(ws, message_id: str, action: str, payload: dict, timeout: float = 30) -> list:
    await ws.send(json.dumps([2, message_id, action, payload]))
    reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert reply[:2] == [3, message_id], reply
    return reply


@pytest.mark.ray
async def test_a_full_data_disk_refuses_changes_says_degraded_and_acknowledges_nothing(small_csms):
    root, base, ws_url, log_path = small_csms
    station = f"CP-full-{uuid.uuid4().hex[:6]}"
    async with admin(base) as api:
        assert (await api.put(f"/api/stations/{station}", json={"password": PASSWORD})).status_code == 201
        assert (await api.put("/api/id-tags/BEFORE", json={"status": "Accepted"})).status_code == 201
    async with raw_socket(ws_url, station) as ws:
        await call(ws, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        filler = fill(root)
        try:
            async with admin(base) as api:
                tag = await api.put("/api/id-tags/DURING", json={"status": "Accepted"})
                registered = await api.put("/api/stations/CP-never", json={"password": PASSWORD})
                # A write the API reports as failed has not happened.
                assert tag.status_code == 507 and "No space left on device" in tag.json()["detail"]["reason"]
                assert (await api.get("/api/id-tags/DURING")).status_code == 404
                assert "DURING" not in [t["id_tag"] for t in (await api.get("/api/id-tags")).json()["id_tags"]]
                assert registered.status_code == 507 and "free" in registered.json()["detail"]["reason"]
                assert (await api.get("/api/stations/CP-never")).status_code == 404
                started = time.monotonic()
                health = (await api.get("/api/health")).json()
                took = time.monotonic() - started
            assert health["status"] == "degraded" and took < 2.0, (health, took)
            assert set(health["problems"]) == set(health["station_hosts"])
            assert all("free" in p and "disk_free_min_bytes" in p for p in health["problems"].values())
            # A station's message is not acknowledged while it cannot be made durable. (Big enough
            # to need new pages: a small record can still land in the log file's last page.)
            await ws.send(json.dumps([2, "meter-full", "MeterValues", BIG_METER_VALUES]))
            with pytest.raises((asyncio.TimeoutError, websockets.ConnectionClosed)):
                await asyncio.wait_for(ws.recv(), 5)

            async def host_log_names_the_error() -> bool:
                text = log_path.read_text(errors="replace")
                return "event log commit failed" in text and "No space left on device" in text

            await wait_until(host_log_names_the_error, 60, "the host's log to name ENOSPC")
        finally:
            filler.unlink()

    async def healthy() -> bool:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            return (await client.get("/api/health")).json()["status"] == "ok"

    await wait_until(healthy, 60, "health to recover once there is room")
    async with admin(base) as api:
        assert (await api.put("/api/id-tags/DURING", json={"status": "Accepted"})).status_code == 201
        # What was acknowledged before the disk filled is all there.
        assert (await api.get("/api/id-tags/BEFORE")).status_code == 200
        view = (await api.get(f"/api/stations/{station}")).json()
        assert view["boot_status"] == "Accepted"
    # The station resends what was never answered, and now it is.
    async with raw_socket(ws_url, station) as ws:
        await call(ws, "meter-full", "MeterValues", BIG_METER_VALUES, 60)
    async with admin(base) as api:
        events = (await api.get(f"/api/stations/{station}/events", params={"limit": 500})).json()["events"]
    assert ("out", "CALLRESULT") in [(e["direction"], e["message_type"]) for e in events if e["message_id"] == "meter-full"]


async def refused(ws_url: str, station_id: str, password: str) -> tuple[int, bytes, str | None]:
    auth = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    try:
        async with websockets.connect(f"{ws_url}/{station_id}", subprotocols=["ocpp1.6"], open_timeout=30,
                                      additional_headers={"Authorization": f"Basic {auth}"}):
            raise AssertionError("the handshake was accepted")
    except websockets.InvalidStatus as exc:
        response = exc.response
        return response.status_code, response.body, response.headers.get("WWW-Authenticate")


@pytest.mark.ray
async def test_with_registrations_hidden_an_unknown_id_is_refused_like_a_wrong_password(small_csms):
    _, base, ws_url, _ = small_csms
    station = f"CP-hidden-{uuid.uuid4().hex[:6]}"
    async with admin(base) as api:
        assert (await api.put(f"/api/stations/{station}", json={"password": PASSWORD})).status_code == 201
    wrong_password = await refused(ws_url, station, "not-the-password-0123")
    unknown = await refused(ws_url, f"CP-nobody-{uuid.uuid4().hex[:6]}", PASSWORD)
    assert wrong_password[0] == 401 and unknown == wrong_password
    async with admin(base) as api:
        seen = (await api.get("/api/unknown-stations")).json()["stations"]
    assert [s["station_id"] for s in seen if s["station_id"].startswith("CP-nobody-")]  # still recorded
