"""What the operator API shows of a station: read-only views built from StationState, secrets removed."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

import msgspec

from actors.authorizer.decision import OFFLINE_SOURCES
from actors.command_views_201 import Commands201View, commands_view
from actors.certificate_views import CertificatesView, certificates_view
from actors.events import now_us as current_us
from actors.handshake_refusals import HandshakeRefusalsView
from actors.station_state import (
    BootInfo,
    ChargingProfileRecord,
    ComponentEvent,
    ConnectorState,
    DeviceVariable,
    DiagnosticsUpload,
    Evse,
    FirmwareUpdate,
    LogUpload,
    RequestProgress,
    Reservation,
    SecurityEvent,
    SignedFirmwareUpdate,
    Station201,
    StationState,
    Transaction,
    TransactionSeqNos,
)


def _ts(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


class BootView(msgspec.Struct, kw_only=True):
    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    booted_at: datetime | None
    # 2.0.1 BootNotification reason (PowerUp, RemoteReset, ...); None for 1.6.
    reason: str | None = None


class ConnectorView(msgspec.Struct, kw_only=True):
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    status_at: datetime | None
    received_at: datetime | None


class TransactionView(msgspec.Struct, kw_only=True):
    station_id: str
    # 1.6: the integer the CSMS assigned; 2.0.1: the station's string transactionId.
    transaction_id: int | str
    connector_id: int
    id_tag: str | None
    id_tag_status: str | None
    active: bool
    orphan: bool
    started_at: datetime | None
    stopped_at: datetime | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    energy_wh: float | None
    stop_reason: str | None
    meter_value_count: int
    # How the id tag was authorized when an external authorizer was involved (local, cache,
    # downstream, free_vending, local_only, reject); None: the local id-tag table alone.
    authorization: str | None = None
    # Accepted without a live answer (a cached one, or free vending): for billing to reconcile.
    authorized_offline: bool = False
    # How it ended: "station" (its StopTransaction), "csms" (settled: the station's own later
    # frames showed it over), "operator" (closed through the admin API); None while open.
    ended_by: Literal["station", "csms", "operator"] | None = None
    # Why the CSMS settled it (kept when a late StopTransaction came after all).
    settled_reason: str | None = None
    # meter_stop_wh is the CSMS's estimate (the last register reading seen), not the station's
    # meterStop: for billing to reconcile.
    meter_stop_estimated: bool = False
    # 2.0.1: the EVSE; None for 1.6.
    evse_id: int | None = None
    # 2.0.1: seqNos of TransactionEvents that never arrived (lost data: the energy is computed
    # from what did arrive, and billing should know it is incomplete); [] when complete and for 1.6.
    seq_gaps: list[int] = []
    # 2.0.1: the remoteStartId of the RequestStartTransaction that started it (F01/F02).
    remote_start_id: int | None = None


class ReservationView(msgspec.Struct, kw_only=True):
    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expires_at: datetime
    reserved_at: datetime


class LocalListView(msgspec.Struct, kw_only=True):
    # The listVersion of the last SendLocalList the station accepted, and its entry count.
    version: int | None
    entries: int
    # What the station last said through GetLocalListVersion (-1: not supported), and when.
    station_reported_version: int | None
    station_reported_at: datetime | None


class ConfigurationKeyView(msgspec.Struct, kw_only=True):
    key: str
    value: str | None
    readonly: bool | None
    reboot_required: bool
    updated_at: datetime | None


class ConfigurationView(msgspec.Struct, kw_only=True):
    # When GetConfiguration was last answered; keys changed since show their own updated_at.
    read_at: datetime | None
    keys: list[ConfigurationKeyView]
    unknown_keys: list[str]


class ChargingSchedulePeriodView(msgspec.Struct, kw_only=True):
    start_period_s: int
    limit: float
    number_phases: int | None


class ChargingProfileView(msgspec.Struct, kw_only=True):
    charging_profile_id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    transaction_id: int | None
    recurrency_kind: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    charging_rate_unit: str
    duration_s: int | None
    start_schedule: datetime | None
    min_charging_rate: float | None
    periods: list[ChargingSchedulePeriodView]
    set_at: datetime | None


class AvailabilityView(msgspec.Struct, kw_only=True):
    connector_id: int
    type: str
    status: str
    requested_at: datetime | None


class FirmwareUpdateView(msgspec.Struct, kw_only=True):
    location: str
    retrieve_at: datetime | None
    retries: int | None
    retry_interval_s: int | None
    requested_at: datetime | None


class DiagnosticsUploadView(msgspec.Struct, kw_only=True):
    location: str
    file_name: str | None
    start_time: datetime | None
    stop_time: datetime | None
    retries: int | None
    retry_interval_s: int | None
    requested_at: datetime | None


class EvseConnectorView(msgspec.Struct, kw_only=True):
    connector_id: int
    status: str
    status_at: datetime | None
    received_at: datetime | None


class EvseView(msgspec.Struct, kw_only=True):
    evse_id: int
    connectors: list[EvseConnectorView]
    meter_wh: float | None
    meter_at: datetime | None


class VariableAttributeView(msgspec.Struct, kw_only=True):
    type: str
    value: str | None
    mutability: str | None
    # The station answered SetVariables RebootRequired: the value applies from its next boot.
    reboot_required: bool = False
    # When a GetVariables / SetVariables answer last set the value (None: as reported).
    updated_at: datetime | None = None


class DeviceVariableView(msgspec.Struct, kw_only=True):
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attributes: list[VariableAttributeView]
    unit: str | None
    data_type: str | None
    reported_at: datetime | None


class ComponentEventView(msgspec.Struct, kw_only=True):
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    event_id: int
    timestamp: datetime | None
    trigger: str
    actual_value: str
    notification_type: str
    tech_code: str | None
    tech_info: str | None
    cleared: bool
    transaction_id: str | None


class SecurityEventView(msgspec.Struct, kw_only=True):
    """A SecurityEventNotification (either version); `type` and `tech_info` are station-sent text."""

    type: str
    # The station's time of the event, and when the CSMS received it.
    timestamp: datetime | None
    received_at: datetime | None
    tech_info: str | None
    # One the specs call critical (actors/security_events.py; docs/security.md).
    critical: bool


class RequestProgressView(msgspec.Struct, kw_only=True):
    # The latest status the station reported for the request, when, and every one so far.
    status: str | None
    status_at: datetime | None
    statuses: list[str]


class SignedFirmwareUpdateView(msgspec.Struct, kw_only=True):
    request_id: int
    # Credentials in it masked (user:***@).
    location: str | None
    retrieve_at: datetime | None
    install_at: datetime | None
    retries: int | None
    retry_interval_s: int | None
    signing_certificate_sha256: str | None
    # The station's answer to SignedUpdateFirmware (Accepted, Rejected, InvalidCertificate, ...).
    answer: str | None
    requested_at: datetime | None
    progress: RequestProgressView


class LogUploadView(msgspec.Struct, kw_only=True):
    request_id: int
    log_type: str | None
    # Credentials in it masked (user:***@).
    remote_location: str | None
    oldest: datetime | None
    latest: datetime | None
    retries: int | None
    retry_interval_s: int | None
    # The station's answer to GetLog (Accepted, Rejected, AcceptedCanceled) and the file it named.
    answer: str | None
    file_name: str | None
    requested_at: datetime | None
    progress: RequestProgressView


class ReportView(msgspec.Struct, kw_only=True, omit_defaults=True):
    request_id: int
    parts: int
    complete: bool
    generated_at: datetime | None
    # Our GetBaseReport (report_base) or GetReport (criteria, component_variables) it answers,
    # and the station's answer to it (Accepted: parts follow; EmptyResultSet, NotSupported,
    # Rejected: none will); None: not asked through the CSMS.
    requested_at: datetime | None = None
    request_status: str | None = None
    report_base: str | None = None
    criteria: list[str] = []
    component_variables: list[str] = []


class RemoteStartView(msgspec.Struct, kw_only=True):
    remote_start_id: int
    id_token: str
    evse_id: int | None
    status: str
    requested_at: datetime | None
    # The transaction that carries the remoteStartId (None: none has started yet).
    transaction_id: str | None


class Reservation201View(msgspec.Struct, kw_only=True):
    reservation_id: int
    id_token: str
    # None: any EVSE (of `connector_type`, if given).
    evse_id: int | None
    connector_type: str | None
    group_id_token: str | None
    expires_at: datetime | None
    reserved_at: datetime | None


class RequestedAvailabilityView(msgspec.Struct, kw_only=True):
    # None: the whole station; a connector_id: that connector of the EVSE.
    evse_id: int | None
    connector_id: int | None
    operational_status: str
    # Accepted, or Scheduled (after the transaction running there).
    status: str
    requested_at: datetime | None


class RequestedResetView(msgspec.Struct, kw_only=True):
    type: str
    evse_id: int | None
    status: str
    requested_at: datetime | None


class TransactionStatusView(msgspec.Struct, kw_only=True):
    transaction_id: str | None
    ongoing: bool | None
    messages_in_queue: bool
    asked_at: datetime | None


class Station201View(msgspec.Struct, kw_only=True):
    """What only a 2.0.1 station shows: EVSEs, its device model, events (its security events are
    StationView's, as for every version)."""

    evses: list[EvseView]
    device_model: list[DeviceVariableView]
    # The latest event per component/variable (a problem with `cleared` false is still on).
    events: list[ComponentEventView]
    reports: list[ReportView]
    firmware_request_id: int | None
    log_status: str | None
    log_request_id: int | None
    publish_firmware_status: str | None
    reservation_updates: dict[int, str]
    # RequestStartTransaction requests the station took, and the transactions they started (F01/F02).
    remote_starts: list[RemoteStartView] = []
    # What operators' commands changed: unexpired reservations (H01), the local list (D01, D02),
    # requested availability (G03, G04), the last reset (B11, B12), the last GetTransactionStatus (E14).
    reservations: list[Reservation201View] = []
    local_list: LocalListView | None = None
    availability: list[RequestedAvailabilityView] = []
    last_reset: RequestedResetView | None = None
    transaction_status: TransactionStatusView | None = None
    # What operators' commands set and the station holds (actors/command_views_201.py).
    commands: Commands201View | None = None


class StationSummary(msgspec.Struct, kw_only=True):
    station_id: str
    site: str | None
    connected: bool
    boot_status: str | None
    last_seen: datetime | None
    # The OCPP version the station speaks on its latest connection ("1.6", ...).
    ocpp_version: str


class StationView(msgspec.Struct, kw_only=True):
    station_id: str
    site: str | None
    metadata: dict[str, str]
    registration_boot_status: str | None
    # The lowest security profile its handshakes must prove (0-3, docs/security.md).
    security_profile: int | None
    # A higher profile the station accepted but has not connected with yet (enforced once it
    # does; docs/security.md); None: no raise under way.
    security_profile_pending: int | None = None
    boot_status: str | None
    boot: BootView | None
    connected: bool
    # The OCPP version the station speaks on its latest connection ("1.6", ...).
    ocpp_version: str
    # `<gateway replica>-<n>`: which replica holds the socket, for support and tests.
    connection_id: str | None
    connected_at: datetime | None
    last_seen: datetime | None
    last_heartbeat: datetime | None
    connectors: list[ConnectorView]
    active_transactions: list[TransactionView]
    firmware_status: str | None
    firmware_update: FirmwareUpdateView | None
    diagnostics_status: str | None
    diagnostics_upload: DiagnosticsUploadView | None
    # Unexpired reservations only: stations end expired ones by themselves.
    reservations: list[ReservationView]
    local_list: LocalListView
    configuration: ConfigurationView
    charging_profiles: list[ChargingProfileView]
    # What ChangeAvailability last asked per connector (0: the whole station); the actual
    # state arrives as StatusNotification (connectors).
    availability: list[AvailabilityView]
    # SecurityEventNotifications (both versions), newest first (the last 50; all are in the lake,
    # silver.security_events), how many the station sent in all, and the critical one with the
    # newest station time.
    security_events: list[SecurityEventView]
    security_events_received: int
    last_critical_security_event: SecurityEventView | None
    # 1.6 security whitepaper: SignedUpdateFirmware and GetLog requests by requestId, newest first,
    # each with the station's answer and progress; the latest status sent without a requestId.
    signed_firmware_updates: list[SignedFirmwareUpdateView]
    signed_firmware_status: str | None
    log_uploads: list[LogUploadView]
    log_status: str | None
    # A station that has spoken 2.0.1: its EVSEs, device model, events; None otherwise.
    v201: Station201View | None = None
    # Its refused handshakes as its host saw them (not durable; None: none since the host
    # started): why it cannot connect (actors/handshake_refusals.py).
    handshake_refusals: HandshakeRefusalsView | None = None
    # Certificates our CA issued it and what it holds (actors/certificate_views.py); None: none yet.
    certificates: CertificatesView | None = None
    # The operator's word that it holds a client certificate we did not issue (docs/security.md).
    client_certificate_installed: bool = False


def boot_view(b: BootInfo) -> BootView:
    return BootView(
        vendor=b.vendor,
        model=b.model,
        serial_number=b.serial_number,
        firmware_version=b.firmware_version,
        iccid=b.iccid,
        imsi=b.imsi,
        meter_type=b.meter_type,
        meter_serial_number=b.meter_serial_number,
        booted_at=_ts(b.booted_at_us),
        reason=b.reason,
    )


def connector_view(c: ConnectorState) -> ConnectorView:
    return ConnectorView(
        connector_id=c.connector_id,
        status=c.status,
        error_code=c.error_code,
        info=c.info,
        vendor_id=c.vendor_id,
        vendor_error_code=c.vendor_error_code,
        status_at=_ts(c.status_at_us),
        received_at=_ts(c.received_at_us),
    )


def transaction_view(station_id: str, t: Transaction, seq: TransactionSeqNos | None = None) -> TransactionView:
    return TransactionView(
        station_id=station_id,
        transaction_id=t.transaction_id,
        connector_id=t.connector_id,
        id_tag=t.id_tag,
        id_tag_status=t.id_tag_status,
        active=t.active,
        orphan=t.orphan,
        started_at=_ts(t.started_at_us),
        stopped_at=_ts(t.stopped_at_us),
        meter_start_wh=t.meter_start_wh,
        meter_stop_wh=t.meter_stop_wh,
        energy_wh=t.energy_wh,
        stop_reason=t.stop_reason,
        meter_value_count=t.meter_value_count,
        authorization=t.authorization,
        authorized_offline=t.authorization in OFFLINE_SOURCES,
        ended_by=ended_by(t),
        settled_reason=t.settlement.reason if t.settlement is not None else None,
        meter_stop_estimated=t.settlement is not None and not t.stopped_by_station,
        evse_id=t.evse_id,
        seq_gaps=seq.gaps if seq is not None else [],
        remote_start_id=seq.remote_start_id if seq is not None else None,
    )


def transaction_views(st: StationState, query: TransactionFilter | None = None) -> list[TransactionView]:
    """The station's transactions as the API shows them (both versions), those `query` matches."""
    seq_nos = st.v201.transaction_seq_nos if st.v201 is not None else {}
    return [
        transaction_view(st.station_id, t, seq_nos.get(t.transaction_id))  # type: ignore[arg-type]  (1.6 ids: none)
        for t in st.transactions.values()
        if query is None or query.matches(t)
    ]


def transaction_order(t: TransactionView) -> tuple[str, int, int, str]:
    """Sort key of transactions: by station, then 1.6 integer ids in numeric order, then 2.0.1
    string ids (a station that changed version has both)."""
    if isinstance(t.transaction_id, int):
        return t.station_id, 0, t.transaction_id, ""
    return t.station_id, 1, 0, t.transaction_id


def _evse_view(e: Evse) -> EvseView:
    return EvseView(
        evse_id=e.evse_id,
        connectors=[
            EvseConnectorView(connector_id=c.connector_id, status=c.status, status_at=_ts(c.status_at_us),
                              received_at=_ts(c.received_at_us))
            for _, c in sorted(e.connectors.items())
        ],
        meter_wh=e.meter_wh,
        meter_at=_ts(e.meter_at_us),
    )


def _device_variable_view(v: DeviceVariable) -> DeviceVariableView:
    return DeviceVariableView(
        component=v.component, component_instance=v.component_instance, evse_id=v.evse_id,
        connector_id=v.connector_id, variable=v.variable, variable_instance=v.variable_instance,
        attributes=[VariableAttributeView(type=a.type, value=a.value, mutability=a.mutability,
                                          reboot_required=a.reboot_required, updated_at=_ts(a.updated_at_us or None))
                    for a in v.attributes],
        unit=v.characteristics.unit if v.characteristics else None,
        data_type=v.characteristics.data_type if v.characteristics else None,
        reported_at=_ts(v.reported_at_us),
    )


def _component_event_view(e: ComponentEvent) -> ComponentEventView:
    return ComponentEventView(
        component=e.component, component_instance=e.component_instance, evse_id=e.evse_id,
        connector_id=e.connector_id, variable=e.variable, variable_instance=e.variable_instance,
        event_id=e.event_id, timestamp=_ts(e.timestamp_us), trigger=e.trigger, actual_value=e.actual_value,
        notification_type=e.notification_type, tech_code=e.tech_code, tech_info=e.tech_info, cleared=e.cleared,
        transaction_id=e.transaction_id,
    )


def v201_view(p: Station201, now_us: int, commands: Commands201View | None = None) -> Station201View:
    reset, status = p.last_reset, p.transaction_status
    return Station201View(
        evses=[_evse_view(e) for _, e in sorted(p.evses.items())],
        device_model=[_device_variable_view(v) for _, v in sorted(p.device_model.items())],
        events=[_component_event_view(e) for _, e in sorted(p.events.items())],
        reports=[
            ReportView(request_id=r.request_id, parts=len(r.seq_nos), complete=r.complete,
                       generated_at=_ts(r.generated_at_us or None), requested_at=_ts(r.requested_at_us),
                       request_status=r.request_status, report_base=r.report_base, criteria=list(r.criteria),
                       component_variables=list(r.component_variables))
            for r in p.reports
        ],
        remote_starts=[
            RemoteStartView(remote_start_id=r.remote_start_id, id_token=r.id_token, evse_id=r.evse_id,
                            status=r.status, requested_at=_ts(r.requested_at_us), transaction_id=r.transaction_id)
            for r in p.remote_starts.values()
        ],
        reservations=[
            Reservation201View(reservation_id=r.reservation_id, id_token=r.id_token, evse_id=r.evse_id,
                               connector_type=r.connector_type, group_id_token=r.group_id_token,
                               expires_at=_ts(r.expiry_us), reserved_at=_ts(r.reserved_at_us))
            for _, r in sorted(p.reservations.items()) if r.active_at(now_us)
        ],
        local_list=LocalListView(version=p.local_list_version, entries=len(p.local_list),
                                 station_reported_version=p.station_local_list_version,
                                 station_reported_at=_ts(p.station_local_list_version_at_us)),
        availability=[
            RequestedAvailabilityView(evse_id=a.evse_id, connector_id=a.connector_id,
                                      operational_status=a.operational_status, status=a.status,
                                      requested_at=_ts(a.requested_at_us))
            for _, a in sorted(p.availability.items())
        ],
        last_reset=RequestedResetView(type=reset.type, evse_id=reset.evse_id, status=reset.status,
                                      requested_at=_ts(reset.requested_at_us)) if reset else None,
        transaction_status=TransactionStatusView(
            transaction_id=status.transaction_id, ongoing=status.ongoing, messages_in_queue=status.messages_in_queue,
            asked_at=_ts(status.asked_at_us)) if status else None,
        firmware_request_id=p.firmware_request_id,
        log_status=p.log_status,
        log_request_id=p.log_request_id,
        publish_firmware_status=p.publish_firmware_status,
        reservation_updates=dict(p.reservation_updates),
        commands=commands,
    )


def security_event_view(e: SecurityEvent) -> SecurityEventView:
    return SecurityEventView(type=e.type, timestamp=_ts(e.timestamp_us), received_at=_ts(e.received_at_us or None),
                             tech_info=e.tech_info, critical=e.critical)


def _progress_view(p: RequestProgress) -> RequestProgressView:
    return RequestProgressView(status=p.status, status_at=_ts(p.status_at_us), statuses=list(p.statuses))


def signed_firmware_update_view(f: SignedFirmwareUpdate) -> SignedFirmwareUpdateView:
    return SignedFirmwareUpdateView(
        request_id=f.request_id, location=f.location, retrieve_at=_ts(f.retrieve_at_us),
        install_at=_ts(f.install_at_us), retries=f.retries, retry_interval_s=f.retry_interval_s,
        signing_certificate_sha256=f.signing_certificate_sha256, answer=f.answer,
        requested_at=_ts(f.requested_at_us), progress=_progress_view(f.progress),
    )


def log_upload_view(u: LogUpload) -> LogUploadView:
    return LogUploadView(
        request_id=u.request_id, log_type=u.log_type, remote_location=u.remote_location, oldest=_ts(u.oldest_us),
        latest=_ts(u.latest_us), retries=u.retries, retry_interval_s=u.retry_interval_s, answer=u.answer,
        file_name=u.file_name, requested_at=_ts(u.requested_at_us), progress=_progress_view(u.progress),
    )


def ended_by(t: Transaction) -> Literal["station", "csms", "operator"] | None:
    if t.stopped_by_station:
        return "station"  # a StopTransaction wins over a settlement made before it came
    return t.settlement.by if t.settlement is not None else None


def reservation_view(r: Reservation) -> ReservationView:
    return ReservationView(
        reservation_id=r.reservation_id,
        connector_id=r.connector_id,
        id_tag=r.id_tag,
        parent_id_tag=r.parent_id_tag,
        expires_at=_ts(r.expiry_us),
        reserved_at=_ts(r.reserved_at_us),
    )


def charging_profile_view(p: ChargingProfileRecord) -> ChargingProfileView:
    return ChargingProfileView(
        charging_profile_id=p.charging_profile_id,
        connector_id=p.connector_id,
        stack_level=p.stack_level,
        purpose=p.purpose,
        kind=p.kind,
        transaction_id=p.transaction_id,
        recurrency_kind=p.recurrency_kind,
        valid_from=_ts(p.valid_from_us),
        valid_to=_ts(p.valid_to_us),
        charging_rate_unit=p.schedule.charging_rate_unit,
        duration_s=p.schedule.duration_s,
        start_schedule=_ts(p.schedule.start_schedule_us),
        min_charging_rate=p.schedule.min_charging_rate,
        periods=[
            ChargingSchedulePeriodView(start_period_s=q.start_period_s, limit=q.limit, number_phases=q.number_phases)
            for q in p.schedule.periods
        ],
        set_at=_ts(p.set_at_us),
    )


def firmware_update_view(f: FirmwareUpdate) -> FirmwareUpdateView:
    return FirmwareUpdateView(
        location=f.location,
        retrieve_at=_ts(f.retrieve_at_us),
        retries=f.retries,
        retry_interval_s=f.retry_interval_s,
        requested_at=_ts(f.requested_at_us),
    )


def diagnostics_upload_view(d: DiagnosticsUpload) -> DiagnosticsUploadView:
    return DiagnosticsUploadView(
        location=d.location,
        file_name=d.file_name,
        start_time=_ts(d.start_us),
        stop_time=_ts(d.stop_us),
        retries=d.retries,
        retry_interval_s=d.retry_interval_s,
        requested_at=_ts(d.requested_at_us),
    )


def station_summary(st: StationState) -> StationSummary:
    return StationSummary(
        station_id=st.station_id,
        site=st.registration.site if st.registration else None,
        connected=st.connected,
        boot_status=st.boot_status,
        last_seen=_ts(st.last_seen_us),
        ocpp_version=st.ocpp_version,
    )


def station_view(st: StationState, now_us: int | None = None) -> StationView:
    """The station as operators see it at `now_us` (default: now), which decides the reservations shown."""
    now = current_us() if now_us is None else now_us
    reg = st.registration
    return StationView(
        station_id=st.station_id,
        site=reg.site if reg else None,
        metadata=dict(reg.metadata) if reg else {},
        registration_boot_status=reg.boot_status if reg else None,
        security_profile=reg.security_profile if reg else None,
        security_profile_pending=reg.security_profile_pending if reg else None,
        boot_status=st.boot_status,
        boot=boot_view(st.boot) if st.boot else None,
        connected=st.connected,
        ocpp_version=st.ocpp_version,
        connection_id=st.connection_id,
        connected_at=_ts(st.connected_at_us),
        last_seen=_ts(st.last_seen_us),
        last_heartbeat=_ts(st.last_heartbeat_us),
        connectors=[connector_view(c) for _, c in sorted(st.connectors.items())],
        active_transactions=transaction_views(st, TransactionFilter(active=True)),
        firmware_status=st.firmware_status,
        firmware_update=firmware_update_view(st.firmware_update) if st.firmware_update else None,
        diagnostics_status=st.diagnostics_status,
        diagnostics_upload=diagnostics_upload_view(st.diagnostics_upload) if st.diagnostics_upload else None,
        reservations=[reservation_view(r) for _, r in sorted(st.reservations.items()) if r.active_at(now)],
        local_list=LocalListView(
            version=st.local_list_version,
            entries=len(st.local_list),
            station_reported_version=st.station_local_list_version,
            station_reported_at=_ts(st.station_local_list_version_at_us),
        ),
        configuration=ConfigurationView(
            read_at=_ts(st.configuration_read_at_us),
            keys=[
                ConfigurationKeyView(key=c.key, value=c.value, readonly=c.readonly,
                                     reboot_required=c.reboot_required, updated_at=_ts(c.updated_at_us or None))
                for _, c in sorted(st.configuration.items())
            ],
            unknown_keys=list(st.unknown_configuration_keys),
        ),
        charging_profiles=[
            charging_profile_view(p)
            for p in sorted(st.charging_profiles.values(), key=lambda p: (p.connector_id, p.purpose, p.stack_level))
        ],
        availability=[
            AvailabilityView(connector_id=a.connector_id, type=a.type, status=a.status, requested_at=_ts(a.requested_at_us))
            for _, a in sorted(st.availability.items())
        ],
        security_events=[security_event_view(e) for e in reversed(st.security_events)],
        security_events_received=st.security_events_received,
        last_critical_security_event=(security_event_view(st.last_critical_security_event)
                                      if st.last_critical_security_event else None),
        signed_firmware_updates=[signed_firmware_update_view(f) for f in reversed(st.signed_firmware_updates.values())],
        signed_firmware_status=st.signed_firmware_status,
        log_uploads=[log_upload_view(u) for u in reversed(st.log_uploads.values())],
        log_status=st.log_status,
        v201=v201_view(st.v201, now, commands_view(st, now)) if st.v201 is not None else None,
        certificates=certificates_view(st.certificates) if st.certificates is not None else None,
        client_certificate_installed=reg.client_certificate_installed if reg else False,
    )


class TransactionFilter(msgspec.Struct, kw_only=True, frozen=True):
    station_id: str | None = None
    active: bool | None = None
    since_us: int | None = None
    until_us: int | None = None

    def matches(self, t: Transaction) -> bool:
        if self.active is not None and t.active != self.active:
            return False
        started = t.started_at_us if t.started_at_us is not None else t.stopped_at_us
        if self.since_us is not None and (started is None or started < self.since_us):
            return False
        if self.until_us is not None and (started is None or started >= self.until_us):
            return False
        return True
