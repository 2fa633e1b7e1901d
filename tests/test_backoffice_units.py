"""The back office's parts without a browser: signed sessions, CSRF tokens, the fleet page's counts and paging, command forms."""

from __future__ import annotations

import pytest

from actors.fleet_page import FleetQuery, fleet_page, merge_pages
from actors.station_state import ConfigurationValue, ConnectorState, Registration, StationState
from serve_app.backoffice.admin import id_tag_record, station_registration
from serve_app.backoffice.commands import payload_from_form
from serve_app.backoffice.records import _csv_cell
from serve_app.backoffice.session import SESSION_TTL_S, Revocations, SessionKeys

KEYS = SessionKeys(b"k" * 32)


def test_a_session_cookie_verifies_and_holds_no_token():
    session, cookie = KEYS.issue("operator", "the-operator-token", now=1_000)
    assert "the-operator-token" not in cookie
    assert KEYS.verify(cookie, now=1_001) == session
    assert session.role == "operator" and session.expires_at == 1_000 + SESSION_TTL_S


def test_an_altered_or_foreign_session_cookie_is_refused():
    _, cookie = KEYS.issue("viewer", "t", now=1_000)
    body, mac = cookie.rsplit(".", 1)
    _, admin_cookie = KEYS.issue("admin", "t", now=1_000)
    forged = admin_cookie.rsplit(".", 1)[0] + "." + mac  # an admin body under a viewer's signature
    assert KEYS.verify(forged, now=1_001) is None
    assert KEYS.verify(body + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"), now=1_001) is None
    assert SessionKeys(b"other" * 8).verify(cookie, now=1_001) is None
    assert KEYS.verify("", now=1_001) is None and KEYS.verify("garbage", now=1_001) is None


def test_a_session_expires():
    _, cookie = KEYS.issue("admin", "t", now=1_000)
    assert KEYS.verify(cookie, now=1_000 + SESSION_TTL_S) is None


def test_the_csrf_token_belongs_to_its_session():
    first, _ = KEYS.issue("admin", "t")
    second, _ = KEYS.issue("admin", "t")
    assert KEYS.csrf_ok(first, KEYS.csrf_token(first))
    assert not KEYS.csrf_ok(first, KEYS.csrf_token(second))
    assert not KEYS.csrf_ok(first, "") and not KEYS.csrf_ok(first, None)


def test_a_signed_out_session_stays_revoked(tmp_path):
    revocations = Revocations(tmp_path / "revoked")
    session, _ = KEYS.issue("viewer", "t")
    other, _ = KEYS.issue("viewer", "t")
    revocations.revoke(session)
    assert revocations.revoked(session) and not revocations.revoked(other)


def _station(station_id: str, site: str, connected: bool, statuses: list[str], last_seen_s: int | None) -> StationState:
    return StationState(
        station_id=station_id, registration=Registration(password_hash="", site=site), connected=connected,
        connectors={k: ConnectorState(connector_id=k, status=s, error_code="NoError") for k, s in enumerate(statuses, 1)},
        last_seen_us=None if last_seen_s is None else last_seen_s * 1_000_000,
    )


def _fleet(n: int) -> list[StationState]:
    return [_station(f"S{k:04d}", f"site-{k % 3}", k % 2 == 0, ["Faulted" if k % 10 == 0 else "Available"], 1_000)
            for k in range(n)]


def test_fleet_counts_cover_every_station_whatever_the_filter():
    states = _fleet(100) + [StationState(station_id="unregistered")]
    page = fleet_page(states, FleetQuery(search="s000", limit=5, now_us=1_100 * 1_000_000, heartbeat_interval_s=300))
    c = page.counts
    assert (c.stations, c.connected, c.faulted, c.stale) == (100, 50, 10, 0)
    assert c.connector_statuses == {"Available": 90, "Faulted": 10}
    assert c.sites["site-0"].stations == 34 and sum(s.stations for s in c.sites.values()) == 100
    assert page.matching == 10  # S0000..S0009


def test_a_station_is_stale_past_its_own_heartbeat_interval():
    fresh = _station("A", "s", True, ["Available"], 1_000)
    quiet = _station("B", "s", True, ["Available"], 1_000)
    quiet.configuration = {"heartbeatinterval": ConfigurationValue(key="HeartbeatInterval", value="60")}
    never = _station("C", "s", False, [], None)
    page = fleet_page([fresh, quiet, never], FleetQuery(stale=True, now_us=1_100 * 1_000_000, heartbeat_interval_s=300))
    assert [r.station_id for r in page.rows] == ["B", "C"] and page.counts.stale == 2


def test_fleet_filters_by_connection_site_and_connector_status():
    states = _fleet(100)
    query = FleetQuery(connected=True, site="site-0", connector_status="Faulted", now_us=1, heartbeat_interval_s=300)
    page = fleet_page(states, query)
    assert [r.station_id for r in page.rows] == ["S0000", "S0030", "S0060", "S0090"]
    assert all(r.faulted and r.connected for r in page.rows)


@pytest.mark.parametrize("hosts", [1, 3])
def test_keyset_pages_over_several_hosts_visit_every_station_once(hosts):
    states = _fleet(237)
    shards = [[s for k, s in enumerate(states) if k % hosts == h] for h in range(hosts)]

    def page(**cursor):
        query = FleetQuery(limit=50, now_us=1, heartbeat_interval_s=300, **cursor)
        return merge_pages([fleet_page(shard, query) for shard in shards], query)

    seen, current = [], page()
    starts = []
    while True:
        starts.append(current.before_count)
        seen += [r.station_id for r in current.rows]
        if not current.has_next:
            break
        current = page(after=current.rows[-1].station_id)
    assert seen == sorted(s.station_id for s in states)
    assert starts == [0, 50, 100, 150, 200]
    back = page(before=current.rows[0].station_id)
    assert back.before_count == 150 and [r.station_id for r in back.rows] == seen[150:200]
    assert back.has_previous and back.has_next
    assert not page(before=seen[50]).has_previous


def test_command_forms_become_ocpp_payloads():
    assert payload_from_form("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": "2"}) == {"idTag": "TAG1", "connectorId": 2}
    assert payload_from_form("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": ""}) == {"idTag": "TAG1"}
    assert payload_from_form("GetConfiguration", {"key": "HeartbeatInterval, MeterValueSampleInterval"}) == {
        "key": ["HeartbeatInterval", "MeterValueSampleInterval"]}
    assert payload_from_form("GetConfiguration", {"key": ""}) == {}
    assert payload_from_form("DataTransfer", {"payload": '{"vendorId": "X"}'}) == {"vendorId": "X"}
    with pytest.raises(ValueError, match="transactionId must be a whole number"):
        payload_from_form("RemoteStopTransaction", {"transactionId": "abc"})
    with pytest.raises(ValueError, match="not JSON"):
        payload_from_form("DataTransfer", {"payload": "{nope"})


def test_import_rows_are_checked_like_the_api():
    assert id_tag_record({"id_tag": "T1", "status": "Blocked", "expiry_date": "2027-01-31"})[1].status == "Blocked"
    with pytest.raises(ValueError, match="1-20"):
        id_tag_record({"id_tag": "X" * 21})
    with pytest.raises(ValueError, match="password"):
        station_registration({"station_id": "CP-1", "password": "short"})
    with pytest.raises(ValueError, match="station id"):
        station_registration({"station_id": "bad id/", "password": "p" * 16})


def test_csv_export_defuses_formulas_from_stations():
    assert _csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert _csv_cell("TAG-1") == "TAG-1" and _csv_cell(5) == 5
