"""A station's live state as the CSMS knows it: registration, boot, connectors, transactions, commands' effects.

Plain msgspec Structs, so a host snapshots thousands of them with one msgpack encode and the
operator API returns them as typed JSON. Only `StationSession.apply` mutates them.

`StationState` has a version-neutral core (identity, version, registration, boot, connection,
last seen, transactions of both versions in one dict, security events of both versions in one
list) and a part per version: the 1.6 part is the fields below the core marked so
(CSMS-assigned integer transaction ids, configuration keys, local list, signed firmware and log
requests, ...; kept where they were, so every snapshot written before still decodes as it is),
the 2.0.1 part is `v201` (`Station201`: EVSEs with connectors, device model, events,
TransactionEvent seqNos). New fields always get defaults, so an older
snapshot decodes without a migration step (tests/test_upgrade.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar

import msgspec

from actors.station_certificates import StationCertificates

BootStatus = Literal["Accepted", "Pending", "Rejected"]
IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]


# gc=False (here and on StationState): the only state types the cyclic collector tracked; they
# hold scalars, Structs, dicts and lists, never a reference back, so they cannot form a cycle.
class Registration(msgspec.Struct, kw_only=True, gc=False):
    # Salted hash only (actors.passwords); never the password itself.
    password_hash: str
    site: str | None = None
    metadata: dict[str, str] = {}
    # What BootNotification answers: operators keep a new station Pending until approved.
    boot_status: BootStatus = "Accepted"
    registered_at_us: int = 0
    # The lowest security profile a handshake of this station may prove (0-3,
    # actors/security_profiles.py): set at registration (an operator's PUT: at once), raised
    # when the station first connects with a profile it accepted (`security_profile_pending`),
    # lowered only by an operator.
    security_profile: int = 0
    # A higher profile the station accepted (SecurityProfile, SetNetworkProfile) but has not
    # connected with yet: it switches only when it reconnects and may fall back to the
    # enforced one meanwhile (actors/security_profiles.py). None: no raise under way.
    security_profile_pending: int | None = None
    # The operator's word that the station holds a client certificate the CSMS did not issue
    # (installed at manufacturing or by hand): it may then be raised to profile 3 without one
    # of ours (whitepaper A05: the certificate first, then the profile).
    client_certificate_installed: bool = False


class BootInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    vendor: str
    model: str
    # 2.0.1 BootNotification's reason (PowerUp, RemoteReset, ...); 1.6 has none.
    reason: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    booted_at_us: int = 0


class ConnectorState(msgspec.Struct, kw_only=True):
    connector_id: int
    status: str
    error_code: str
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    # The station's timestamp of this status (its receive time when the station sent none);
    # a notification with an older timestamp arriving later does not replace it.
    status_at_us: int = 0
    received_at_us: int = 0


class Settlement(msgspec.Struct, kw_only=True, frozen=True):
    """How the CSMS ended a transaction whose StopTransaction never came (issue 16, item 3).

    The payload of a `TransactionSettled` event and, once folded, the transaction's record of
    it: kept, never deleted, for billing to reconcile. A StopTransaction that still comes
    later wins (its meterStop and time); the settlement stays as the history.
    """

    transaction_id: int
    # Why: a rule of the station's version ("Superseded", "StationRebooted",
    # "ConnectorAvailable", ...) or the operator's words.
    reason: str
    # "csms": the station's own later frame showed the transaction over; "operator": closed
    # through the admin API.
    by: Literal["csms", "operator"]
    # The estimate: the last energy register reading seen (floored to whole Wh: never bill
    # energy nobody measured), else meterStart; None when neither is known.
    meter_stop_wh: int | None
    # The station's time of the frame that showed it over, else the CSMS's receive time.
    ended_at_us: int


class Transaction(msgspec.Struct, kw_only=True):
    """A charging session as the API shows it, whatever the version.

    1.6: the CSMS assigns an integer id (StartTransaction). 2.0.1: the station assigns a
    string id (TransactionEvent, OCPP 2.0.1 Part 2 section E); its seqNo bookkeeping is in
    `Station201.transaction_seq_nos`.
    """

    transaction_id: int | str
    connector_id: int
    id_tag: str | None
    id_tag_status: str | None = None
    # 1.6 meterStart is an integer; 2.0.1 readings are decimals (already in Wh).
    meter_start_wh: int | float | None = None
    started_at_us: int | None = None
    reservation_id: int | None = None
    meter_stop_wh: int | float | None = None
    stopped_at_us: int | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    # Latest Energy.Active.Import.Register seen in MeterValues, in Wh.
    last_meter_wh: float | None = None
    meter_value_count: int = 0
    # A StopTransaction for a transaction id we never issued (OCPP 1.6 section 4.10 says we
    # must still answer): kept for reconciliation instead of dropped.
    orphan: bool = False
    # How its id tag was authorized when an external authorizer was involved (the source of
    # actors/authorizer/decision.py: local, cache, downstream, free_vending, local_only,
    # reject); None when the local id-tag table alone answered.
    authorization: str | None = None
    # Set when the CSMS settled it without a StopTransaction (actors/settlement.py).
    settlement: Settlement | None = None
    # 2.0.1: the EVSE it runs on (1.6 has connectors only).
    evse_id: int | None = None

    @property
    def active(self) -> bool:
        return self.stopped_at_us is None

    @property
    def energy_wh(self) -> float | None:
        """Energy dispensed: meterStop - meterStart when closed, else the latest register reading."""
        if self.meter_start_wh is None:
            return None
        end = self.meter_stop_wh if self.meter_stop_wh is not None else self.last_meter_wh
        return None if end is None else end - self.meter_start_wh

    @property
    def stopped_by_station(self) -> bool:
        """A StopTransaction came (every stop records a reason, "Local" when it gave none)."""
        return self.stop_reason is not None


class ConnectorAvailability(msgspec.Struct, kw_only=True):
    """What ChangeAvailability last asked of a connector (0: the whole station) and the station agreed to."""

    connector_id: int
    type: Literal["Inoperative", "Operative"]
    # Scheduled: the change waits for the connector's transaction to end (1.6 section 5.2).
    status: Literal["Accepted", "Scheduled"]
    requested_at_us: int


class ConfigurationValue(msgspec.Struct, kw_only=True):
    """A configuration key as the station last reported it, or as we last changed it."""

    key: str
    # None: the key is known but has no value. A secret (AuthorizationKey) is never kept in clear.
    value: str | None = None
    # None: not reported (we changed a key we never read).
    readonly: bool | None = None
    # The station answered RebootRequired: the value applies from its next boot.
    reboot_required: bool = False
    updated_at_us: int = 0


class LocalAuthorization(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One entry of a station's local authorization list (OCPP 1.6 section 3.5, 2.0.1 D01), as we sent it."""

    id_tag: str
    status: str
    expiry_us: int | None = None
    parent_id_tag: str | None = None
    # 2.0.1: the IdTokenEnumType (ISO14443, eMAID, ...); 1.6 tags have none.
    token_type: str | None = None


class Reservation(msgspec.Struct, kw_only=True):
    """A reservation the station accepted (OCPP 1.6 section 5.13); connector 0 is any connector."""

    reservation_id: int
    connector_id: int
    id_tag: str
    expiry_us: int
    parent_id_tag: str | None = None
    reserved_at_us: int = 0

    def active_at(self, now_us: int) -> bool:
        # Stations end a reservation at its expiry by themselves; there is no timer here.
        return now_us < self.expiry_us


class ChargingSchedulePeriodRecord(msgspec.Struct, kw_only=True):
    start_period_s: int
    limit: float
    number_phases: int | None = None


class ChargingScheduleRecord(msgspec.Struct, kw_only=True):
    charging_rate_unit: str
    periods: list[ChargingSchedulePeriodRecord]
    duration_s: int | None = None
    start_schedule_us: int | None = None
    min_charging_rate: float | None = None


class ChargingProfileRecord(msgspec.Struct, kw_only=True):
    """A charging profile the station accepted through SetChargingProfile (OCPP 1.6 section 5.16)."""

    charging_profile_id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    schedule: ChargingScheduleRecord
    transaction_id: int | None = None
    recurrency_kind: str | None = None
    valid_from_us: int | None = None
    valid_to_us: int | None = None
    set_at_us: int = 0


class FirmwareUpdate(msgspec.Struct, kw_only=True):
    """The last UpdateFirmware the station took (1.6 section 5.19); progress is firmware_status."""

    location: str
    retrieve_at_us: int
    retries: int | None = None
    retry_interval_s: int | None = None
    requested_at_us: int = 0


class DiagnosticsUpload(msgspec.Struct, kw_only=True):
    """The last GetDiagnostics the station took (1.6 section 5.9); progress is diagnostics_status."""

    location: str
    # The file the station said it will upload; None when it has no diagnostics.
    file_name: str | None = None
    start_us: int | None = None
    stop_us: int | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    requested_at_us: int = 0


# Steps of one request's progress kept (a firmware update reports about eight, 1.6 security
# whitepaper figure 13), and requests kept per station (newest last; all of it is in the lake).
PROGRESS_STEPS_KEPT = 16
REQUESTS_KEPT = 8


def newest_entry(records: dict[Any, Any], key: Any, make: Callable[[], Any], kept: int) -> Any:
    """The entry of `key` in `records`, made if missing and moved last (a dict keeps insertion
    order, so the newest request is the last one); all but the `kept` last are dropped."""
    entry = records.pop(key, None) or make()
    records[key] = entry
    for old in list(records)[:-kept]:
        del records[old]
    return entry


class RequestProgress(msgspec.Struct, kw_only=True):
    """What a station reported of a request it took, one status notification per step carrying
    the request's requestId (1.6 security whitepaper: SignedFirmwareStatusNotification,
    LogStatusNotification)."""

    status: str | None = None
    # The CSMS's receive time of that status (the notifications carry no timestamp).
    status_at_us: int | None = None
    # Every status reported, oldest first (PROGRESS_STEPS_KEPT).
    statuses: list[str] = []

    def report(self, status: str, at_us: int) -> None:
        self.status, self.status_at_us = status, at_us
        self.statuses.append(status)
        del self.statuses[:-PROGRESS_STEPS_KEPT]


class SignedFirmwareUpdate(msgspec.Struct, kw_only=True):
    """A SignedUpdateFirmware the station answered (1.6 security whitepaper, use case L01) and
    the progress it reported. Only `request_id` and `progress` are set when a station reports
    a requestId the CSMS has no request of (one sent before the CSMS kept them)."""

    request_id: int
    # As logged: a user:password in the URL is masked (actors/ocpp16/secrets.py).
    location: str | None = None
    retrieve_at_us: int | None = None
    install_at_us: int | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    # SHA-256 (hex) of the signingCertificate sent: which certificate the station was given.
    signing_certificate_sha256: str | None = None
    # The station's answer: Accepted, Rejected, AcceptedCanceled, InvalidCertificate, RevokedCertificate.
    answer: str | None = None
    requested_at_us: int | None = None
    progress: RequestProgress = msgspec.field(default_factory=RequestProgress)


class LogUpload(msgspec.Struct, kw_only=True):
    """A GetLog the station answered (1.6 security whitepaper, use case N01) and the upload's
    progress; only `request_id` and `progress` when the CSMS has no request of that requestId."""

    request_id: int
    # DiagnosticsLog or SecurityLog.
    log_type: str | None = None
    # As logged: a user:password in the URL is masked (actors/ocpp16/secrets.py).
    remote_location: str | None = None
    oldest_us: int | None = None
    latest_us: int | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    # The station's answer: Accepted, Rejected, AcceptedCanceled; and the file it will upload.
    answer: str | None = None
    file_name: str | None = None
    requested_at_us: int | None = None
    progress: RequestProgress = msgspec.field(default_factory=RequestProgress)


class PendingCall(NamedTuple):
    """A station's CALL whose CALLRESULT has not been applied yet (a tuple on the wire, as
    snapshots before it was named wrote it)."""

    message_id: str
    action: str
    payload: str


class SentCommand(NamedTuple):
    """Our CALL to the station whose answer has not come yet; `payload` as logged (masked)."""

    message_id: str
    action: str
    payload: str


class AnsweredCall(msgspec.Struct, array_like=True, frozen=True):
    """A durable CALL we answered, so the same CALL resent (same message id, same payload:
    the station did not get our answer) is answered the same and not recorded twice."""

    message_id: str
    # blake2b-64 of the CALL's payload: the same message id with another payload is a new message.
    fingerprint: bytes
    reply: str


# Covers the retransmissions of a reconnect: a station resends its unanswered CALLs first.
ANSWERED_CALLS_KEPT = 8
# Accepted TriggerMessages waiting for their request: a station that never sends what it was
# asked for must not grow its state without bound.
TRIGGERED_MESSAGES_KEPT = 16


class SecurityEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A SecurityEventNotification, whatever the version (1.6 security whitepaper A04, 2.0.1 Part 2 A04).

    `type` is station-sent text (the specs list the defined ones, each version's folder says
    which are critical); `critical` is decided by the station's version when it folds.
    """

    type: str
    timestamp_us: int
    tech_info: str | None = None
    received_at_us: int = 0
    critical: bool = False


# Security events kept per station, newest last (live memory; every one is in the lake).
SECURITY_EVENTS_KEPT = 50


# --- the 2.0.1 part ---------------------------------------------------------------------------


class EvseConnector(msgspec.Struct, kw_only=True):
    """A connector of a 2.0.1 EVSE as StatusNotification last reported it (Part 2 G01)."""

    evse_id: int
    connector_id: int
    # ConnectorStatusEnumType: Available, Occupied, Reserved, Unavailable, Faulted.
    status: str
    # The station's timestamp of this status: an older one arriving later does not replace it.
    status_at_us: int = 0
    received_at_us: int = 0


class Evse(msgspec.Struct, kw_only=True):
    evse_id: int
    connectors: dict[int, EvseConnector] = {}
    # The latest Energy.Active.Import.Register of a MeterValues for this EVSE (J01), in Wh.
    meter_wh: float | None = None
    meter_at_us: int | None = None


class VariableAttribute(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One attribute (Actual, Target, MinSet, MaxSet) of a device-model variable (Part 2 B07, 2.0.1 Part 1)."""

    type: str = "Actual"
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None
    # A SetVariables the station answered RebootRequired: `value` applies from its next boot (B05).
    reboot_required: bool = False
    # When a GetVariables / SetVariables answer last set `value` (0: as the report said).
    updated_at_us: int = 0


class VariableCharacteristics(msgspec.Struct, kw_only=True, omit_defaults=True):
    data_type: str
    supports_monitoring: bool
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None


class DeviceVariable(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One component/variable of the station's device model, as NotifyReport last reported it."""

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    attributes: list[VariableAttribute] = []
    characteristics: VariableCharacteristics | None = None
    # The NotifyReport (requestId, generatedAt) it came from.
    request_id: int = 0
    reported_at_us: int = 0


class ReportProgress(msgspec.Struct, kw_only=True):
    """A (multi-part) NotifyReport being assembled: its parts by seqNo until the one with tbc false (B07/B08),
    and the GetBaseReport / GetReport of ours it answers (B07, B08), when we asked for it."""

    request_id: int
    seq_nos: list[int] = []
    # The seqNo of the part with tbc false (the last), once it came.
    last_seq_no: int | None = None
    generated_at_us: int = 0
    received_at_us: int = 0
    # Our request (None: a report we did not ask for, or asked before this was recorded):
    # GetBaseReport's reportBase, or GetReport's criteria and component/variable keys.
    requested_at_us: int | None = None
    report_base: str | None = None
    criteria: list[str] = []
    component_variables: list[str] = []
    # The station's answer to it: Accepted (the parts follow), Rejected, NotSupported,
    # EmptyResultSet (nothing to report: no part follows, B07/B08).
    request_status: str | None = None

    @property
    def complete(self) -> bool:
        return self.last_seq_no is not None and self.seq_nos == list(range(self.last_seq_no + 1))


class ComponentEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The latest NotifyEvent eventData of a component/variable (Part 2 N07/N08)."""

    component: str
    variable: str
    event_id: int
    timestamp_us: int
    trigger: str
    actual_value: str
    notification_type: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    cause: int | None = None
    tech_code: str | None = None
    tech_info: str | None = None
    # True reports that the monitored situation cleared (a problem that is over).
    cleared: bool = False
    transaction_id: str | None = None
    variable_monitoring_id: int | None = None


class TransactionSeqNos(msgspec.Struct, kw_only=True):
    """The seqNos of one 2.0.1 transaction's TransactionEvents that arrived, ascending.

    A station numbers a transaction's events from 0 upwards by one (Part 2 E, "seqNo"), so a
    number missing below the highest one seen is an event lost (e.g. dropped from a full
    offline queue, E12): billing must know that the data is incomplete.
    """

    seq_nos: list[int] = []
    ended: bool = False
    offline_events: int = 0
    # TransactionType fields of the latest event (chargingState, remoteStartId).
    charging_state: str | None = None
    remote_start_id: int | None = None

    @property
    def gaps(self) -> list[int]:
        if not self.seq_nos:
            return []
        seen = set(self.seq_nos)
        return [n for n in range(self.seq_nos[-1]) if n not in seen]


class StationMessage(msgspec.Struct, kw_only=True):
    """The latest request of a kind the CSMS answers without a feature of its own yet (its
    full history is in the log and the lake), e.g. NotifyEVChargingNeeds of EVSE 1."""

    action: str
    payload: str
    received_at_us: int


class RemoteStart(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A RequestStartTransaction (F01, F02) and the transaction that carries its remoteStartId."""

    remote_start_id: int
    id_token: str
    requested_at_us: int
    evse_id: int | None = None
    # The station's answer: Accepted or Rejected.
    status: str = "Accepted"
    # The transaction: from the answer (F01: one already running on the EVSE, e.g. cable
    # plugged in first) or the first TransactionEvent that carries the remoteStartId (F02).
    transaction_id: str | None = None


class Reservation201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A reservation a 2.0.1 station accepted (ReserveNow, H01): on an EVSE, or (evse_id None)
    on any EVSE, optionally of one connector type; it ends at its expiry, with a
    ReservationStatusUpdate, a CancelReservation, or the transaction that carries its id."""

    reservation_id: int
    id_token: str
    expiry_us: int
    evse_id: int | None = None
    connector_type: str | None = None
    group_id_token: str | None = None
    reserved_at_us: int = 0

    def active_at(self, now_us: int) -> bool:
        return now_us < self.expiry_us


class RequestedAvailability(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What ChangeAvailability last asked of the station, an EVSE or a connector (G03, G04) and
    the station agreed to; the actual state arrives as StatusNotification."""

    operational_status: str
    # Scheduled: the change waits for the transaction running there to end (G03/G04).
    status: str
    requested_at_us: int
    evse_id: int | None = None
    connector_id: int | None = None


class RequestedReset(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The last Reset the station answered (B11, B12): Immediate or OnIdle, of the station or an EVSE."""

    type: str
    # Accepted, Rejected, or Scheduled (OnIdle, or Immediate while a transaction runs: after it).
    status: str
    requested_at_us: int
    evse_id: int | None = None


class TransactionStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The station's last answer to GetTransactionStatus (E14)."""

    messages_in_queue: bool
    asked_at_us: int
    # None: asked about no transaction in particular (then only the queue is reported).
    transaction_id: str | None = None
    # Whether that transaction is still ongoing; None when the station did not say.
    ongoing: bool | None = None


# --- what operators' 2.0.1 commands set: smart charging, firmware and logs, display messages,
# monitoring, network profiles, customer information, costs (the feature modules of
# actors/ocpp201/ fold them; every secret is masked before it gets here) ---


class SchedulePeriod201(msgspec.Struct, kw_only=True, omit_defaults=True):
    start_period_s: int
    limit: float
    number_phases: int | None = None
    phase_to_use: int | None = None


class ChargingSchedule201(msgspec.Struct, kw_only=True, omit_defaults=True):
    schedule_id: int
    charging_rate_unit: str
    periods: list[SchedulePeriod201]
    start_schedule_us: int | None = None
    duration_s: int | None = None
    min_charging_rate: float | None = None


class ChargingProfile201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A charging profile installed on an EVSE (0: the whole station) of a 2.0.1 station (Part 2 K01)."""

    profile_id: int
    evse_id: int
    stack_level: int
    purpose: str
    kind: str
    schedules: list[ChargingSchedule201]
    recurrency_kind: str | None = None
    valid_from_us: int | None = None
    valid_to_us: int | None = None
    transaction_id: str | None = None
    # "SetChargingProfile" (the station accepted ours) or "ReportChargingProfiles" (it reported
    # it, K09); with the report, where the limit comes from (CSO, EMS, SO, Other).
    source: str = "SetChargingProfile"
    charging_limit_source: str = "CSO"
    set_at_us: int = 0

    def over(self, transactions: dict[int | str, Transaction], now_us: int) -> bool:
        """Whether the station no longer holds it: past its validTo, or a TxProfile whose
        transaction ended (a TxProfile lives as long as its transaction, K01)."""
        if self.valid_to_us is not None and self.valid_to_us <= now_us:
            return True
        if self.purpose == "TxProfile" and self.transaction_id is not None:
            tx = transactions.get(self.transaction_id)
            return tx is not None and not tx.active
        return False


class ChargingProfilesReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A GetChargingProfiles and the ReportChargingProfiles parts of its requestId (K09)."""

    request_id: int
    # The station's answer: Accepted (reports follow) or NoProfiles; None until it came.
    status: str | None = None
    evse_id: int | None = None
    requested_at_us: int = 0
    parts: int = 0
    complete: bool = False
    profiles: list[ChargingProfile201] = []


class CompositeSchedule201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The latest GetCompositeSchedule answer for an EVSE (K08): the station's own computation."""

    evse_id: int
    status: str
    duration_s: int | None = None
    schedule_start_us: int | None = None
    charging_rate_unit: str | None = None
    periods: list[SchedulePeriod201] = []
    received_at_us: int = 0


class FirmwareUpdate201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The last UpdateFirmware (L01 secure / L02): the answer, then the progress its requestId reports."""

    request_id: int
    # Credentials in the URI are masked (actors/command_urls.py).
    location: str
    retrieve_at_us: int
    install_at_us: int | None = None
    # L01.FR.11: a secure update carries the signing certificate and the signature.
    signed: bool = False
    retries: int | None = None
    retry_interval_s: int | None = None
    # UpdateFirmwareResponse.status: Accepted, AcceptedCanceled, Rejected, InvalidCertificate, ...
    status: str = ""
    # The latest FirmwareStatusNotification of this requestId (L01.FR.01).
    progress: str | None = None
    progress_at_us: int | None = None
    requested_at_us: int = 0


class FirmwarePublication(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The last PublishFirmware to a local controller (L03), until UnpublishFirmware (L04)."""

    request_id: int
    location: str
    checksum: str
    status: str = ""
    progress: str | None = None
    progress_at_us: int | None = None
    # Where the local controller publishes it (PublishFirmwareStatusNotification Published).
    published_locations: list[str] = []
    unpublished: bool = False
    requested_at_us: int = 0


class LogUpload201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The last GetLog (N01): the answer, then the progress its requestId reports."""

    request_id: int
    log_type: str
    location: str
    oldest_us: int | None = None
    latest_us: int | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    status: str = ""
    filename: str | None = None
    progress: str | None = None
    progress_at_us: int | None = None
    requested_at_us: int = 0


class DisplayMessage201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A message the station displays (O01/O02 set by us, or reported by it, O03/O04)."""

    message_id: int
    priority: str
    format: str
    content: str
    language: str | None = None
    state: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    transaction_id: str | None = None
    display: str | None = None
    set_at_us: int = 0


class DisplayMessagesReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A GetDisplayMessages and the NotifyDisplayMessages parts of its requestId (O03/O04)."""

    request_id: int
    # Whether it asked for every message (no id, priority or state): a complete answer to it
    # is then the whole set the station holds.
    unfiltered: bool = True
    status: str | None = None
    parts: int = 0
    complete: bool = False
    message_ids: list[int] = []
    requested_at_us: int = 0


class VariableMonitor(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A monitor on a component/variable (N04 set by us, or reported by NotifyMonitoringReport, N02)."""

    monitor_id: int
    # The device-model key of its component/variable (station_side.variable_key).
    variable_key: str
    type: str
    value: float
    severity: int
    transaction: bool = False
    set_at_us: int = 0


class MonitoringReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A GetMonitoringReport and the NotifyMonitoringReport parts of its requestId (N02)."""

    request_id: int
    status: str | None = None
    seq_nos: list[int] = []
    last_seq_no: int | None = None
    requested_at_us: int = 0

    @property
    def complete(self) -> bool:
        return self.last_seq_no is not None and self.seq_nos == list(range(self.last_seq_no + 1))


class NetworkProfile201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A network connection profile the station accepted into a slot (B09); no secret is kept."""

    slot: int
    ocpp_version: str
    ocpp_transport: str
    # Credentials in the URL are masked.
    csms_url: str
    message_timeout_s: int
    security_profile: int
    ocpp_interface: str
    apn: str | None = None
    apn_authentication: str | None = None
    vpn_server: str | None = None
    vpn_type: str | None = None
    set_at_us: int = 0


class CustomerInformation201(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A CustomerInformation (N09 report, N10 clear) and the NotifyCustomerInformation parts it got."""

    request_id: int
    report: bool
    clear: bool
    # Whom it is about: "idToken:<type>:<value>", "customerIdentifier:<value>" or
    # "certificate:<serialNumber>".
    customer: str
    status: str | None = None
    seq_nos: list[int] = []
    last_seq_no: int | None = None
    # The parts' data by seqNo, joined in order for the view.
    data: dict[int, str] = {}
    requested_at_us: int = 0

    @property
    def complete(self) -> bool:
        return self.last_seq_no is not None and self.seq_nos == list(range(self.last_seq_no + 1))


class CostUpdate(msgspec.Struct, kw_only=True):
    """The running total cost we last sent for a transaction (CostUpdated, I02)."""

    total_cost: float
    updated_at_us: int


# Bounds of the 2.0.1 part (live memory per station; everything is in the lake).
# Reports of each kind (device model, charging profiles, display messages, monitoring, customer
# information) kept per station, newest last.
REPORTS_KEPT = 4
REMOTE_STARTS_KEPT = 16

Report = TypeVar("Report")


def report_for(reports: list[Report], request_id: int, new: Callable[[int], Report]) -> Report:
    """The record of the request `request_id` in a list kept newest last (REPORTS_KEPT of them):
    the one there, else `new(request_id)` appended. A station's parts may come before our
    request's answer folds, so either side makes it."""
    found: Any = next((r for r in reports if r.request_id == request_id), None)  # type: ignore[attr-defined]
    if found is None:
        found = new(request_id)
        reports.append(found)
        del reports[:-REPORTS_KEPT]
    return found


class Station201(msgspec.Struct, kw_only=True):
    """What only an OCPP 2.0.1 station has. Keys of `device_model` and `events`:
    the 2.0.1 folder's variable_key (`Name[:instance][@evse[.connector]]/Variable[:instance]`)."""

    evses: dict[int, Evse] = {}
    device_model: dict[str, DeviceVariable] = {}
    reports: list[ReportProgress] = []
    events: dict[str, ComponentEvent] = {}
    # Where snapshots written before security events moved to the core kept them: only decoded,
    # StationState.__post_init__ moves them to `StationState.security_events`.
    security_events: list[SecurityEvent] = []
    transaction_seq_nos: dict[str, TransactionSeqNos] = {}
    firmware_request_id: int | None = None
    log_status: str | None = None
    log_request_id: int | None = None
    publish_firmware_status: str | None = None
    # ReservationStatusUpdate per reservation id (Expired, Removed; Part 2 H01/H02).
    reservation_updates: dict[int, str] = {}
    # RequestStartTransaction requests the station accepted, by remoteStartId (F01/F02).
    remote_starts: dict[int, RemoteStart] = {}
    # What operators' commands changed (Part 2 B, C, D, E, G, H). Keys of `availability`:
    # "" the station, "<evse>" an EVSE, "<evse>.<connector>" a connector.
    availability: dict[str, RequestedAvailability] = {}
    last_reset: RequestedReset | None = None
    transaction_status: TransactionStatus | None = None
    # The local list (D01) keyed "<idToken upper>/<type>" (IdToken is case-insensitive), the
    # versionNumber of the last SendLocalList the station accepted, and the one it last
    # reported through GetLocalListVersion (D02; 0: no list).
    local_list: dict[str, LocalAuthorization] = {}
    local_list_version: int | None = None
    station_local_list_version: int | None = None
    station_local_list_version_at_us: int | None = None
    reservations: dict[int, Reservation201] = {}
    # Keyed "<action>" or "<action>/<evseId>".
    latest: dict[str, StationMessage] = {}
    # What operators' commands set (the feature modules of actors/ocpp201/ fold them).
    # Keyed by profile id (ids are unique per station, K01.FR.05); each names its EVSE.
    charging_profiles: dict[int, ChargingProfile201] = {}
    charging_profile_reports: list[ChargingProfilesReport] = []
    composite_schedules: dict[int, CompositeSchedule201] = {}
    firmware_update: FirmwareUpdate201 | None = None
    firmware_publication: FirmwarePublication | None = None
    log_upload: LogUpload201 | None = None
    display_messages: dict[int, DisplayMessage201] = {}
    display_message_reports: list[DisplayMessagesReport] = []
    monitors: dict[int, VariableMonitor] = {}
    monitoring_reports: list[MonitoringReport] = []
    # SetMonitoringBase / SetMonitoringLevel the station accepted (N03, N05).
    monitoring_base: str | None = None
    monitoring_level: int | None = None
    network_profiles: dict[int, NetworkProfile201] = {}
    customer_information: list[CustomerInformation201] = []
    # Keyed by transactionId; only for transactions the state still holds.
    costs: dict[str, CostUpdate] = {}


class StationState(msgspec.Struct, kw_only=True, gc=False):
    # --- the neutral core: every version ---
    station_id: str
    # The OCPP version the station speaks on its latest connection (a key of
    # actors.protocols.PROTOCOLS). Snapshots written before it was recorded were all 1.6.
    ocpp_version: str = "1.6"
    # The log sequence of the last event folded into this state (the host sets it as it
    # appends): a snapshot encoded in chunks holds each station as of its own sequence, and
    # a restore replays to it only what follows (actors/snapshot.py).
    applied_seq: int = 0
    registration: Registration | None = None
    boot_status: BootStatus | None = None
    boot: BootInfo | None = None
    connected: bool = False
    connection_id: str | None = None
    connected_at_us: int | None = None
    last_seen_us: int | None = None
    last_heartbeat_us: int | None = None
    # Both versions: 1.6 integer ids, 2.0.1 string ids. Ids are unique per station (OCPP 1.6
    # only asks the station to match ids it was given; 2.0.1 ids are the station's own); the
    # operator API names a transaction by station id + transaction id.
    transactions: dict[int | str, Transaction] = {}
    firmware_status: str | None = None
    # The inbound CALL whose CALLRESULT has not been applied yet (CALL and CALLRESULT are
    # separate events; apply() pairs them).
    pending_call: PendingCall | None = None
    # Our CALL whose answer has not come yet; the station's CALLRESULT with that id folds
    # through its protocol's apply_command_result.
    pending_command: SentCommand | None = None
    # The last durable CALLs answered, oldest first (ANSWERED_CALLS_KEPT).
    answered_calls: list[AnsweredCall] = []
    # requestedMessage of each TriggerMessage the station Accepted, until the station sends
    # that request (its action name): a station not yet Accepted may send it once per
    # trigger (1.6 section 4.2, 2.0.1 F06). Bounded by TRIGGERED_MESSAGES_KEPT.
    triggered_messages: list[str] = []
    # Both versions' SecurityEventNotifications, newest last (SECURITY_EVENTS_KEPT; all are in
    # the lake), how many the station sent in all, and the critical one with the newest station
    # time (kept after the list forgot it). Folded by record_security_event only.
    security_events: list[SecurityEvent] = []
    security_events_received: int = 0
    last_critical_security_event: SecurityEvent | None = None

    # --- the 1.6 part (fields keep their place in snapshots: msgpack maps by name) ---
    # Connectors by id (0: the whole Charge Point); 2.0.1 keeps EVSEs in `v201.evses`.
    connectors: dict[int, ConnectorState] = {}
    next_transaction_id: int = 1
    diagnostics_status: str | None = None
    # What operators' commands changed (OCPP 1.6 section 5). New fields keep defaults so
    # snapshots written before them still decode.
    availability: dict[int, ConnectorAvailability] = {}
    # Keyed by the key in lower case (keys are CiString, case-insensitive).
    configuration: dict[str, ConfigurationValue] = {}
    configuration_read_at_us: int | None = None
    unknown_configuration_keys: list[str] = []
    # Keyed by the id tag in upper case (IdToken is a CiString), as for the id tag table.
    local_list: dict[str, LocalAuthorization] = {}
    # The listVersion of the last SendLocalList the station accepted ...
    local_list_version: int | None = None
    # ... and the one it last reported through GetLocalListVersion (-1: no local list support).
    station_local_list_version: int | None = None
    station_local_list_version_at_us: int | None = None
    reservations: dict[int, Reservation] = {}
    charging_profiles: dict[int, ChargingProfileRecord] = {}
    firmware_update: FirmwareUpdate | None = None
    diagnostics_upload: DiagnosticsUpload | None = None
    # The security whitepaper's SignedUpdateFirmware and GetLog requests by requestId (newest
    # last, REQUESTS_KEPT) with their progress, and the latest status a station sent without a
    # requestId (Idle: nothing ongoing, when triggered).
    signed_firmware_updates: dict[int, SignedFirmwareUpdate] = {}
    signed_firmware_status: str | None = None
    log_uploads: dict[int, LogUpload] = {}
    log_status: str | None = None

    # --- the 2.0.1 part: None until the station's first 2.0.1 message folds ---
    v201: Station201 | None = None

    # --- certificates, every version (actors/station_certificates.py): None until the first ---
    certificates: StationCertificates | None = None

    def certificates_part(self) -> StationCertificates:
        """The certificate part, made on first use."""
        if self.certificates is None:
            self.certificates = StationCertificates()
        return self.certificates

    def __post_init__(self) -> None:
        # A snapshot written before security events moved to the core has 2.0.1's in `v201`.
        if self.v201 is not None and self.v201.security_events:
            moved, self.v201.security_events = self.v201.security_events, []
            for event in moved:
                self.record_security_event(event)

    def record_security_event(self, event: SecurityEvent) -> None:
        """Fold one SecurityEventNotification, whatever the version: kept (bounded), counted,
        and remembered while it is the newest critical one by the station's clock (offline-queued
        events arrive late)."""
        self.security_events.append(event)
        del self.security_events[:-SECURITY_EVENTS_KEPT]
        self.security_events_received += 1
        last = self.last_critical_security_event
        if event.critical and (last is None or event.timestamp_us >= last.timestamp_us):
            self.last_critical_security_event = event

    def part201(self) -> Station201:
        """The 2.0.1 part, made on first use (only a 2.0.1 fold calls this)."""
        if self.v201 is None:
            self.v201 = Station201()
        return self.v201

    def forget_old_transactions(self, keep: int) -> list[Transaction]:
        """Bound live memory per station, whatever its version: all but the `keep` newest
        completed transactions go (they live on in the lake); the ones forgotten."""
        completed = sorted((t for t in self.transactions.values() if not t.active), key=lambda t: t.stopped_at_us or 0)
        forgotten = completed[: max(0, len(completed) - keep)]
        for tx in forgotten:
            del self.transactions[tx.transaction_id]
        return forgotten


class IdTagRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An id tag in the CSMS's authorization table (OCPP 1.6 IdTagInfo)."""

    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_us: int | None = None
    parent_id_tag: str | None = None
