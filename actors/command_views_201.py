"""What GET /api/stations/{id} shows of what operators' 2.0.1 commands set: profiles, firmware and logs, display messages, monitors, network profiles, customer information, costs.

Read-only views of `Station201`'s command fields (actors/station_state.py); the state holds no
secret (locations and URLs are masked before they are logged, network credentials are never
kept), so nothing is removed here. Times are UTC datetimes, as in actors/views.py.
"""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec

from actors.station_state import (
    ChargingProfile201,
    ChargingSchedule201,
    SchedulePeriod201,
    StationState,
)


def _ts(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


class SchedulePeriodView(msgspec.Struct, kw_only=True):
    start_period_s: int
    limit: float
    number_phases: int | None
    phase_to_use: int | None


class ChargingScheduleView(msgspec.Struct, kw_only=True):
    schedule_id: int
    charging_rate_unit: str
    start_schedule: datetime | None
    duration_s: int | None
    min_charging_rate: float | None
    periods: list[SchedulePeriodView]


class ChargingProfile201View(msgspec.Struct, kw_only=True):
    profile_id: int
    evse_id: int
    stack_level: int
    purpose: str
    kind: str
    recurrency_kind: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: str | None
    source: str
    charging_limit_source: str
    schedules: list[ChargingScheduleView]
    set_at: datetime | None


class ChargingProfilesReportView(msgspec.Struct, kw_only=True):
    request_id: int
    status: str | None
    evse_id: int | None
    parts: int
    complete: bool
    profiles: list[ChargingProfile201View]


class CompositeScheduleView(msgspec.Struct, kw_only=True):
    evse_id: int
    status: str
    schedule_start: datetime | None
    duration_s: int | None
    charging_rate_unit: str | None
    periods: list[SchedulePeriodView]
    received_at: datetime | None


class FirmwareUpdate201View(msgspec.Struct, kw_only=True):
    request_id: int
    location: str
    retrieve_at: datetime | None
    install_at: datetime | None
    signed: bool
    status: str
    progress: str | None
    progress_at: datetime | None
    requested_at: datetime | None


class FirmwarePublicationView(msgspec.Struct, kw_only=True):
    request_id: int
    location: str
    checksum: str
    status: str
    progress: str | None
    published_locations: list[str]
    unpublished: bool
    requested_at: datetime | None


class LogUploadView(msgspec.Struct, kw_only=True):
    request_id: int
    log_type: str
    location: str
    status: str
    filename: str | None
    progress: str | None
    progress_at: datetime | None
    requested_at: datetime | None


class DisplayMessageView(msgspec.Struct, kw_only=True):
    message_id: int
    priority: str
    format: str
    content: str
    language: str | None
    state: str | None
    start: datetime | None
    end: datetime | None
    transaction_id: str | None
    display: str | None


class MonitorView(msgspec.Struct, kw_only=True):
    monitor_id: int
    variable_key: str
    type: str
    value: float
    severity: int
    transaction: bool


class RequestProgressView(msgspec.Struct, kw_only=True):
    """A request whose answer comes in parts (GetDisplayMessages, GetMonitoringReport)."""

    request_id: int
    status: str | None
    complete: bool


class NetworkProfileView(msgspec.Struct, kw_only=True):
    slot: int
    ocpp_version: str
    ocpp_transport: str
    csms_url: str
    message_timeout_s: int
    security_profile: int
    ocpp_interface: str
    apn: str | None
    vpn_server: str | None
    set_at: datetime | None


class CustomerInformationView(msgspec.Struct, kw_only=True):
    request_id: int
    report: bool
    clear: bool
    customer: str
    status: str | None
    complete: bool
    # The parts' data joined in seqNo order.
    data: str


class CostView(msgspec.Struct, kw_only=True):
    transaction_id: str
    total_cost: float
    updated_at: datetime | None


class Commands201View(msgspec.Struct, kw_only=True):
    """What the station holds of what 2.0.1 commands set (issue 12), and their reports."""

    charging_profiles: list[ChargingProfile201View]
    charging_profile_reports: list[ChargingProfilesReportView]
    composite_schedules: list[CompositeScheduleView]
    firmware_update: FirmwareUpdate201View | None
    firmware_publication: FirmwarePublicationView | None
    log_upload: LogUploadView | None
    display_messages: list[DisplayMessageView]
    display_message_reports: list[RequestProgressView]
    monitors: list[MonitorView]
    monitoring_reports: list[RequestProgressView]
    monitoring_base: str | None
    monitoring_level: int | None
    network_profiles: list[NetworkProfileView]
    customer_information: list[CustomerInformationView]
    costs: list[CostView]


def _periods(periods: list[SchedulePeriod201]) -> list[SchedulePeriodView]:
    return [SchedulePeriodView(start_period_s=p.start_period_s, limit=p.limit, number_phases=p.number_phases,
                               phase_to_use=p.phase_to_use) for p in periods]


def _schedule(s: ChargingSchedule201) -> ChargingScheduleView:
    return ChargingScheduleView(schedule_id=s.schedule_id, charging_rate_unit=s.charging_rate_unit,
                                start_schedule=_ts(s.start_schedule_us), duration_s=s.duration_s,
                                min_charging_rate=s.min_charging_rate, periods=_periods(s.periods))


def _profile(p: ChargingProfile201) -> ChargingProfile201View:
    return ChargingProfile201View(
        profile_id=p.profile_id, evse_id=p.evse_id, stack_level=p.stack_level, purpose=p.purpose, kind=p.kind,
        recurrency_kind=p.recurrency_kind, valid_from=_ts(p.valid_from_us), valid_to=_ts(p.valid_to_us),
        transaction_id=p.transaction_id, source=p.source, charging_limit_source=p.charging_limit_source,
        schedules=[_schedule(s) for s in p.schedules], set_at=_ts(p.set_at_us),
    )


def commands_view(st: StationState, now_us: int) -> Commands201View | None:
    p = st.v201
    if p is None:
        return None
    fw, pub, log = p.firmware_update, p.firmware_publication, p.log_upload
    return Commands201View(
        # Per EVSE, then stack level; what the station no longer holds (past validTo, a TxProfile
        # of an ended transaction) is not shown.
        charging_profiles=[_profile(x) for x in sorted(p.charging_profiles.values(),
                                                       key=lambda x: (x.evse_id, x.purpose, x.stack_level, x.profile_id))
                           if not x.over(st.transactions, now_us)],
        charging_profile_reports=[
            ChargingProfilesReportView(request_id=r.request_id, status=r.status, evse_id=r.evse_id, parts=r.parts,
                                       complete=r.complete, profiles=[_profile(x) for x in r.profiles])
            for r in p.charging_profile_reports
        ],
        composite_schedules=[
            CompositeScheduleView(evse_id=c.evse_id, status=c.status, schedule_start=_ts(c.schedule_start_us),
                                  duration_s=c.duration_s, charging_rate_unit=c.charging_rate_unit,
                                  periods=_periods(c.periods), received_at=_ts(c.received_at_us))
            for _, c in sorted(p.composite_schedules.items())
        ],
        firmware_update=FirmwareUpdate201View(
            request_id=fw.request_id, location=fw.location, retrieve_at=_ts(fw.retrieve_at_us),
            install_at=_ts(fw.install_at_us), signed=fw.signed, status=fw.status, progress=fw.progress,
            progress_at=_ts(fw.progress_at_us), requested_at=_ts(fw.requested_at_us),
        ) if fw is not None else None,
        firmware_publication=FirmwarePublicationView(
            request_id=pub.request_id, location=pub.location, checksum=pub.checksum, status=pub.status,
            progress=pub.progress, published_locations=list(pub.published_locations), unpublished=pub.unpublished,
            requested_at=_ts(pub.requested_at_us),
        ) if pub is not None else None,
        log_upload=LogUploadView(
            request_id=log.request_id, log_type=log.log_type, location=log.location, status=log.status,
            filename=log.filename, progress=log.progress, progress_at=_ts(log.progress_at_us),
            requested_at=_ts(log.requested_at_us),
        ) if log is not None else None,
        display_messages=[
            DisplayMessageView(message_id=d.message_id, priority=d.priority, format=d.format, content=d.content,
                               language=d.language, state=d.state, start=_ts(d.start_us), end=_ts(d.end_us),
                               transaction_id=d.transaction_id, display=d.display)
            for _, d in sorted(p.display_messages.items())
        ],
        display_message_reports=[RequestProgressView(request_id=r.request_id, status=r.status, complete=r.complete)
                                 for r in p.display_message_reports],
        monitors=[MonitorView(monitor_id=x.monitor_id, variable_key=x.variable_key, type=x.type, value=x.value,
                              severity=x.severity, transaction=x.transaction)
                  for _, x in sorted(p.monitors.items())],
        monitoring_reports=[RequestProgressView(request_id=r.request_id, status=r.status, complete=r.complete)
                            for r in p.monitoring_reports],
        monitoring_base=p.monitoring_base,
        monitoring_level=p.monitoring_level,
        network_profiles=[
            NetworkProfileView(slot=n.slot, ocpp_version=n.ocpp_version, ocpp_transport=n.ocpp_transport,
                               csms_url=n.csms_url, message_timeout_s=n.message_timeout_s,
                               security_profile=n.security_profile, ocpp_interface=n.ocpp_interface, apn=n.apn,
                               vpn_server=n.vpn_server, set_at=_ts(n.set_at_us))
            for _, n in sorted(p.network_profiles.items())
        ],
        customer_information=[
            CustomerInformationView(request_id=c.request_id, report=c.report, clear=c.clear, customer=c.customer,
                                    status=c.status, complete=c.complete,
                                    data="".join(c.data[n] for n in sorted(c.data)))
            for c in p.customer_information
        ],
        costs=[CostView(transaction_id=tx, total_cost=c.total_cost, updated_at=_ts(c.updated_at_us))
               for tx, c in sorted(p.costs.items())],
    )
