"""Security events through a real StationHost (in-process, real write-ahead log): counted in
`csms_security_events{critical}` once per notification, a critical one logged without its
station-sent text, both versions in the one list, and the list rebuilt by a restart."""

from __future__ import annotations

import json
import logging

from actors.passwords import hash_password
from actors.station_state import Registration
from tests.local_host import LocalStation, batch, call, close, local_host
from tests.test_snapshot_chunks import restored_equals_live

PASSWORD = b"security-events-password"
BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_201 = {"chargingStation": {"model": "M2", "vendorName": "V"}, "reason": "PowerUp"}


async def up(host, station_id: str, version: str, boot: dict) -> LocalStation:
    await host.register(station_id, Registration(password_hash=hash_password(PASSWORD)))
    station = LocalStation(host, station_id, connection_id=f"c-{station_id}")
    [reply] = await batch(host, [station.connect_request(PASSWORD, version)])
    assert reply.connect_status == "accepted"
    assert (await call(host, station, [2, "boot", "BootNotification", boot]))[0] == 3
    return station


def record_counts(host) -> list[dict]:
    """What the host adds to its Ray metric (the Counter's own inc, recorded on the way)."""
    counted: list[dict] = []
    counter = host.metrics.security_events
    inc = counter.inc

    def recording_inc(value=1.0, tags=None):
        counted.append({"value": value, **(tags or {})})
        inc(value, tags=tags)

    counter.inc = recording_inc
    return counted


class Lines(logging.Handler):
    """The host's log records (csms.* loggers do not propagate to the root logger: actors/logs.py)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_security_events_of_both_versions_are_counted_by_criticality_and_survive_a_restart(tmp_path):
    host = local_host(tmp_path)
    v16 = await up(host, "CP-SE-16", "1.6", BOOT_16)
    v201 = await up(host, "CP-SE-201", "2.0.1", BOOT_201)
    counted = record_counts(host)
    lines = Lines()
    logging.getLogger("csms.station_host").addHandler(lines)

    tamper = [2, "se-1", "SecurityEventNotification",
              {"type": "TamperDetectionActivated", "timestamp": "2026-11-20T08:00:00Z", "techInfo": "lid <open>"}]
    assert await call(host, v16, tamper) == [3, "se-1", {}]
    assert await call(host, v16, tamper) == [3, "se-1", {}]  # re-sent (no answer reached it): counted once
    await call(host, v16, [2, "se-2", "SecurityEventNotification",
                           {"type": "InvalidMessages", "timestamp": "2026-11-20T08:01:00Z"}])
    await call(host, v201, [2, "se-3", "SecurityEventNotification",
                            {"type": "StartupOfTheDevice", "timestamp": "2026-11-20T08:02:00Z"}])

    assert [(c["value"], c["critical"]) for c in counted] == [(1, "true"), (1, "false"), (1, "true")]
    logging.getLogger("csms.station_host").removeHandler(lines)
    critical_lines = [r for r in lines.records if r.getMessage() == "critical security event"]
    assert [(r.station_id, r.event_type) for r in critical_lines] == [("CP-SE-16", "TamperDetectionActivated"),
                                                                      ("CP-SE-201", "StartupOfTheDevice")]
    assert all("lid" not in json.dumps(vars(r), default=str) for r in critical_lines)

    view_16, view_201 = await host.station("CP-SE-16"), await host.station("CP-SE-201")
    assert [e.type for e in view_16.security_events] == ["InvalidMessages", "TamperDetectionActivated"]
    assert view_16.last_critical_security_event.type == "TamperDetectionActivated"
    assert [e.type for e in view_201.security_events] == ["StartupOfTheDevice"]
    assert view_201.last_critical_security_event.critical
    await restored_equals_live(tmp_path, host)


async def test_a_station_that_changes_version_keeps_one_list_of_security_events(tmp_path):
    host = local_host(tmp_path)
    try:
        station = await up(host, "CP-SE-BOTH", "1.6", BOOT_16)
        await call(host, station, [2, "a", "SecurityEventNotification",
                                   {"type": "FirmwareUpdated", "timestamp": "2026-11-20T08:00:00Z"}])
        again = LocalStation(host, "CP-SE-BOTH", connection_id="c-again", connected_at_us=station.connected_at_us + 10**9)
        [reply] = await batch(host, [again.connect_request(PASSWORD, "2.0.1")])
        assert reply.connect_status == "accepted"
        await call(host, again, [2, "boot2", "BootNotification", BOOT_201])
        await call(host, again, [2, "b", "SecurityEventNotification",
                                 {"type": "CsmsFailedToAuthenticate", "timestamp": "2026-11-20T09:00:00Z"}])
        view = await host.station("CP-SE-BOTH")
        assert view.ocpp_version == "2.0.1"
        assert [(e.type, e.critical) for e in view.security_events] == [("CsmsFailedToAuthenticate", False),
                                                                         ("FirmwareUpdated", True)]
        assert view.security_events_received == 2
    finally:
        close(host)
