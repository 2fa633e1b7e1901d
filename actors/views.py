"""What the operator API shows of a station: read-only views built from StationState, secrets removed."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec

from actors.station_state import BootInfo, ConnectorState, StationState, Transaction


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
    transaction_id: int
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


class StationSummary(msgspec.Struct, kw_only=True):
    station_id: str
    site: str | None
    connected: bool
    boot_status: str | None
    last_seen: datetime | None


class StationView(msgspec.Struct, kw_only=True):
    station_id: str
    site: str | None
    metadata: dict[str, str]
    registration_boot_status: str | None
    boot_status: str | None
    boot: BootView | None
    connected: bool
    connected_at: datetime | None
    last_seen: datetime | None
    last_heartbeat: datetime | None
    connectors: list[ConnectorView]
    active_transactions: list[TransactionView]
    firmware_status: str | None
    diagnostics_status: str | None


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


def transaction_view(station_id: str, t: Transaction) -> TransactionView:
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
    )


def station_summary(st: StationState) -> StationSummary:
    return StationSummary(
        station_id=st.station_id,
        site=st.registration.site if st.registration else None,
        connected=st.connected,
        boot_status=st.boot_status,
        last_seen=_ts(st.last_seen_us),
    )


def station_view(st: StationState) -> StationView:
    reg = st.registration
    return StationView(
        station_id=st.station_id,
        site=reg.site if reg else None,
        metadata=dict(reg.metadata) if reg else {},
        registration_boot_status=reg.boot_status if reg else None,
        boot_status=st.boot_status,
        boot=boot_view(st.boot) if st.boot else None,
        connected=st.connected,
        connected_at=_ts(st.connected_at_us),
        last_seen=_ts(st.last_seen_us),
        last_heartbeat=_ts(st.last_heartbeat_us),
        connectors=[connector_view(c) for _, c in sorted(st.connectors.items())],
        active_transactions=[transaction_view(st.station_id, t) for t in st.transactions.values() if t.active],
        firmware_status=st.firmware_status,
        diagnostics_status=st.diagnostics_status,
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
