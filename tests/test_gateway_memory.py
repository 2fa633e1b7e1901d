"""What an idle station costs in its gateway replica, and the lighter parts that keep it small."""

from __future__ import annotations

import asyncio
import tracemalloc

import httpx
import pytest
import ray

from actors.mailbox import CommandOutcome, Mailbox, PendingCommand
from scripts.bench_fleet import Fleet, FleetConfig
from serve_app.gateway import station_path
from serve_app.keepalive import _Inbox, _WritePause
from tests.conftest import PASSWORD
from tests.polling import wait_until


def _scope(path: str, root_path: str = "/ocpp", kind: str = "websocket") -> dict:
    return {"type": kind, "path": path, "root_path": root_path}


def test_a_station_path_is_one_segment_under_the_route_prefix():
    assert station_path(_scope("/ocpp/CP-1")) == "CP-1"
    assert station_path(_scope("/ocpp/CP 1")) == "CP 1"  # uvicorn's path is already unquoted
    assert station_path(_scope("/CP-1", root_path="")) == "CP-1"  # Serve's proxy, no prefix
    for path in ("/ocpp", "/ocpp/", "/ocpp/CP-1/x", "/ocpp//CP-1", "/other/CP-1"):
        assert station_path(_scope(path)) is None, path
    assert station_path(_scope("/ocpp/CP-1", kind="http")) is None
    assert station_path({"type": "lifespan"}) is None


async def test_inbox_hands_messages_in_order_and_wakes_its_reader():
    inbox = _Inbox()
    reader = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait({"type": "websocket.receive", "text": "1"})
    inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert (await reader)["text"] == "1"
    assert not inbox.empty() and inbox.qsize() == 1
    assert (await inbox.get())["type"] == "websocket.disconnect"
    assert inbox.empty()


async def test_inbox_refuses_a_second_reader_and_survives_a_cancelled_one():
    inbox = _Inbox()
    first = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    inbox.put_nowait("after")
    assert await inbox.get() == "after"


async def test_write_pause_holds_a_sender_until_the_transport_drains():
    pause = _WritePause()
    await asyncio.wait_for(pause.wait(), 1)  # never filled: no wait, no Event made
    assert pause.is_set()
    pause.clear()  # the transport's buffer is full
    sender = asyncio.get_running_loop().create_task(pause.wait())
    await asyncio.sleep(0)
    assert not sender.done() and not pause.is_set()
    pause.set()
    await asyncio.wait_for(sender, 1)


def _nothing_sent() -> None:
    return None


def test_an_idle_mailbox_costs_under_400_bytes_and_lets_its_queue_go():
    async def measure() -> tuple[float, float]:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            mailboxes = [Mailbox(8, sent=_nothing_sent) for _ in range(2000)]
            idle = (tracemalloc.get_traced_memory()[0] - before) / len(mailboxes)
            for k, mailbox in enumerate(mailboxes):
                command = PendingCommand(f"m{k}", "Reset", "{}")
                assert mailbox.submit(command)
                assert mailbox.next_to_send() is command
                assert mailbox.resolve(command.message_id, CommandOutcome(status="answered"))
            after_one_command = (tracemalloc.get_traced_memory()[0] - before) / len(mailboxes)
            return idle, after_one_command
        finally:
            tracemalloc.stop()

    idle, after_one_command = asyncio.run(measure())
    assert idle < 400  # an empty deque alone is 760 B
    assert after_one_command < 400


def _gateway_replicas() -> list:
    """Ray handles of the gateway's Serve replica actors (Serve names them; namespace "serve")."""
    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if a["namespace"] == "serve" and a["name"].startswith("SERVE_REPLICA::ocpp#OcppGateway#")]
    return [ray.get_actor(a["name"], namespace="serve") for a in names]


@pytest.mark.ray
async def test_serve_keeps_no_task_of_its_own_per_station_socket(csms):
    """Serve's direct ingress proxied each websocket's `receive` through a queue and a task and
    raced a second task against it, for the socket's whole life (BENCHMARKS.md section 14)."""
    stations = 40
    cfg = FleetConfig(url=csms.ws_url.removesuffix("/ocpp"), mode="idle", stations=stations, probes=0,
                      station_prefix="MEMTASK", password=PASSWORD, connect_rate=200.0)
    async with csms.api() as api:
        rows = [{"station_id": cfg.station_id(k), "password": PASSWORD} for k in range(stations)]
        assert (await api.post("/api/bulk/stations", json=rows)).status_code == 200
    replicas = _gateway_replicas()
    assert len(replicas) == csms.config.gateway_replicas
    fleet = Fleet(cfg, list(range(stations)))
    try:
        await fleet.connect_all()
        await asyncio.wait_for(fleet.all_ready.wait(), 120)
        assert fleet.result.ready == stations, fleet.result.connect_failures
        counts = [await asyncio.wait_for(r._get_inflight_direct_ingress_task_counts_for_testing.remote(), 30)
                  for r in replicas]
        assert counts == [{"request_tasks": 0, "receive_tasks": 0}] * len(replicas), counts
    finally:
        for transport in fleet.transports:
            if transport is not None:
                transport.close()

    async def all_disconnected() -> bool:
        async with csms.api() as api:
            answers = [await api.get(f"/api/stations/{cfg.station_id(k)}") for k in (0, stations - 1)]
            return all(answer.json()["connected"] is False for answer in answers)

    # The handler, no longer cancelled by Serve, still sees each close and tells the host.
    await wait_until(all_disconnected, 30, "the fleet's sockets to close")


@pytest.mark.ray
async def test_paths_other_than_a_station_socket_are_refused_as_before(csms):
    ws_base = csms.ws_url.replace("ws://", "http://")
    async with httpx.AsyncClient(timeout=10) as client:
        # An HTTP request to a station's path: the gateway has no HTTP route.
        assert (await client.get(f"{ws_base}/CP-1")).status_code == 404
        # A websocket upgrade to a path that names no single station: refused before accept.
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "ocpp1.6"}
        for path in ("/CP-1/extra", "/"):
            answer = await client.get(f"{ws_base}{path}", headers=upgrade)
            assert answer.status_code == 403, (path, answer.status_code)
