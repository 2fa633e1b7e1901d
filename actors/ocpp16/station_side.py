"""OCPP 1.6 station-initiated actions: how the CSMS answers each one, and how the answer changes state.

Each action has two pure functions. `answer_*` decides the CALLRESULT payload from the state
(read-only) and the request. `apply_*` folds the logged CALL + CALLRESULT pair into the
state; it runs live right after answering and again on replay after a crash, so state is
always exactly what the durable log says.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from actors.ocpp16 import answers as a
from actors.ocpp16 import messages as m
from actors.protocol import Context, Policy  # noqa: F401  (Policy: importable from here, as before)
from actors.settlement import settlement_of
from actors.station_state import (
    BootInfo,
    ConnectorState,
    Settlement,
    StationState,
    Transaction,
)
from actors.timestamps import iso, to_us


def station_timestamp_us(request: m.Payload) -> int | None:
    """The station's own time of the event a request reports, where the payload carries one."""
    ts = getattr(request, "timestamp", None)
    if isinstance(ts, datetime):
        return to_us(ts)
    values = getattr(request, "meterValue", None)
    if values:
        return to_us(values[0].timestamp)
    return None


# --- authorization ---------------------------------------------------------------------


def id_tag_info(id_tag: str, ctx: Context, state: StationState | None = None,
                ending: frozenset[int] = frozenset()) -> a.IdTagInfo:
    """OCPP 1.6 IdTagInfo for `id_tag`: unknown is Invalid, past expiry is Expired; with
    `state`, ConcurrentTx while it charges in a transaction other than those `ending`."""
    # idTags are CiString (case-insensitive) in 1.6; the table is keyed upper-case.
    record = ctx.id_tags.get(id_tag.upper())
    if record is None:
        return a.IdTagInfo(status="Invalid")
    status: str = record.status
    if status == "Accepted" and record.expiry_us is not None and record.expiry_us <= ctx.now_us:
        status = "Expired"
    if status == "Accepted" and state is not None and _in_active_transaction(state, id_tag, ending):
        status = "ConcurrentTx"
    return a.IdTagInfo(
        status=status,
        expiryDate=iso(record.expiry_us) if record.expiry_us is not None else None,
        parentIdTag=record.parent_id_tag or None,
    )


def _in_active_transaction(state: StationState, id_tag: str, ending: frozenset[int]) -> bool:
    # ConcurrentTx (1.6 section 7.2: "already involved in another transaction") only for a tag
    # that really charges elsewhere: an open transaction on another connector of this station.
    # A stale one was settled when the station showed it over (stale_transactions), and the
    # one this start supersedes on its own connector is `ending`. Another station's
    # transactions live in another session, maybe on another host: this pure rule cannot see them.
    tag = id_tag.upper()
    return any(t.active and t.transaction_id not in ending and (t.id_tag or "").upper() == tag
               for t in state.transactions.values())


# --- BootNotification (1.6 section 4.2) -----------------------------------------------------


def answer_boot(state: StationState, req: m.BootNotificationRequest, ctx: Context) -> a.BootNotificationResponse:
    status = state.registration.boot_status if state.registration else "Rejected"
    interval = ctx.policy.heartbeat_interval_s if status == "Accepted" else ctx.policy.pending_retry_interval_s
    return a.BootNotificationResponse(status=status, currentTime=iso(ctx.now_us), interval=interval)


def apply_boot(state: StationState, req: m.BootNotificationRequest, res: a.BootNotificationResponse, at_us: int) -> None:
    state.boot_status = res.status
    state.boot = BootInfo(
        vendor=req.chargePointVendor,
        model=req.chargePointModel,
        serial_number=req.chargePointSerialNumber or req.chargeBoxSerialNumber,
        firmware_version=req.firmwareVersion,
        iccid=req.iccid,
        imsi=req.imsi,
        meter_type=req.meterType,
        meter_serial_number=req.meterSerialNumber,
        booted_at_us=at_us,
    )
    # A value the station answered RebootRequired for applies from this boot on (1.6 section 5.3).
    for value in state.configuration.values():
        value.reboot_required = False


# --- Heartbeat (4.6) -----------------------------------------------------------------------


def answer_heartbeat(state: StationState, req: m.HeartbeatRequest, ctx: Context) -> a.HeartbeatResponse:
    return a.HeartbeatResponse(currentTime=iso(ctx.now_us))


def apply_heartbeat(state: StationState, req: m.HeartbeatRequest, res: a.HeartbeatResponse, at_us: int) -> None:
    state.last_heartbeat_us = at_us


# --- StatusNotification (4.9) --------------------------------------------------------------


def answer_status(state: StationState, req: m.StatusNotificationRequest, ctx: Context) -> a.StatusNotificationResponse:
    return a.StatusNotificationResponse()


def apply_status(state: StationState, req: m.StatusNotificationRequest, res: a.StatusNotificationResponse,
                 at_us: int) -> None:
    status_at = to_us(req.timestamp) if req.timestamp else at_us
    current = state.connectors.get(req.connectorId)
    # Offline-queued notifications arrive late and in order; the newest station timestamp
    # wins, so a late older one is logged but does not overwrite (DESIGN.md, OCPP rules).
    if current is not None and current.status_at_us > status_at:
        return
    if req.status in ("Faulted", "Unavailable"):
        end_reservations_of_unusable_connector(state, req.connectorId, status_at)
    state.connectors[req.connectorId] = ConnectorState(
        connector_id=req.connectorId,
        status=req.status,
        error_code=req.errorCode,
        info=req.info,
        vendor_id=req.vendorId,
        vendor_error_code=req.vendorErrorCode,
        status_at_us=status_at,
        received_at_us=at_us,
    )


def end_reservations_of_unusable_connector(state: StationState, connector_id: int, since_us: int) -> None:
    """A reservation ends "when the Charge Point or connector are set to Faulted or Unavailable" (1.6 section 5.13).

    Connector 0 is the whole Charge Point. Only reservations made before the status count:
    an offline-queued notification older than a reservation did not end it.
    """
    for rid, reservation in list(state.reservations.items()):
        if (connector_id == 0 or reservation.connector_id == connector_id) and reservation.reserved_at_us <= since_us:
            del state.reservations[rid]


# --- Authorize (4.1) -----------------------------------------------------------------------


def answer_authorize(state: StationState, req: m.AuthorizeRequest, ctx: Context) -> a.AuthorizeResponse:
    return a.AuthorizeResponse(idTagInfo=id_tag_info(req.idTag, ctx))


def apply_nothing(state: StationState, req: Any, res: Any, at_us: int) -> None:
    return None


# --- StartTransaction (4.8) ----------------------------------------------------------------


def find_duplicate_start(state: StationState, req: m.StartTransactionRequest) -> Transaction | None:
    """A StartTransaction the station already sent (it retries until answered, 1.6 section 4.8)."""
    started = to_us(req.timestamp)
    for tx in state.transactions.values():
        if (
            tx.connector_id == req.connectorId
            and tx.started_at_us == started
            and tx.meter_start_wh == req.meterStart
            and tx.id_tag == req.idTag
        ):
            return tx
    return None


def answer_start(state: StationState, req: m.StartTransactionRequest, ctx: Context) -> a.StartTransactionResponse:
    duplicate = find_duplicate_start(state, req)
    if duplicate is not None:
        info = id_tag_info(req.idTag, ctx)
        if info.status == "ConcurrentTx":
            info.status = "Accepted"
        return a.StartTransactionResponse(transactionId=duplicate.transaction_id, idTagInfo=info)
    # A transaction id is always returned, even for a rejected tag: the station needs it to
    # send StopTransaction for the transaction it may already have started.
    superseded = frozenset(s.transaction_id for s in stale_transactions(state, "StartTransaction", req, ctx.now_us))
    return a.StartTransactionResponse(transactionId=next_free_transaction_id(state),
                                      idTagInfo=id_tag_info(req.idTag, ctx, state, superseded))


def next_free_transaction_id(state: StationState) -> int:
    # An orphan StopTransaction (an id we never issued) parks its id in `transactions`;
    # issuing that id again would make apply_start take the new start for a duplicate.
    tx_id = state.next_transaction_id
    while tx_id in state.transactions:
        tx_id += 1
    return tx_id


def apply_start(state: StationState, req: m.StartTransactionRequest, res: a.StartTransactionResponse,
                at_us: int) -> None:
    tx_id = res.transactionId
    if tx_id in state.transactions:
        return  # the duplicate was answered with the id it already has
    state.transactions[tx_id] = Transaction(
        transaction_id=tx_id,
        connector_id=req.connectorId,
        id_tag=req.idTag,
        id_tag_status=res.idTagInfo.status,
        meter_start_wh=req.meterStart,
        started_at_us=to_us(req.timestamp),
        reservation_id=req.reservationId,
    )
    state.next_transaction_id = max(state.next_transaction_id, tx_id + 1)
    bind_tx_profiles(state, state.transactions[tx_id])
    if req.reservationId is not None:
        # "reservationId: This contains the id of the reservation that terminates as a result
        # of this transaction" (1.6 section 6.45).
        state.reservations.pop(req.reservationId, None)


def bind_tx_profiles(state: StationState, tx: Transaction) -> None:
    """Give the TxProfile of an Accepted RemoteStartTransaction (1.6 section 5.11) the transaction it started.

    Such a profile waits without a transactionId on the connector the request named (0: any
    connector, the station chose). A connector that already had an active transaction keeps
    its unbound TxProfiles for that one (they end with it, apply_stop).
    """
    busy = any(
        t.active and t.connector_id == tx.connector_id and t.transaction_id != tx.transaction_id
        for t in state.transactions.values()
    )
    if busy:
        return
    for profile in state.charging_profiles.values():
        if profile.purpose == "TxProfile" and profile.transaction_id is None \
                and profile.connector_id in (tx.connector_id, 0):
            profile.transaction_id = tx.transaction_id
            profile.connector_id = tx.connector_id


# --- MeterValues (4.7) ---------------------------------------------------------------------

_ENERGY_REGISTER = "Energy.Active.Import.Register"


def energy_register_wh(values: list[m.MeterValue]) -> float | None:
    """The last Energy.Active.Import.Register reading in Wh (the default measurand if none is given)."""
    reading = None
    for value in values:
        for sample in value.sampledValue:
            if (sample.measurand or _ENERGY_REGISTER) != _ENERGY_REGISTER or sample.format == "SignedData":
                continue
            if sample.phase is not None:
                continue
            try:
                number = float(sample.value)
            except ValueError:
                continue
            if not math.isfinite(number):
                continue  # float() takes "NaN" and "inf"; a meter register is a decimal number
            reading = number * 1000.0 if sample.unit == "kWh" else number
    return reading


def answer_meter_values(state: StationState, req: m.MeterValuesRequest, ctx: Context) -> a.MeterValuesResponse:
    return a.MeterValuesResponse()


def apply_meter_values(state: StationState, req: m.MeterValuesRequest, res: a.MeterValuesResponse, at_us: int) -> None:
    if req.transactionId is None:
        return
    tx = state.transactions.get(req.transactionId)
    if tx is None or not tx.active:
        return  # every sample is in the log and the lake; live state tracks open sessions only
    tx.meter_value_count += sum(len(v.sampledValue) for v in req.meterValue)
    reading = energy_register_wh(req.meterValue)
    if reading is not None:
        tx.last_meter_wh = reading


# --- StopTransaction (4.10) ----------------------------------------------------------------


def answer_stop(state: StationState, req: m.StopTransactionRequest, ctx: Context) -> a.StopTransactionResponse:
    if req.idTag is None:
        return a.StopTransactionResponse()
    tx = state.transactions.get(req.transactionId)
    if (tx is not None and tx.authorization is not None and tx.id_tag_status is not None
            and (tx.id_tag or "").upper() == req.idTag.upper()):
        # Authorized beyond the local table (an external decision, the cache or a policy): the
        # stop's informative idTagInfo (4.10) agrees with how the start was authorized, not
        # with what the local table alone says now (issue 16, item 8).
        return a.StopTransactionResponse(idTagInfo=a.IdTagInfo(status=tx.id_tag_status))
    return a.StopTransactionResponse(idTagInfo=id_tag_info(req.idTag, ctx))


def apply_stop(state: StationState, req: m.StopTransactionRequest, res: a.StopTransactionResponse, at_us: int) -> None:
    tx = state.transactions.get(req.transactionId)
    if tx is not None and tx.stopped_by_station:
        return  # a repeated stop: already closed, nothing changes
    # A settled transaction's late stop (queued offline, or sent after a reboot) is recorded:
    # the station measured its meterStop, our settlement only estimated it, so the stop wins;
    # the settlement stays as the history (actors/settlement.py).
    if tx is None:
        # Unknown id (-1 included): answered as if valid and parked for reconciliation.
        tx = Transaction(transaction_id=req.transactionId, connector_id=0, id_tag=None, orphan=True)
        state.transactions[req.transactionId] = tx
    tx.meter_stop_wh = req.meterStop
    tx.stopped_at_us = to_us(req.timestamp)
    tx.stop_reason = req.reason or "Local"
    tx.stop_id_tag = req.idTag
    if req.transactionData:
        tx.meter_value_count += sum(len(v.sampledValue) for v in req.transactionData)
    # A TxProfile holds "for the duration of the current transaction only" (1.6 section 3.13.1).
    for pid, profile in list(state.charging_profiles.items()):
        if profile.purpose == "TxProfile" and (
            profile.transaction_id == tx.transaction_id
            or (profile.transaction_id is None and not tx.orphan and profile.connector_id == tx.connector_id)
        ):
            del state.charging_profiles[pid]


# --- transactions whose StopTransaction never came (issue 16, item 3) ---------------------------

SUPERSEDED = "Superseded"
STATION_REBOOTED = "StationRebooted"
# ConnectorAvailable / ConnectorPreparing: "Connector" + the status that showed it free.
_FREE_STATUSES = ("Available", "Preparing")


def stale_transactions(state: StationState, action: str, req: m.Payload, at_us: int) -> list[Settlement]:
    """The open transactions a station's frame shows are over though no StopTransaction came.

    Asked of the state before the frame (as its answer is); the session logs a settlement for
    each after the answer. A settled transaction is kept with its meter stop estimated; a
    StopTransaction that comes later still wins (apply_stop).
    """
    if isinstance(req, m.StartTransactionRequest):
        # A connector charges one EV at a time (the StartTransaction of 4.8 names its
        # connector): a new start there ends the one before. A retried start (4.8) is that
        # same transaction, and an older start delivered late ends nothing begun after it.
        if find_duplicate_start(state, req) is not None:
            return []
        started = to_us(req.timestamp)
        return [settlement_of(t, SUPERSEDED, "csms", started) for t in _open_transactions(state, req.connectorId)
                if (t.started_at_us or 0) <= started]
    if isinstance(req, m.BootNotificationRequest):
        # A BootNotification follows a (re)boot (4.2), which ends every transaction; one the
        # CSMS asked for with TriggerMessage (5.17) is no reboot.
        if action in state.triggered_messages:
            return []
        return [settlement_of(t, STATION_REBOOTED, "csms", at_us) for t in _open_transactions(state)]
    if isinstance(req, m.StatusNotificationRequest) and req.status in _FREE_STATUSES and req.connectorId > 0:
        # Available ("available for a new user") and Preparing ("no ongoing transaction
        # (yet)") are a connector without a transaction (1.6 section 7.7, ChargePointStatus),
        # from the status's own time on: an older status queued offline ends nothing that
        # started after it.
        status_at = to_us(req.timestamp) if req.timestamp is not None else at_us
        return [settlement_of(t, f"Connector{req.status}", "csms", status_at)
                for t in _open_transactions(state, req.connectorId) if (t.started_at_us or 0) < status_at]
    return []  # every other frame: nothing looked at (it runs on the hot path)


def _open_transactions(state: StationState, connector_id: int | None = None) -> list[Transaction]:
    return [t for t in state.transactions.values()
            if t.active and (connector_id is None or t.connector_id == connector_id)]


# --- DataTransfer (4.3), Diagnostics (4.4) and Firmware (4.5) status ------------------------


def answer_data_transfer(state: StationState, req: m.DataTransferRequest, ctx: Context) -> a.DataTransferResponse:
    # No vendor extensions are registered yet: 1.6 section 4.3 says answer UnknownVendorId.
    return a.DataTransferResponse(status="UnknownVendorId")


def answer_diagnostics_status(state: StationState, req: m.DiagnosticsStatusNotificationRequest,
                              ctx: Context) -> a.DiagnosticsStatusNotificationResponse:
    return a.DiagnosticsStatusNotificationResponse()


def apply_diagnostics_status(state: StationState, req: m.DiagnosticsStatusNotificationRequest,
                             res: a.DiagnosticsStatusNotificationResponse, at_us: int) -> None:
    state.diagnostics_status = req.status


def answer_firmware_status(state: StationState, req: m.FirmwareStatusNotificationRequest,
                           ctx: Context) -> a.FirmwareStatusNotificationResponse:
    return a.FirmwareStatusNotificationResponse()


def apply_firmware_status(state: StationState, req: m.FirmwareStatusNotificationRequest,
                          res: a.FirmwareStatusNotificationResponse, at_us: int) -> None:
    state.firmware_status = req.status
