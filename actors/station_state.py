"""A station's live state as the CSMS knows it: registration, boot, connectors, transactions.

Plain msgspec Structs, so a host snapshots thousands of them with one msgpack encode and the
operator API returns them as typed JSON. Only `StationSession.apply` mutates them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

BootStatus = Literal["Accepted", "Pending", "Rejected"]
IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]


class Registration(msgspec.Struct, kw_only=True):
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


class StationState(msgspec.Struct, kw_only=True):
    station_id: str
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
    pending_call: tuple[str, str, str] | None = None


class IdTagRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An id tag in the CSMS's authorization table (OCPP 1.6 IdTagInfo)."""

    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_us: int | None = None
    parent_id_tag: str | None = None
