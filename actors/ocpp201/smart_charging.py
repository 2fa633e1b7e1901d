"""OCPP 2.0.1 smart charging commands (Part 2 K): the rules a profile must follow, and what the station's answers change.

SetChargingProfile (K01), GetChargingProfiles with the ReportChargingProfiles parts of its
requestId (K09), ClearChargingProfile (K10) and GetCompositeSchedule (K08). Profiles are kept
per station by id, each naming its EVSE (0: the whole station). The 2.0.1 rules that differ
from 1.6: a known id replaces its profile wherever it was (K01.FR.05); a different profile
with the same stackLevel, purpose and EVSE and an overlapping validity is not to be sent
(K01.FR.06; for TxProfiles the same stackLevel and transaction, K01.FR.39), so `STATE_CHECKS`
refuses it, and a fold that meets one anyway (a station that took it) keeps the newer.
Requirement ids are OCPP 2.0.1 Part 2's; everything here is pure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from actors.ocpp201 import messages as m
from actors.station_state import (
    ChargingProfile201,
    ChargingProfilesReport,
    ChargingSchedule201,
    CompositeSchedule201,
    SchedulePeriod201,
    StationState,
    Transaction,
    report_for,
)
from actors.timestamps import to_us

# Profiles kept in one report (the rest is in the lake).
REPORTED_PROFILES_KEPT = 64


def _us(ts: datetime | None) -> int | None:
    return None if ts is None else to_us(ts)


# --- rules the schema leaves out ----------------------------------------------------------------


def _one_decimal(value: float | None, name: str) -> None:
    # ChargingSchedulePeriodType.limit and ChargingScheduleType.minChargingRate: "Accepts at
    # most one digit fraction (e.g. 8.1)"; round() is exact where a multipleOf would not be.
    if value is not None and round(value, 1) != value:
        raise ValueError(f"{name} accepts at most one digit fraction (OCPP 2.0.1 ChargingSchedulePeriodType), got {value}")


def check_schedule(schedule: m.ChargingScheduleType, kind: str) -> None:
    periods = schedule.chargingSchedulePeriod
    if periods[0].startPeriod != 0:
        raise ValueError("the first chargingSchedulePeriod must have startPeriod 0 (OCPP 2.0.1 K01.FR.31)")
    starts = [p.startPeriod for p in periods]
    if any(b <= a for a, b in zip(starts, starts[1:])):
        raise ValueError(f"startPeriod values must increase (OCPP 2.0.1 K01.FR.35), got {starts}")
    if kind in ("Absolute", "Recurring") and schedule.startSchedule is None:
        raise ValueError(f"an {kind} profile needs chargingSchedule.startSchedule (OCPP 2.0.1 K01.FR.40)")
    if kind == "Relative" and schedule.startSchedule is not None:
        raise ValueError("a Relative profile has no chargingSchedule.startSchedule (OCPP 2.0.1 K01.FR.41)")
    _one_decimal(schedule.minChargingRate, "minChargingRate")
    for period in periods:
        _one_decimal(period.limit, "limit")
        # phaseToUse: "Used if numberPhases=1 ... It's not allowed unless" (K01.FR.19).
        if period.phaseToUse is not None and period.numberPhases != 1:
            raise ValueError("phaseToUse needs numberPhases 1 (OCPP 2.0.1 K01.FR.19)")


def check_set_charging_profile(req: m.SetChargingProfileRequest) -> None:
    profile = req.chargingProfile
    purpose = profile.chargingProfilePurpose
    if req.evseId < 0:
        raise ValueError("evseId is 0 (the whole station) or an EVSE id (OCPP 2.0.1 K01)")
    if profile.stackLevel < 0:
        raise ValueError("stackLevel: lowest level is 0 (OCPP 2.0.1 ChargingProfileType)")
    if purpose == "ChargingStationExternalConstraints":
        # Set by an external system (an EMS, K11), never by the CSMS; its profile cannot be
        # replaced by the CSMS either (K01.FR.05).
        raise ValueError("a CSMS does not set ChargingStationExternalConstraints profiles (OCPP 2.0.1 K01.FR.05, K11)")
    if purpose == "TxProfile":
        if profile.transactionId is None:
            raise ValueError("a TxProfile needs the transactionId it belongs to (OCPP 2.0.1 K01.FR.03)")
        if req.evseId == 0:
            raise ValueError("a TxProfile is set on the EVSE of its transaction, evseId > 0 (OCPP 2.0.1 K01.FR.16)")
    elif profile.transactionId is not None:
        raise ValueError("transactionId only belongs in a TxProfile (OCPP 2.0.1 ChargingProfileType)")
    if purpose == "ChargingStationMaxProfile":
        # SetChargingProfileRequest.evseId: for ChargingStationMaxProfile "an evseId=0 contains
        # an overall limit for the whole Charging Station"; the purpose has no other meaning.
        if req.evseId != 0:
            raise ValueError("a ChargingStationMaxProfile limits the whole station: evseId 0 (OCPP 2.0.1 K01)")
        if profile.chargingProfileKind == "Relative":
            raise ValueError("a ChargingStationMaxProfile cannot be Relative (OCPP 2.0.1 K01.FR.38)")
    if profile.chargingProfileKind == "Recurring" and profile.recurrencyKind is None:
        raise ValueError("a Recurring profile needs recurrencyKind Daily or Weekly (OCPP 2.0.1 ChargingProfileType)")
    if profile.validFrom is not None and profile.validTo is not None and to_us(profile.validTo) <= to_us(profile.validFrom):
        raise ValueError("validTo must be after validFrom (OCPP 2.0.1 ChargingProfileType)")
    for schedule in profile.chargingSchedule:
        check_schedule(schedule, profile.chargingProfileKind)


def check_get_charging_profiles(req: m.GetChargingProfilesRequest) -> None:
    criteria = req.chargingProfile
    others = (criteria.stackLevel, criteria.chargingLimitSource, criteria.chargingProfilePurpose)
    # K09.FR.03: either a (list of) chargingProfileId(s) or one or more of stackLevel,
    # chargingLimitSource, chargingProfilePurpose.
    if criteria.chargingProfileId is None and all(v is None for v in others):
        raise ValueError("chargingProfile criteria need chargingProfileId or one of stackLevel, chargingLimitSource, "
                         "chargingProfilePurpose (OCPP 2.0.1 K09.FR.03)")
    if criteria.chargingProfileId is not None and any(v is not None for v in others):
        raise ValueError("chargingProfileId already names the profiles: not with other criteria (OCPP 2.0.1 K09.FR.03)")


def check_clear_charging_profile(req: m.ClearChargingProfileRequest) -> None:
    criteria = req.chargingProfileCriteria
    if req.chargingProfileId is None and (criteria is None or all(
            v is None for v in (criteria.evseId, criteria.stackLevel, criteria.chargingProfilePurpose))):
        # K10.FR.02: a chargingProfileId, or one or more of stackLevel, evseId, chargingProfilePurpose.
        raise ValueError("name the profiles to clear: chargingProfileId, or one of evseId, stackLevel, "
                         "chargingProfilePurpose (OCPP 2.0.1 K10.FR.02)")
    if criteria is not None and criteria.chargingProfilePurpose == "ChargingStationExternalConstraints":
        raise ValueError("ChargingStationExternalConstraints profiles are not the CSMS's to clear (OCPP 2.0.1 K01.FR.05, K11)")


def check_get_composite_schedule(req: m.GetCompositeScheduleRequest) -> None:
    if req.evseId < 0:
        raise ValueError("evseId is 0 (the whole station) or an EVSE id (OCPP 2.0.1 K08)")
    if req.duration <= 0:
        raise ValueError("duration is the length of the schedule asked for, in seconds > 0 (OCPP 2.0.1 K08)")


CHECKS: dict[str, Callable[[Any], None]] = {
    "SetChargingProfile": check_set_charging_profile,
    "GetChargingProfiles": check_get_charging_profiles,
    "ClearChargingProfile": check_clear_charging_profile,
    "GetCompositeSchedule": check_get_composite_schedule,
}


# --- rules against what the station holds ---------------------------------------------------------


def _open_transaction(state: StationState, transaction_id: str) -> Transaction | None:
    tx = state.transactions.get(transaction_id)
    return tx if tx is not None and tx.active else None


def _overlap(a_from: int | None, a_to: int | None, b_from: int | None, b_to: int | None) -> bool:
    return (a_from or 0) < (b_to if b_to is not None else 2**63) and (b_from or 0) < (a_to if a_to is not None else 2**63)


def _conflicts(existing: ChargingProfile201, new: ChargingProfile201) -> bool:
    """Whether two different profiles could not both be valid (K01.FR.06, K01.FR.39)."""
    if existing.profile_id == new.profile_id or existing.purpose != new.purpose or existing.stack_level != new.stack_level:
        return False
    if new.purpose == "TxProfile":
        return existing.transaction_id == new.transaction_id
    return existing.evse_id == new.evse_id and _overlap(existing.valid_from_us, existing.valid_to_us,
                                                        new.valid_from_us, new.valid_to_us)


def check_set_charging_profile_on(state: StationState, req: m.SetChargingProfileRequest) -> None:
    profile = req.chargingProfile
    if profile.chargingProfilePurpose == "TxProfile" and profile.transactionId is not None:
        tx = _open_transaction(state, profile.transactionId)
        # K01.FR.09 / K01.FR.33: the station rejects a TxProfile without that transaction running
        # on the EVSE; refused here, where the operator can still read why.
        if tx is None:
            raise ValueError(f"transaction {profile.transactionId!r} is not open on this station (OCPP 2.0.1 K01.FR.09)")
        if tx.evse_id is not None and tx.evse_id != req.evseId:
            raise ValueError(f"transaction {profile.transactionId!r} runs on EVSE {tx.evse_id}, not {req.evseId} "
                             "(OCPP 2.0.1 K01.FR.33)")
    new = profile_record(req.evseId, profile, 0)
    part = state.v201
    # What the station no longer holds conflicts with nothing; the station's last message is
    # the latest time the state knows.
    now_us = state.last_seen_us or 0
    for existing in part.charging_profiles.values() if part is not None else ():
        if _conflicts(existing, new) and not existing.over(state.transactions, now_us):
            rule = "K01.FR.39" if new.purpose == "TxProfile" else "K01.FR.06"
            raise ValueError(f"profile {existing.profile_id} has the same stackLevel and purpose there and overlaps: "
                             f"replace it by its id (K01.FR.05) or clear it first (OCPP 2.0.1 {rule})")


# check(state, request): ValueError for a command the station's known state says is wrong.
STATE_CHECKS: dict[str, Callable[[StationState, Any], None]] = {
    "SetChargingProfile": check_set_charging_profile_on,
}


# --- how answers change state ---------------------------------------------------------------------


def _periods(periods: list[m.ChargingSchedulePeriodType]) -> list[SchedulePeriod201]:
    return [SchedulePeriod201(start_period_s=p.startPeriod, limit=p.limit, number_phases=p.numberPhases,
                              phase_to_use=p.phaseToUse) for p in periods]


def profile_record(evse_id: int, profile: m.ChargingProfileType, at_us: int, *, source: str = "SetChargingProfile",
                   charging_limit_source: str = "CSO") -> ChargingProfile201:
    return ChargingProfile201(
        profile_id=profile.id, evse_id=evse_id, stack_level=profile.stackLevel,
        purpose=profile.chargingProfilePurpose, kind=profile.chargingProfileKind,
        recurrency_kind=profile.recurrencyKind, valid_from_us=_us(profile.validFrom), valid_to_us=_us(profile.validTo),
        transaction_id=profile.transactionId,
        schedules=[
            ChargingSchedule201(schedule_id=s.id, charging_rate_unit=s.chargingRateUnit,
                                periods=_periods(s.chargingSchedulePeriod), start_schedule_us=_us(s.startSchedule),
                                duration_s=s.duration, min_charging_rate=s.minChargingRate)
            for s in profile.chargingSchedule
        ],
        source=source, charging_limit_source=charging_limit_source, set_at_us=at_us,
    )


def store_profile(state: StationState, profile: ChargingProfile201) -> None:
    profiles = state.part201().charging_profiles
    # Forgotten at a time taken from the log, so replay drops exactly the same ones.
    for pid in [pid for pid, p in profiles.items()
                if p.profile_id == profile.profile_id or _conflicts(p, profile) or p.over(state.transactions, profile.set_at_us)]:
        del profiles[pid]
    profiles[profile.profile_id] = profile


def apply_set_charging_profile_result(state: StationState, req: m.SetChargingProfileRequest,
                                      res: m.SetChargingProfileResponse, at_us: int) -> None:
    if res.status == "Accepted":
        store_profile(state, profile_record(req.evseId, req.chargingProfile, at_us))


def clears(req: m.ClearChargingProfileRequest, profile: ChargingProfile201) -> bool:
    """Whether ClearChargingProfile removes it (K10): one by id, or all that match every criterion given."""
    if req.chargingProfileId is not None:
        return profile.profile_id == req.chargingProfileId
    c = req.chargingProfileCriteria
    if c is None or profile.purpose == "ChargingStationExternalConstraints":
        return False
    return ((c.evseId is None or profile.evse_id == c.evseId)
            and (c.chargingProfilePurpose is None or profile.purpose == c.chargingProfilePurpose)
            and (c.stackLevel is None or profile.stack_level == c.stackLevel))


def apply_clear_charging_profile_result(state: StationState, req: m.ClearChargingProfileRequest,
                                        res: m.ClearChargingProfileResponse, at_us: int) -> None:
    # Accepted: cleared; Unknown: none matched (K10, ClearChargingProfileStatusEnumType),
    # so the station holds none of them either way.
    profiles = state.part201().charging_profiles
    for pid in [pid for pid, p in profiles.items() if clears(req, p)]:
        del profiles[pid]


def _report(state: StationState, request_id: int) -> ChargingProfilesReport:
    return report_for(state.part201().charging_profile_reports, request_id,
                      lambda rid: ChargingProfilesReport(request_id=rid))


def apply_get_charging_profiles_result(state: StationState, req: m.GetChargingProfilesRequest,
                                       res: m.GetChargingProfilesResponse, at_us: int) -> None:
    report = _report(state, req.requestId)
    report.status = res.status
    report.evse_id = req.evseId
    report.requested_at_us = at_us
    if res.status == "NoProfiles":
        report.complete = True  # no ReportChargingProfiles follows (K09)


def apply_report_charging_profiles(state: StationState, req: m.ReportChargingProfilesRequest,
                                   res: m.ReportChargingProfilesResponse, at_us: int) -> None:
    """A part of the report a GetChargingProfiles asked for (K09: tbc on all but the last).
    The profiles a CSMS installed (CSO) are what the station holds: they update ours."""
    report = _report(state, req.requestId)
    report.parts += 1
    report.complete = report.complete or not req.tbc
    for profile in req.chargingProfile:
        record = profile_record(req.evseId, profile, at_us, source="ReportChargingProfiles",
                                charging_limit_source=req.chargingLimitSource)
        report.profiles.append(record)
        if req.chargingLimitSource == "CSO":
            store_profile(state, record)
    del report.profiles[:-REPORTED_PROFILES_KEPT]


def apply_get_composite_schedule_result(state: StationState, req: m.GetCompositeScheduleRequest,
                                        res: m.GetCompositeScheduleResponse, at_us: int) -> None:
    schedule = res.schedule
    state.part201().composite_schedules[req.evseId] = CompositeSchedule201(
        evse_id=req.evseId, status=res.status,
        duration_s=schedule.duration if schedule else None,
        schedule_start_us=to_us(schedule.scheduleStart) if schedule else None,
        charging_rate_unit=schedule.chargingRateUnit if schedule else None,
        periods=_periods(schedule.chargingSchedulePeriod) if schedule else [],
        received_at_us=at_us,
    )


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "SetChargingProfile": apply_set_charging_profile_result,
    "GetChargingProfiles": apply_get_charging_profiles_result,
    "ClearChargingProfile": apply_clear_charging_profile_result,
    "GetCompositeSchedule": apply_get_composite_schedule_result,
}

# No secrets in smart charging payloads.
MASKS: dict[str, Callable[[dict], dict]] = {}

# Station-initiated messages that belong to this feature: action -> fold (StationAction.apply).
NOTIFICATIONS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "ReportChargingProfiles": apply_report_charging_profiles,
}
