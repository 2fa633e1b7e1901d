"""OCPP 1.6 SecurityEventNotification (security whitepaper edition 3, use case A04, sections 5.15, 5.16): answered, kept per station.

The station sends it for every critical security event (actors/security_events.py says which)
and may send others; the CSMS answers with an empty .conf and folds the event into the station's
version-neutral list (StationState.record_security_event), which the API, the back office and the
silver table `security_events` show for both versions alike.
"""

from __future__ import annotations

from actors.ocpp16 import messages as m
from actors.ocpp16.answers import Answer
from actors.protocol import Context
from actors.security_events import is_critical
from actors.station_state import SecurityEvent, StationState
from actors.timestamps import to_us


class SecurityEventNotificationResponse(Answer):
    pass


def answer_security_event(state: StationState, req: m.SecurityEventNotificationRequest,
                          ctx: Context) -> SecurityEventNotificationResponse:
    return SecurityEventNotificationResponse()


def apply_security_event(state: StationState, req: m.SecurityEventNotificationRequest,
                         res: SecurityEventNotificationResponse, at_us: int) -> None:
    state.record_security_event(SecurityEvent(
        type=req.type, timestamp_us=to_us(req.timestamp), tech_info=req.techInfo, received_at_us=at_us,
        critical=is_critical(req.type)))
