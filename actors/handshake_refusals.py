"""Refused handshakes of registered stations: why one cannot connect, when its failures are a security event; no I/O.

A support agent asked "my charger does not connect" needs the last refusal's reason, time and
source address and how many came since the station last got in (issue 13 item 6). The host
keeps that per station (not durable: a restarted host starts afresh), shows it on the station
view, and puts a `HandshakeRefused` event into the station's recent events, at most one per
EVENT_EVERY_S (the first at once, later ones carrying how many they stand for), so a flood of
refusals cannot push the station's real history out of its events page.

Failed authentications (a wrong or missing password or certificate) that reach
`failures_for_event` within `window_s` raise one security event of our own per window:
`FailedToAuthenticateAtCsms`, the name the OCPP 2.0.1 security events list (Part 2,
appendices, "Security Events") gives to "the authentication credentials provided by the
Charging Station were rejected by the CSMS" (not critical there). There a station reports it;
here the CSMS sees it, so it is logged as a CSMS event (`CsmsSecurityEvent`), never a station
frame.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from actors import events as ev
from actors.events import Event, UtcDatetime, utc_datetime

# A refusal's result (actors.host_protocol.HandshakeResult) that means the credentials failed.
AUTHENTICATION_FAILURES = frozenset({"bad_credentials", "no_credentials", "no_certificate", "wrong_certificate"})

FAILED_TO_AUTHENTICATE = "FailedToAuthenticateAtCsms"
EVENT_EVERY_S = 60.0
_US = 1_000_000


class HandshakeRefusalsView(msgspec.Struct, kw_only=True):
    """What GET /api/stations/{id} shows of the station's refused handshakes (this host's memory)."""

    last_reason: str
    last_at: UtcDatetime
    # host:port as the ingress saw it; never credentials.
    last_source_address: str | None
    # Refused handshakes since the station last got in (or since this host started).
    since_last_success: int
    last_security_event_at: UtcDatetime | None = None


class RefusalRecord(NamedTuple):
    """The events one refusal calls for: a HandshakeRefused standing for `refusals` refusals
    (0: none now), and whether the station's failures just became a security event."""

    refusals: int
    security_event_failures: int


class _Station:
    __slots__ = ("reason", "at_us", "source", "since_success", "unreported", "event_at_us",
                 "window_start_us", "window_failures", "security_event_at_us")

    def __init__(self) -> None:
        self.reason = ""
        self.at_us = 0
        self.source: str | None = None
        self.since_success = 0
        self.unreported = 0
        self.event_at_us: int | None = None
        self.window_start_us = 0
        self.window_failures = 0
        self.security_event_at_us: int | None = None


class HandshakeRefusals:
    """The refused handshakes of one host's registered stations (an entry only for a station
    refused at least once; the host holds at most its registered stations)."""

    def __init__(self, *, failures_for_event: int, window_s: float, event_every_s: float = EVENT_EVERY_S) -> None:
        self.failures_for_event = failures_for_event
        self.window_us = int(window_s * _US)
        self.event_every_us = int(event_every_s * _US)
        self._stations: dict[str, _Station] = {}

    def refused(self, station_id: str, reason: str, at_us: int, source: str | None, count: int = 1) -> RefusalRecord:
        entry = self._stations.get(station_id)
        if entry is None:
            entry = self._stations[station_id] = _Station()
        entry.reason, entry.at_us, entry.source = reason, at_us, source
        entry.since_success += count
        entry.unreported += count
        refusals = 0
        if entry.event_at_us is None or at_us - entry.event_at_us >= self.event_every_us:
            refusals, entry.unreported, entry.event_at_us = entry.unreported, 0, at_us
        failures = 0
        if reason in AUTHENTICATION_FAILURES and self.failures_for_event > 0:
            if at_us - entry.window_start_us >= self.window_us:
                entry.window_start_us, entry.window_failures = at_us, 0
            before = entry.window_failures
            entry.window_failures += count
            if before < self.failures_for_event <= entry.window_failures:
                failures = entry.window_failures
                entry.security_event_at_us = at_us
        return RefusalRecord(refusals, failures)

    def succeeded(self, station_id: str) -> None:
        """The station got in: the count starts again; the last refusal stays for support."""
        entry = self._stations.get(station_id)
        if entry is not None:
            entry.since_success = entry.unreported = 0
            entry.event_at_us = None
            entry.window_failures = 0

    def forget(self, station_id: str) -> None:
        self._stations.pop(station_id, None)

    def view(self, station_id: str) -> HandshakeRefusalsView | None:
        entry = self._stations.get(station_id)
        if entry is None:
            return None
        return HandshakeRefusalsView(last_reason=entry.reason, last_at=utc_datetime(entry.at_us),
                                     last_source_address=entry.source, since_last_success=entry.since_success,
                                     last_security_event_at=utc_datetime(entry.security_event_at_us))


class _Refused(msgspec.Struct):
    reason: str
    source_address: str | None
    subprotocols: tuple[str, ...]
    # Refusals this event stands for (the first, or those since the previous event).
    refusals: int


class _SecurityEvent(msgspec.Struct):
    # The security event type, from the spec's list where one fits.
    type: str
    critical: bool
    tech_info: str
    source_address: str | None


def refused_event(station_id: str, reason: str, at_us: int, source_address: str | None,
                  subprotocols: tuple[str, ...], refusals: int, ocpp_version: str) -> Event:
    """The HandshakeRefused event for the station's recent events (never logged)."""
    payload = msgspec.json.encode(_Refused(reason, source_address, subprotocols, refusals)).decode()
    return Event(station_id=station_id, received_at_us=at_us, direction="system", message_type="SESSION",
                 message_id="", action=ev.HANDSHAKE_REFUSED, payload=payload, ocpp_version=ocpp_version)


def failed_to_authenticate_event(station_id: str, at_us: int, failures: int, window_s: float, reason: str,
                                 source_address: str | None, ocpp_version: str) -> Event:
    """Repeated failed authentications as a CsmsSecurityEvent of type FailedToAuthenticateAtCsms
    (not critical in the OCPP 2.0.1 security events list)."""
    info = f"{failures} failed authentications within {window_s:g} s, the last one {reason}"
    payload = msgspec.json.encode(_SecurityEvent(FAILED_TO_AUTHENTICATE, False, info, source_address)).decode()
    return Event(station_id=station_id, received_at_us=at_us, direction="system", message_type="SESSION",
                 message_id="", action=ev.CSMS_SECURITY_EVENT, payload=payload, ocpp_version=ocpp_version)
