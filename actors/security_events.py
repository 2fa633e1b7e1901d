"""Which security events are critical: one list, the same in both OCPP versions we speak.

A station sends every critical security event to the CSMS, queued while offline, and keeps all
of them (critical or not) in its security log (1.6 security whitepaper edition 3, use case A04
and appendix 1 "Security Events"; OCPP 2.0.1 Part 2 use case A04 and its appendix "Security
Events"). The two lists name the same critical events; they differ only in names of
non-critical ones (1.6 CentralSystemFailedToAuthenticate, 2.0.1 CsmsFailedToAuthenticate, ...),
so one list serves both. docs/security.md says where an operator sees them.
"""

from __future__ import annotations

CRITICAL_SECURITY_EVENTS: frozenset[str] = frozenset({
    "FirmwareUpdated",
    "SettingSystemTime",
    "StartupOfTheDevice",
    "ResetOrReboot",
    "SecurityLogWasCleared",
    "MemoryExhaustion",
    "TamperDetectionActivated",
})

_CRITICAL_FOLDED = frozenset(t.casefold() for t in CRITICAL_SECURITY_EVENTS)


def is_critical(event_type: str) -> bool:
    """Whether a station-sent event type is one the specs call critical. Compared without case:
    the type is free text (string[50]) and a station spelling it differently must not make an
    operator miss a tamper alarm."""
    return event_type.casefold() in _CRITICAL_FOLDED
