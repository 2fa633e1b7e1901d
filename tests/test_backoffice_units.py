"""The back office's parts without a browser: signed sessions, CSRF tokens, the fleet page's counts and paging, command forms."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from actors.fleet_page import FleetQuery, fleet_page, merge_pages
from actors.ocpp201.messages import MessageTriggerEnumType
from actors.protocols import PROTOCOLS
from actors.station_state import ConfigurationValue, ConnectorState, Registration, StationState
from analytics.gold_views import faults_per_day
from serve_app.backoffice.admin import problems
from serve_app.backoffice.commands import TRIGGERABLE, form_commands, payload_from_form
from serve_app.backoffice.records import _csv_cell
from serve_app import tls
from serve_app.backoffice.connections import BalancedConnections, ClientOrigin
from serve_app.backoffice.session import SESSION_TTL_S, Revocations, SessionKeys
from serve_app.backoffice.signin_limit import SigninLimit
from tests.test_fault_report import october_fixture

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


# What each 2.0.1 form sends when filled in the way its fields allow (empty optional fields left out).
FORMS_201 = {
    "RequestStartTransaction": ({"idToken": "TAG1", "tokenType": "ISO14443", "evseId": "1", "remoteStartId": "7"},
                                {"idToken": {"idToken": "TAG1", "type": "ISO14443"}, "remoteStartId": 7, "evseId": 1}),
    "RequestStopTransaction": ({"transactionId": "tx-1"}, {"transactionId": "tx-1"}),
    "Reset": ({"type": "OnIdle", "evseId": ""}, {"type": "OnIdle"}),
    "UnlockConnector": ({"evseId": "1", "connectorId": "2"}, {"evseId": 1, "connectorId": 2}),
    "ChangeAvailability": ({"operationalStatus": "Inoperative", "evseId": "1", "connectorId": ""},
                           {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
    "TriggerMessage": ({"requestedMessage": "StatusNotification", "evseId": "2"},
                       {"requestedMessage": "StatusNotification", "evse": {"id": 2}}),
    "ClearCache": ({}, {}),
}


def test_every_2_0_1_form_has_a_payload_the_2_0_1_schemas_accept():
    protocol = PROTOCOLS["2.0.1"]
    assert set(FORMS_201) == set(form_commands("2.0.1"))
    assert set(form_commands("2.0.1")) <= set(protocol.commands)
    assert set(TRIGGERABLE["2.0.1"]) == set(get_args(MessageTriggerEnumType))
    for action, (fields, payload) in FORMS_201.items():
        assert payload_from_form(action, fields, "2.0.1") == payload, action
        protocol.decode_command(action, json.dumps(payload))  # raises if the schema refuses it
    # The same action name is another form in 1.6 (Reset: Hard/Soft), read by the version.
    assert payload_from_form("Reset", {"type": "Soft"}) == {"type": "Soft"}
    assert set(form_commands("1.6")) <= set(PROTOCOLS["1.6"].commands)
    with pytest.raises(ValueError, match="remoteStartId is required"):
        payload_from_form("RequestStartTransaction", {"idToken": "TAG1"}, "2.0.1")
    # The JSON box wins over any form reading, whatever the action.
    assert payload_from_form("Reset", {"payload": '{"type": "Immediate"}'}, "2.0.1") == {"type": "Immediate"}


def test_the_apis_row_errors_become_one_line_each():
    detail = {"message": "2 of 30 rows invalid; nothing was applied",
              "errors": [{"row": 2, "id": "CP-2", "message": "bad password"}, {"row": 5, "id": None, "message": "5 fields"}]}
    assert problems(detail) == ["2 of 30 rows invalid; nothing was applied", "row 2 (CP-2): bad password",
                                "row 5: 5 fields"]
    many = {"message": "m", "errors": [{"row": k, "id": None, "message": "x"} for k in range(1, 26)]}
    assert problems(many)[-1] == "... and 5 more" and len(problems(many)) == 1 + 20 + 1
    assert problems("backend unavailable") == ["backend unavailable"]


def test_csv_export_defuses_formulas_from_stations():
    assert _csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert _csv_cell("TAG-1") == "TAG-1" and _csv_cell(5) == 5


def test_faults_per_day_counts_every_faulted_status_of_each_day_of_the_month(tmp_path):
    october_fixture(tmp_path)
    per_day = dict(zip(*faults_per_day(tmp_path, "2026-10").values()))
    assert len(per_day) == 31 and per_day["2026-10-01"] == 0
    # The fixture's faults (tests/test_fault_report.py): CP-A's 5, CP-B's 4 and 4, CP-C's 8 across midnight,
    # CP-J's 4 Faulted (its Unavailable not counted), CP-F's 4 before November.
    assert (per_day["2026-10-03"], per_day["2026-10-05"], per_day["2026-10-06"]) == (5, 4, 4)
    assert (per_day["2026-10-07"], per_day["2026-10-08"], per_day["2026-10-14"]) == (4, 4, 4)
    assert per_day["2026-10-31"] == 4
    assert set(faults_per_day(tmp_path, "2026-09")["faults"]) == {0, 5}  # CP-E's 5 on 30 September only


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_after_its_failures_until_they_leave_the_window():
    clock = _Clock()
    limit = SigninLimit(failures_allowed=3, window_s=60, clock=clock)
    for _ in range(3):
        assert limit.retry_after("10.0.0.1") == 0
        limit.failed("10.0.0.1")
        clock.now += 10
    assert limit.retry_after("10.0.0.1") == 30  # the first failure leaves the window 60 s after it
    assert limit.retry_after("10.0.0.2") == 0
    clock.now += 30
    assert limit.retry_after("10.0.0.1") == 0


def test_a_right_token_clears_an_addresss_failures_and_few_addresses_are_kept():
    limit = SigninLimit(failures_allowed=2, window_s=60, max_addresses=3, clock=_Clock())
    limit.failed("a")
    limit.succeeded("a")
    limit.failed("a")
    assert limit.retry_after("a") == 0
    for address in ("b", "c", "d"):
        limit.failed(address)
        limit.failed(address)
    assert limit.retry_after("a") == 0 and limit.retry_after("d") > 0  # "a", the least recent, forgotten


def test_the_balancer_says_whether_the_client_came_over_tls_and_a_client_cannot_say_it():
    head = b"GET /signin HTTP/1.1\r\nHost: x\r\nX-CSMS-Client-Scheme: https\r\n\r\n"
    plain = _headers(tls.rewrite_head(head, "s3cret", [], "10.0.0.9:5000", over_tls=False))
    secure = _headers(tls.rewrite_head(head, "s3cret", [], "10.0.0.9:5000", over_tls=True))
    assert tls.forwarded_scheme(plain, "s3cret") == "http" and tls.forwarded_scheme(secure, "s3cret") == "https"
    assert tls.forwarded_scheme(secure, "other") is None
    assert tls.forwarded_scheme({"x-csms-client-scheme": "https"}, "s3cret") is None


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}


def test_a_kept_alive_connection_keeps_the_origin_its_first_request_was_vouched_for():
    connections = BalancedConnections("s3cret", max_connections=2)
    first = _headers(tls.rewrite_head(b"GET /signin HTTP/1.1\r\nHost: x\r\n\r\n", "s3cret", [], "[2001:db8::7]:5000",
                                      over_tls=True))
    balancer_socket = ("127.0.0.1", 41000)
    assert connections.origin(first, balancer_socket) == ClientOrigin(address="2001:db8::7", over_tls=True)
    # The next request on that connection carries none of the balancer's headers.
    assert connections.origin({"host": "x"}, balancer_socket) == ClientOrigin(address="2001:db8::7", over_tls=True)
    # A new connection on the same port brings its own first head, which wins.
    again = _headers(tls.rewrite_head(b"GET / HTTP/1.1\r\n\r\n", "s3cret", [], "10.1.1.1:6000", over_tls=False))
    assert connections.origin(again, balancer_socket) == ClientOrigin(address="10.1.1.1", over_tls=False)
    # Not from the balancer at all: the peer itself, nothing vouched.
    assert connections.origin({"x-csms-client-address": "6.6.6.6:1"}, ("10.2.2.2", 9)) == ClientOrigin(
        address="10.2.2.2", over_tls=None)
