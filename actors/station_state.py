"""A station's live state as the CSMS knows it: registration, boot, connectors, transactions, commands' effects.

Plain msgspec Structs, so a host snapshots thousands of them with one msgpack encode and the
operator API returns them as typed JSON. Only `StationSession.apply` mutates them.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import msgspec

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


class BootInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    vendor: str
    model: str
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


class Transaction(msgspec.Struct, kw_only=True):
    transaction_id: int
    connector_id: int
    id_tag: str | None
    id_tag_status: str | None = None
    meter_start_wh: int | None = None
    started_at_us: int | None = None
    reservation_id: int | None = None
    meter_stop_wh: int | None = None
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
    """One entry of a station's local authorization list (OCPP 1.6 section 3.5), as we sent it."""

    id_tag: str
    status: str
    expiry_us: int | None = None
    parent_id_tag: str | None = None


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


class StationState(msgspec.Struct, kw_only=True, gc=False):
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
    connectors: dict[int, ConnectorState] = {}
    transactions: dict[int, Transaction] = {}
    # Ids are unique per station (OCPP 1.6 only asks the station to match ids it was given);
    # the operator API names a transaction by station id + transaction id.
    next_transaction_id: int = 1
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    # The inbound CALL whose CALLRESULT has not been applied yet (CALL and CALLRESULT are
    # separate events; apply() pairs them).
    pending_call: PendingCall | None = None
    # Our CALL whose answer has not come yet; the station's CALLRESULT with that id folds
    # through its protocol's apply_command_result.
    pending_command: SentCommand | None = None
    # The last durable CALLs answered, oldest first (ANSWERED_CALLS_KEPT).
    answered_calls: list[AnsweredCall] = []

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
    # requestedMessage of each TriggerMessage the station Accepted, until the station sends
    # that request (its action name): a station not yet Accepted may send it once per
    # trigger (1.6 section 4.2). Bounded by csms_side.TRIGGERED_MESSAGES_KEPT.
    triggered_messages: list[str] = []


class IdTagRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An id tag in the CSMS's authorization table (OCPP 1.6 IdTagInfo)."""

    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_us: int | None = None
    parent_id_tag: str | None = None
