"""The event: one record per OCPP frame in either direction or per session lifecycle change.

Events are the single source of truth. The write-ahead log stores them, the Parquet lake
(bronze) receives them, and a station's live state is a fold over its events
(`StationSession.apply`), so a host rebuilds every station from snapshot + log after a crash.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated, Literal

import msgspec

# Direction as seen from the CSMS: "in" = station -> CSMS, "out" = CSMS -> station,
# "system" = produced by the CSMS itself (connect, disconnect, registration).
Direction = Literal["in", "out", "system"]

# OCPP-J message type names (OCPP-J 1.6 section 4.1.3) plus SESSION for lifecycle events.
MessageType = Literal["CALL", "CALLRESULT", "CALLERROR", "SESSION"]

# Actions of SESSION events.
CONNECTED = "Connected"
DISCONNECTED = "Disconnected"
STATION_REGISTERED = "StationRegistered"
STATION_DELETED = "StationDeleted"
# How an Authorize or StartTransaction id tag was decided when an external authorizer is
# configured (actors/authorizer/decision.py); logged right after the CALLRESULT.
AUTHORIZATION_DECIDED = "AuthorizationDecided"
# A transaction the CSMS ended though its StopTransaction never came: a rule of the station's
# version, or an operator's close (payload: actors.station_state.Settlement).
TRANSACTION_SETTLED = "TransactionSettled"
# A refused handshake of a registered station (actors/handshake_refusals.py): kept in the
# station's recent events for support, never logged (a flood of them must not fill the log).
HANDSHAKE_REFUSED = "HandshakeRefused"
# A security event the CSMS raises about a station itself, e.g. FailedToAuthenticateAtCsms
# after repeated failed handshakes (actors/handshake_refusals.py); logged, lands in bronze.
CSMS_SECURITY_EVENT = "CsmsSecurityEvent"
# An inbound frame that could not be parsed as OCPP-J; payload holds the raw text.
MALFORMED = "Malformed"
# A station's certificate request (SignCertificate) and what came of it (actors/station_certificates.py):
# Rejected with its reason; the certificate our CA issued (serial, validity, fingerprint);
# or why the CA did not issue one after the request was Accepted.
CERTIFICATE_REQUEST_REFUSED = "CertificateRequestRefused"
CERTIFICATE_ISSUED = "CertificateIssued"
CERTIFICATE_ISSUE_FAILED = "CertificateIssueFailed"
CERTIFICATE_EVENTS = (CERTIFICATE_REQUEST_REFUSED, CERTIFICATE_ISSUED, CERTIFICATE_ISSUE_FAILED)
# A station's accepted raise of its security profile is pending until a handshake proves it
# (actors/security_profiles.py): the first that does makes it enforced (SecurityProfileConfirmed);
# one accepted below it, on the profile still enforced, is recorded as the fallback the specs
# allow (SecurityProfileFallback). Payload: actors.security_profiles.ProfileHandshake.
SECURITY_PROFILE_CONFIRMED = "SecurityProfileConfirmed"
SECURITY_PROFILE_FALLBACK = "SecurityProfileFallback"
SECURITY_PROFILE_EVENTS = (SECURITY_PROFILE_CONFIRMED, SECURITY_PROFILE_FALLBACK)


class Event(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One durable event. Times are integer microseconds since the Unix epoch, UTC."""

    station_id: str
    received_at_us: int
    direction: Direction
    message_type: MessageType
    message_id: str
    action: str
    # The payload as JSON text (for CALLERROR: [code, description, details]).
    payload: str
    # The station's own timestamp from the payload, where it has one. Offline-queued
    # messages arrive late: analytics order by this, not by received_at_us.
    station_ts_us: int | None = None
    ocpp_version: str = "1.6"
    # Fields that must survive in the log (to rebuild state) but never reach the lake,
    # e.g. the salted password hash of a registration. Empty for almost every event.
    private: str = ""


def now_us() -> int:
    return time.time_ns() // 1000


# An aware datetime, declared so in JSON Schema (`format: date-time`): what the API prints.
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


def utc_datetime(us: int | None) -> datetime | None:
    """Microseconds since the epoch as an aware UTC datetime (None stays None)."""
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    return _decoder.decode(data)
