"""A station's recent events, kept msgpack-encoded on its host (issue 15, target 3), read back as events."""

from __future__ import annotations

from pathlib import Path

from actors import events as ev
from actors.passwords import hash_password
from actors.station_state import Registration
from scripts.host_memory import measure
from tests.local_host import LocalStation, batch, call, close, local_host

PASSWORD = b"recent-test-password"


async def test_recent_events_read_newest_first_in_pages_without_secrets(tmp_path: Path):
    host = local_host(tmp_path, recent_events_kept=5)
    try:
        await host.register("CP-R", Registration(password_hash=hash_password(PASSWORD)))
        station = LocalStation(host, "CP-R")
        [reply] = await batch(host, [station.connect_request(PASSWORD)])
        assert reply.connect_status == "accepted"
        for n in range(3):
            await call(host, station, [2, f"hb{n}", "Heartbeat", {}])
        assert all(isinstance(data, bytes) for data in host.sessions["CP-R"].recent)
        kept, page = await host.recent_events("CP-R", 0, 3)
        assert kept == 5  # registered, connected and 3 x 2 Heartbeat events: the last 5
        assert [(e.message_id, e.direction) for e in page] == [("hb2", "out"), ("hb2", "in"), ("hb1", "out")]
        kept, rest = await host.recent_events("CP-R", 3, 10)
        assert [(e.message_id, e.direction) for e in rest] == [("hb1", "in"), ("hb0", "out")]
        # The registration's password hash is in the log, never in what support agents read.
        await host.register("CP-R", Registration(password_hash=hash_password(b"another-password-1")))
        [registered] = (await host.recent_events("CP-R", 0, 1))[1]
        assert registered.action == ev.STATION_REGISTERED and registered.private == ""
        assert any(e.private for _seq, e in host.log.replay() if e.action == ev.STATION_REGISTERED)
    finally:
        close(host)


async def test_host_memory_names_where_each_station_costs():
    r = await measure(stations=20, rounds=3)
    parts = r["bytes_per_station"]
    assert r["recent_events_per_station"] >= 8
    assert set(parts) == {"state", "recent", "session", "index", "total"}
    assert all(parts[k] > 0 for k in parts)
    assert abs(parts["total"] - sum(parts[k] for k in ("state", "recent", "session", "index"))) < 1
