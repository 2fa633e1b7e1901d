"""The back office's fleet view, computed where the stations live: counts and one page of a filtered list, free of I/O.

A host answers for its own stations (`fleet_page`), the caller merges the hosts' answers
(`merge_pages`), so a page of 50 out of 100,000 stations moves 50 rows per host over Ray,
never the whole fleet. Pages are keyed by station id (`after` / `before`), not by offset:
each host can then answer alone, and a page stays put while stations come and go.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timezone

import msgspec

from actors.station_state import StationState

FAULTED = "Faulted"


class FleetQuery(msgspec.Struct, kw_only=True, frozen=True):
    # Case-insensitive substring of the station id or site.
    search: str = ""
    site: str | None = None
    connected: bool | None = None
    # Stations with at least one connector in this status (e.g. Faulted).
    connector_status: str | None = None
    stale: bool | None = None
    # Keyset paging: the rows after (or before) this station id, in id order.
    after: str | None = None
    before: str | None = None
    limit: int = 50
    now_us: int = 0
    # What a station that never had its HeartbeatInterval read is told at boot (Config).
    heartbeat_interval_s: int = 300


class ConnectorCell(msgspec.Struct, kw_only=True, frozen=True):
    connector_id: int
    status: str
    error_code: str
    # 2.0.1: the EVSE of the connector (connector_id is then within it); None for 1.6.
    evse_id: int | None = None


def connector_cells(state: StationState) -> list[ConnectorCell]:
    """The latest status of every connector, whatever the station's version: 1.6 connectors,
    2.0.1 EVSE connectors (2.0.1 StatusNotification has no error code: "")."""
    cells = [ConnectorCell(connector_id=c.connector_id, status=c.status, error_code=c.error_code)
             for _, c in sorted(state.connectors.items())]
    if state.v201 is not None:
        cells += [ConnectorCell(connector_id=c.connector_id, status=c.status, error_code="", evse_id=e.evse_id)
                  for _, e in sorted(state.v201.evses.items()) for _, c in sorted(e.connectors.items())]
    return cells


class FleetRow(msgspec.Struct, kw_only=True):
    station_id: str
    site: str | None
    connected: bool
    connectors: list[ConnectorCell]
    last_seen: datetime | None
    ocpp_version: str | None
    faulted: bool
    stale: bool
    # How often the station must be heard from (heartbeat_interval_s): what "stale" is judged by.
    heartbeat_interval_s: int = 0


class SiteCounts(msgspec.Struct, kw_only=True):
    stations: int = 0
    connected: int = 0
    faulted: int = 0
    stale: int = 0


class FleetCounts(msgspec.Struct, kw_only=True):
    """Over every registered station, whatever the query's filters."""

    stations: int = 0
    connected: int = 0
    faulted: int = 0
    stale: int = 0
    # Connectors (not stations) per status; connector 0 is the station itself in 1.6.
    connector_statuses: dict[str, int] = {}
    sites: dict[str, SiteCounts] = {}


class FleetPage(msgspec.Struct, kw_only=True):
    counts: FleetCounts
    # Stations matching the filters, and how many of those sort before the page's first row.
    matching: int
    before_count: int
    rows: list[FleetRow]
    has_next: bool
    has_previous: bool


# The 2.0.1 device model's heartbeat interval (Part 2 B01, OCPPCommCtrlr.HeartbeatInterval,
# Appendix 2): the key of actors.ocpp201's variable_key for it.
_HEARTBEAT_VARIABLE_201 = "OCPPCommCtrlr/HeartbeatInterval"


def _seconds(value: str | None) -> int | None:
    try:
        return max(1, int(value)) if value is not None else None
    except ValueError:
        return None


def heartbeat_interval_s(state: StationState, default_s: int) -> int:
    """The station's heartbeat interval as it last told us, else what boot told it (`default_s`,
    the interval every BootNotification answer carries): 1.6 its HeartbeatInterval configuration
    key as last read or set (OCPP 1.6 section 9.1.10); 2.0.1 the Actual value of
    OCPPCommCtrlr.HeartbeatInterval in the device model it reported (NotifyReport, B07), which
    the station sets from the boot answer's interval (B01)."""
    key = state.configuration.get("heartbeatinterval")
    seconds = _seconds(key.value) if key is not None else None
    if seconds is None and state.v201 is not None:
        variable = state.v201.device_model.get(_HEARTBEAT_VARIABLE_201)
        actual = next((a.value for a in variable.attributes if a.type == "Actual"), None) if variable else None
        seconds = _seconds(actual)
    return seconds if seconds is not None else default_s


def is_stale(state: StationState, query: FleetQuery) -> bool:
    """Not heard from for longer than its heartbeat interval (a station must send something at
    least that often, OCPP 1.6 section 4.6, 2.0.1 Part 2 G02); a station never seen is stale too."""
    if state.last_seen_us is None:
        return True
    return query.now_us - state.last_seen_us > heartbeat_interval_s(state, query.heartbeat_interval_s) * 1_000_000


def _row(state: StationState, stale: bool, default_interval_s: int) -> FleetRow:
    cells = connector_cells(state)
    return FleetRow(
        station_id=state.station_id,
        site=state.registration.site if state.registration else None,
        connected=state.connected,
        connectors=cells,
        last_seen=None if state.last_seen_us is None else datetime.fromtimestamp(state.last_seen_us / 1e6, tz=timezone.utc),
        # Set once stations carry their negotiated version (issue 10); None before.
        ocpp_version=getattr(state, "ocpp_version", None),
        faulted=any(c.status == FAULTED for c in cells),
        stale=stale,
        heartbeat_interval_s=heartbeat_interval_s(state, default_interval_s),
    )


def _matches(state: StationState, statuses: set[str], stale: bool, query: FleetQuery) -> bool:
    site = state.registration.site if state.registration else None
    if query.site is not None and site != query.site:
        return False
    if query.connected is not None and state.connected != query.connected:
        return False
    if query.stale is not None and stale != query.stale:
        return False
    if query.connector_status is not None and query.connector_status not in statuses:
        return False
    if query.search:
        needle = query.search.lower()
        if needle not in state.station_id.lower() and needle not in (site or "").lower():
            return False
    return True


class FleetScan:
    """One host's part, fed in chunks (the host lets frames through between them): counts over
    its registered stations and up to `limit` + 1 matching rows next to the cursor (the extra
    row tells whether there is a further page)."""

    def __init__(self, query: FleetQuery) -> None:
        self.query = query
        self.stations = self.connected = self.faulted = self.stale = 0
        self.connector_statuses: dict[str, int] = {}
        # site -> [stations, connected, faulted, stale]: plain lists, this loop is the cost.
        self.sites: dict[str, list[int]] = {}
        self.matching = 0
        self.before_count = 0
        self.window: list[StationState] = []

    def add(self, states: Iterable[StationState]) -> None:
        query = self.query
        statuses_seen = self.connector_statuses
        sites = self.sites
        window = self.window
        take = query.limit + 1
        for state in states:
            registration = state.registration
            if registration is None:
                continue
            statuses = set()
            # The 1.6 path builds no cells: this loop is the cost of a fleet page.
            for c in (connector_cells(state) if state.v201 is not None else state.connectors.values()):
                statuses.add(c.status)
                statuses_seen[c.status] = statuses_seen.get(c.status, 0) + 1
            stale = is_stale(state, query)
            faulted = FAULTED in statuses
            connected = state.connected
            self.stations += 1
            self.connected += connected
            self.faulted += faulted
            self.stale += stale
            site = sites.get(registration.site or "")
            if site is None:
                site = sites[registration.site or ""] = [0, 0, 0, 0]
            site[0] += 1
            site[1] += connected
            site[2] += faulted
            site[3] += stale
            if not _matches(state, statuses, stale, query):
                continue
            self.matching += 1
            station_id = state.station_id
            if query.before is not None:
                if station_id < query.before:
                    self.before_count += 1
                    window.append(state)
            elif query.after is None or station_id > query.after:
                window.append(state)
            else:
                self.before_count += 1
            if len(window) > 8 * take:  # keep it bounded: only the `take` nearest the cursor count
                window[:] = self._nearest(window, take)

    def _nearest(self, window: list[StationState], take: int) -> list[StationState]:
        if self.query.before is not None:
            return heapq.nlargest(take, window, key=lambda s: s.station_id)
        return heapq.nsmallest(take, window, key=lambda s: s.station_id)

    def page(self) -> FleetPage:
        chosen = sorted(self._nearest(self.window, self.query.limit + 1), key=lambda s: s.station_id)
        before_count = self.before_count
        if self.query.before is not None:
            # The rows left before the page: everything before the cursor not on the page.
            before_count -= len(chosen)
        counts = FleetCounts(
            stations=self.stations, connected=self.connected, faulted=self.faulted, stale=self.stale,
            connector_statuses=dict(self.connector_statuses),
            sites={name: SiteCounts(stations=v[0], connected=v[1], faulted=v[2], stale=v[3])
                   for name, v in self.sites.items()},
        )
        rows = [_row(s, is_stale(s, self.query), self.query.heartbeat_interval_s) for s in chosen]
        return FleetPage(counts=counts, matching=self.matching, before_count=before_count, rows=rows,
                         has_next=False, has_previous=False)


def fleet_page(states: Iterable[StationState], query: FleetQuery) -> FleetPage:
    """One host's part in one go (FleetScan without the chunks)."""
    scan = FleetScan(query)
    scan.add(states)
    return scan.page()


def merge_pages(parts: list[FleetPage], query: FleetQuery) -> FleetPage:
    """The hosts' parts as one page of `limit` rows, with fleet-wide counts."""
    counts = FleetCounts(connector_statuses={}, sites={})
    for part in parts:
        c = part.counts
        counts.stations += c.stations
        counts.connected += c.connected
        counts.faulted += c.faulted
        counts.stale += c.stale
        for status, n in c.connector_statuses.items():
            counts.connector_statuses[status] = counts.connector_statuses.get(status, 0) + n
        for name, s in c.sites.items():
            total = counts.sites.setdefault(name, SiteCounts())
            total.stations += s.stations
            total.connected += s.connected
            total.faulted += s.faulted
            total.stale += s.stale
    rows = sorted((r for p in parts for r in p.rows), key=lambda r: r.station_id)
    before_count = sum(p.before_count for p in parts)
    if query.before is not None:
        extra = max(0, len(rows) - query.limit)
        page, before_count = rows[extra:], before_count + extra
        has_previous, has_next = before_count > 0, True
    else:
        page = rows[: query.limit]
        has_next, has_previous = len(rows) > query.limit, query.after is not None and before_count > 0
    return FleetPage(counts=counts, matching=sum(p.matching for p in parts), before_count=before_count,
                     rows=page, has_next=has_next, has_previous=has_previous)
