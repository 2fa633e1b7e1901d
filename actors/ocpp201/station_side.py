"""OCPP 2.0.1 station-initiated actions: how the CSMS answers each one, and how the answer changes state.

Each action has two pure functions, as for 1.6. `answer_*` decides the CALLRESULT payload (a
generated response Struct of actors/ocpp201/messages.py) from the state (read-only) and the
request; `apply_*` folds the logged CALL + CALLRESULT pair into the state, live and again on
replay, so state is always exactly what the durable log says. Requirement ids are those of
OCPP 2.0.1 Part 2 (use cases B01.., FR = functional requirement).
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from actors.ocpp201 import messages as m
from actors.protocol import Context
from actors.security_events import is_critical
from actors.station_state import (
    BootInfo,
    ComponentEvent,
    DeviceVariable,
    Evse,
    EvseConnector,
    ReportProgress,
    SecurityEvent,
    StationMessage,
    StationState,
    Transaction,
    TransactionSeqNos,
    VariableAttribute,
    VariableCharacteristics,
    report_for,
)
from actors.timestamps import from_us, to_us

# ReservationStatusUpdates kept per station (newest win; the rest is in the lake).
RESERVATION_UPDATES_KEPT = 50


def station_timestamp_us(request: Any) -> int | None:
    """The station's own time of what a request reports, where the payload carries one."""
    for name in ("timestamp", "generatedAt"):
        ts = getattr(request, name, None)
        if isinstance(ts, datetime):
            return to_us(ts)
    values = getattr(request, "meterValue", None)
    if values:
        return to_us(values[0].timestamp)
    return None


def id_token(request: Any) -> str | None:
    """The id token an answer depends on, normalised: IdToken is case-insensitive (IdTokenType).
    NoAuthorization tokens (an empty idToken, C.FR: no authorization needed) need no decision."""
    token = getattr(request, "idToken", None)
    if token is None or token.type == "NoAuthorization" or not token.idToken:
        return None
    return token.idToken.upper()


def variable_key(component: m.ComponentType, variable: m.VariableType) -> str:
    """The device-model key of a component/variable: `Name[:instance][@evse[.connector]]/Variable[:instance]`."""
    key = component.name
    if component.instance:
        key += f":{component.instance}"
    if component.evse is not None:
        key += f"@{component.evse.id}"
        if component.evse.connectorId is not None:
            key += f".{component.evse.connectorId}"
    key += f"/{variable.name}"
    if variable.instance:
        key += f":{variable.instance}"
    return key


# --- authorization (C01, C05, E05) ---------------------------------------------------------


def id_token_info(token: m.IdTokenType, ctx: Context, state: StationState | None = None,
                  transaction_id: str | None = None) -> m.IdTokenInfoType:
    """IdTokenInfo from the same id-tag table (or external decision) as 1.6's IdTagInfo.

    Unknown is "Unknown" (AuthorizationStatusEnumType: "Identifier is unknown"), past its
    expiry "Expired"; `state` given: "ConcurrentTx" when the token is already charging in
    another transaction of the station (C01: a CSMS may refuse concurrent use).
    """
    if token.type == "NoAuthorization":
        return m.IdTokenInfoType(status="Accepted")
    record = ctx.id_tags.get(token.idToken.upper())
    if record is None:
        return m.IdTokenInfoType(status="Unknown")
    status: str = record.status
    if status == "Accepted" and record.expiry_us is not None and record.expiry_us <= ctx.now_us:
        status = "Expired"
    if status == "Accepted" and state is not None and _charging_elsewhere(state, token.idToken, transaction_id):
        status = "ConcurrentTx"
    return m.IdTokenInfoType(
        status=status,
        cacheExpiryDateTime=from_us(record.expiry_us) if record.expiry_us is not None else None,
        # Our table keeps the parent's value only; it is a token the CSMS issued ("Central").
        groupIdToken=m.IdTokenType(idToken=record.parent_id_tag, type="Central") if record.parent_id_tag else None,
    )


def _charging_elsewhere(state: StationState, token: str, transaction_id: str | None) -> bool:
    tag = token.upper()
    return any(
        t.active and t.transaction_id != transaction_id and (t.id_tag or "").upper() == tag
        for t in state.transactions.values()
    )


# --- BootNotification (B01 Accepted, B02 Pending, B03 Rejected) -----------------------------


def answer_boot(state: StationState, req: m.BootNotificationRequest, ctx: Context) -> m.BootNotificationResponse:
    status = state.registration.boot_status if state.registration else "Rejected"
    # B01.FR: Accepted carries the heartbeat interval; Pending / Rejected the retry interval
    # after which the station boots again (B02, B03).
    interval = ctx.policy.heartbeat_interval_s if status == "Accepted" else ctx.policy.pending_retry_interval_s
    return m.BootNotificationResponse(currentTime=from_us(ctx.now_us), interval=interval, status=status)


def apply_boot(state: StationState, req: m.BootNotificationRequest, res: m.BootNotificationResponse,
               at_us: int) -> None:
    station = req.chargingStation
    state.boot_status = res.status
    state.boot = BootInfo(
        vendor=station.vendorName,
        model=station.model,
        serial_number=station.serialNumber,
        firmware_version=station.firmwareVersion,
        iccid=station.modem.iccid if station.modem else None,
        imsi=station.modem.imsi if station.modem else None,
        reason=req.reason,
        booted_at_us=at_us,
    )
    state.part201()


# --- Heartbeat (G02) -------------------------------------------------------------------------


def answer_heartbeat(state: StationState, req: m.HeartbeatRequest, ctx: Context) -> m.HeartbeatResponse:
    return m.HeartbeatResponse(currentTime=from_us(ctx.now_us))


def apply_heartbeat(state: StationState, req: m.HeartbeatRequest, res: m.HeartbeatResponse, at_us: int) -> None:
    state.last_heartbeat_us = at_us


# --- StatusNotification (G01) ------------------------------------------------------------------


def answer_empty(response: type) -> Any:
    """The answer of an action whose response has no required field: always the same."""
    instance = response()
    return lambda state, req, ctx: instance


def apply_status(state: StationState, req: m.StatusNotificationRequest, res: m.StatusNotificationResponse,
                 at_us: int) -> None:
    status_at = to_us(req.timestamp)
    evse = state.part201().evses.setdefault(req.evseId, Evse(evse_id=req.evseId))
    current = evse.connectors.get(req.connectorId)
    # Offline-queued notifications arrive late and in order; the newest station timestamp
    # wins, so a late older one is logged but does not overwrite (as for 1.6).
    if current is not None and current.status_at_us > status_at:
        return
    evse.connectors[req.connectorId] = EvseConnector(
        evse_id=req.evseId, connector_id=req.connectorId, status=req.connectorStatus,
        status_at_us=status_at, received_at_us=at_us,
    )


# --- NotifyEvent (N07 alerts, N08 periodic) ------------------------------------------------------


def component_event(data: m.EventDataType) -> ComponentEvent:
    """One eventData as kept (the live state's latest per component/variable, silver.component_events)."""
    evse = data.component.evse
    return ComponentEvent(
        component=data.component.name, variable=data.variable.name, event_id=data.eventId,
        timestamp_us=to_us(data.timestamp), trigger=data.trigger, actual_value=data.actualValue,
        notification_type=data.eventNotificationType, component_instance=data.component.instance,
        variable_instance=data.variable.instance, evse_id=evse.id if evse else None,
        connector_id=evse.connectorId if evse else None, cause=data.cause, tech_code=data.techCode,
        tech_info=data.techInfo, cleared=bool(data.cleared), transaction_id=data.transactionId,
        variable_monitoring_id=data.variableMonitoringId,
    )


def apply_notify_event(state: StationState, req: m.NotifyEventRequest, res: m.NotifyEventResponse,
                       at_us: int) -> None:
    events = state.part201().events
    for data in req.eventData:
        key = variable_key(data.component, data.variable)
        current = events.get(key)
        if current is not None and current.timestamp_us > to_us(data.timestamp):
            continue  # a late, older event: in the log and the lake, not the latest
        events[key] = component_event(data)


# --- NotifyReport (B07 base report, B08 custom report) -----------------------------------------


def apply_notify_report(state: StationState, req: m.NotifyReportRequest, res: m.NotifyReportResponse,
                        at_us: int) -> None:
    """A report comes in parts: seqNo from 0, tbc true on all but the last (B07.FR); each
    part's variables fold into the device model as they come, the progress says whether
    every part arrived."""
    part = state.part201()
    report = report_for(part.reports, req.requestId, lambda rid: ReportProgress(request_id=rid))
    if not report.generated_at_us:  # its first part (our GetBaseReport / GetReport may have made it)
        report.generated_at_us = to_us(req.generatedAt)
    if req.seqNo not in report.seq_nos:
        bisect.insort(report.seq_nos, req.seqNo)
    if not req.tbc:
        report.last_seq_no = req.seqNo
    report.received_at_us = at_us
    for data in req.reportData or ():
        evse = data.component.evse
        chars = data.variableCharacteristics
        part.device_model[variable_key(data.component, data.variable)] = DeviceVariable(
            component=data.component.name, variable=data.variable.name,
            component_instance=data.component.instance, variable_instance=data.variable.instance,
            evse_id=evse.id if evse else None, connector_id=evse.connectorId if evse else None,
            attributes=[
                VariableAttribute(type=a.type or "Actual", value=a.value, mutability=a.mutability,
                                  persistent=a.persistent, constant=a.constant)
                for a in data.variableAttribute
            ],
            characteristics=VariableCharacteristics(
                data_type=chars.dataType, supports_monitoring=chars.supportsMonitoring, unit=chars.unit,
                min_limit=chars.minLimit, max_limit=chars.maxLimit, values_list=chars.valuesList,
            ) if chars else None,
            request_id=req.requestId,
            reported_at_us=to_us(req.generatedAt),
        )


# --- Authorize (C01) -----------------------------------------------------------------------------


def answer_authorize(state: StationState, req: m.AuthorizeRequest, ctx: Context) -> m.AuthorizeResponse:
    # certificateStatus (C07, ISO 15118 contract certificates) needs an OCSP check: issue 13.
    return m.AuthorizeResponse(idTokenInfo=id_token_info(req.idToken, ctx))


def apply_nothing(state: StationState, req: Any, res: Any, at_us: int) -> None:
    return None


# --- meter readings (J01, J02) -------------------------------------------------------------------

_ENERGY_REGISTER = "Energy.Active.Import.Register"


def register_wh(sample: m.SampledValueType) -> float | None:
    """An Energy.Active.Import.Register sample (the default measurand) of the whole meter, in Wh.

    unitOfMeasure defaults to Wh with multiplier 0 (UnitOfMeasureType); kWh is converted.
    Per-phase values and readings at the EV are not the meter register.
    """
    if (sample.measurand or _ENERGY_REGISTER) != _ENERGY_REGISTER or sample.phase is not None:
        return None
    if sample.location == "EV" or not math.isfinite(sample.value):
        return None
    unit = (sample.unitOfMeasure.unit if sample.unitOfMeasure else None) or "Wh"
    multiplier = (sample.unitOfMeasure.multiplier if sample.unitOfMeasure else None) or 0
    if unit not in ("Wh", "kWh"):
        return None
    value = sample.value * (10.0 ** multiplier)
    return value * 1000.0 if unit == "kWh" else value


class Readings(NamedTuple):
    """The energy register readings of some meter values, in Wh (None: no such reading)."""

    begin: float | None  # context Transaction.Begin
    end: float | None  # context Transaction.End
    first: float | None
    last: float | None
    samples: int  # every sampled value, of any measurand


def register_readings(values: list[m.MeterValueType]) -> Readings:
    begin = end = first = last = None
    samples = 0
    for value in values:
        samples += len(value.sampledValue)
        for sample in value.sampledValue:
            wh = register_wh(sample)
            if wh is None:
                continue
            if sample.context == "Transaction.Begin":
                begin = wh
            elif sample.context == "Transaction.End":
                end = wh
            first = wh if first is None else first
            last = wh
    return Readings(begin, end, first, last, samples)


def apply_meter_values(state: StationState, req: m.MeterValuesRequest, res: m.MeterValuesResponse,
                       at_us: int) -> None:
    """J01: meter values outside a transaction (clock-aligned, or of the main meter, EVSE 0);
    a transaction's own come inside TransactionEvent (J02). Every sample is in the lake."""
    last = register_readings(req.meterValue).last
    if last is None:
        return
    evse = state.part201().evses.setdefault(req.evseId, Evse(evse_id=req.evseId))
    evse.meter_wh = last
    evse.meter_at_us = to_us(req.meterValue[-1].timestamp)


# --- TransactionEvent (E01-E15) --------------------------------------------------------------------


def answer_transaction_event(state: StationState, req: m.TransactionEventRequest,
                             ctx: Context) -> m.TransactionEventResponse:
    """Always answered, a retry too (E13: a transaction message the CSMS does not accept is
    retried): idTokenInfo only when the event carries an idToken (E01-E03, E05, E07)."""
    if req.idToken is None:
        return m.TransactionEventResponse()
    tx_id = req.transactionInfo.transactionId
    tx = state.transactions.get(tx_id)
    if (tx is not None and tx.authorization is not None and tx.id_tag_status is not None
            and (tx.id_tag or "").upper() == req.idToken.idToken.upper()):
        # Authorized beyond the local table (an external decision, the cache, a policy): later
        # events of the transaction, retries included, agree with how it was authorized.
        return m.TransactionEventResponse(idTokenInfo=m.IdTokenInfoType(status=tx.id_tag_status))
    # The ending event's token stops the transaction: it is not "concurrent" with it.
    concurrent_check = state if req.eventType != "Ended" else None
    return m.TransactionEventResponse(idTokenInfo=id_token_info(req.idToken, ctx, concurrent_check, tx_id))


def apply_transaction_event(state: StationState, req: m.TransactionEventRequest,
                            res: m.TransactionEventResponse, at_us: int) -> None:
    part = state.part201()
    info = req.transactionInfo
    tx_id = info.transactionId
    seq = part.transaction_seq_nos.setdefault(tx_id, TransactionSeqNos())
    if req.seqNo in seq.seq_nos:
        return  # a retried event (same transactionId + seqNo): answered again, recorded once
    bisect.insort(seq.seq_nos, req.seqNo)
    if req.offline:
        seq.offline_events += 1
    seq.charging_state = info.chargingState or seq.charging_state
    seq.remote_start_id = info.remoteStartId if info.remoteStartId is not None else seq.remote_start_id
    remote_start = part.remote_starts.get(info.remoteStartId) if info.remoteStartId is not None else None
    if remote_start is not None and remote_start.transaction_id is None:
        remote_start.transaction_id = tx_id  # F02: the transaction our RequestStartTransaction started
    if req.reservationId is not None:
        part.reservations.pop(req.reservationId, None)  # H01: the reservation is used by this transaction
    event_at = to_us(req.timestamp)
    tx = state.transactions.get(tx_id)
    if tx is None:
        # An Updated or Ended whose Started never came (lost, or still queued) is kept, not
        # refused (DESIGN.md: answered as if valid, parked for reconciliation).
        tx = Transaction(transaction_id=tx_id, connector_id=0, id_tag=None, started_at_us=event_at,
                         orphan=req.eventType != "Started")
        state.transactions[tx_id] = tx
    if req.eventType == "Started":
        tx.orphan = False  # reconciled: its own start time, whatever came first
        tx.started_at_us = event_at
    if req.evse is not None:
        tx.evse_id = req.evse.id
        tx.connector_id = req.evse.connectorId if req.evse.connectorId is not None else tx.connector_id
    if req.idToken is not None:
        token = req.idToken.idToken
        if req.eventType == "Ended" and tx.id_tag is not None and tx.id_tag.upper() != token.upper():
            tx.stop_id_tag = token  # E07: stopped by another token of the group
        elif tx.id_tag is None:
            tx.id_tag = token
            tx.id_tag_status = res.idTokenInfo.status if res.idTokenInfo is not None else None
    begin, end, first, last, samples = register_readings(req.meterValue or [])
    tx.meter_value_count += samples
    # Energy: Transaction.Begin / Transaction.End readings where the station sends them, else
    # the first and latest register readings that arrived (a gap loses the event, not the sum).
    if begin is not None:
        tx.meter_start_wh = begin
    elif tx.meter_start_wh is None and first is not None:
        tx.meter_start_wh = first
    if last is not None:
        tx.last_meter_wh = last
    if req.eventType == "Ended":
        seq.ended = True
        if tx.stopped_at_us is None:
            tx.stopped_at_us = event_at
            # stoppedReason may be omitted when it is Local (TransactionType, ReasonEnumType).
            tx.stop_reason = info.stoppedReason or "Local"
        if end is not None or last is not None:
            tx.meter_stop_wh = end if end is not None else last


def forget_old_transactions(state: StationState, keep: int) -> None:
    """StationState.forget_old_transactions, and the forgotten ones' seqNos with them."""
    seq_nos = state.part201().transaction_seq_nos
    for tx in state.forget_old_transactions(keep):
        seq_nos.pop(tx.transaction_id, None)  # type: ignore[arg-type]  (a 1.6 id has none)


# --- security events (A04) and reservation updates (H01) ---------------------------------------------
# (firmware, publication and log progress fold with their requests: actors/ocpp201/firmware_logs.py)


def apply_security_event(state: StationState, req: m.SecurityEventNotificationRequest,
                         res: m.SecurityEventNotificationResponse, at_us: int) -> None:
    # Into the version-neutral list both versions share (the critical ones: A04, appendix).
    state.record_security_event(SecurityEvent(
        type=req.type, timestamp_us=to_us(req.timestamp), tech_info=req.techInfo, received_at_us=at_us,
        critical=is_critical(req.type)))


def apply_reservation_status(state: StationState, req: m.ReservationStatusUpdateRequest,
                             res: m.ReservationStatusUpdateResponse, at_us: int) -> None:
    part = state.part201()
    part.reservations.pop(req.reservationId, None)  # Expired or Removed (H03, H04): it is over
    updates = part.reservation_updates
    updates.pop(req.reservationId, None)  # re-inserted last: the dict keeps the newest last
    updates[req.reservationId] = req.reservationUpdateStatus
    for old in list(updates)[:-RESERVATION_UPDATES_KEPT]:
        del updates[old]


def apply_keep_latest(state: StationState, req: Any, res: Any, at_us: int) -> None:
    """The latest request of its kind (per EVSE where it names one), for operators: the
    charging-limit, EV charging and certificate messages whose features are issues to come."""
    action = type(req).__name__.removesuffix("Request")
    evse_id = getattr(req, "evseId", None)
    key = action if evse_id is None else f"{action}/{evse_id}"
    state.part201().latest[key] = StationMessage(
        action=action, payload=msgspec.json.encode(req).decode(), received_at_us=at_us)


# --- answers of what has no feature here yet (issues 12, 13) -----------------------------------------

_NOT_CONFIGURED = m.StatusInfoType(reasonCode="NotConfigured", additionalInfo="not offered by this CSMS yet")


def answer_data_transfer(state: StationState, req: m.DataTransferRequest, ctx: Context) -> m.DataTransferResponse:
    # No vendor extensions are registered (P01: UnknownVendorId for an unknown vendorId).
    return m.DataTransferResponse(status="UnknownVendorId")


def answer_ev_charging_needs(state: StationState, req: m.NotifyEVChargingNeedsRequest,
                             ctx: Context) -> m.NotifyEVChargingNeedsResponse:
    # K15: Rejected = the CSMS will not provide a charging schedule (smart charging: issue 12).
    return m.NotifyEVChargingNeedsResponse(status="Rejected", statusInfo=_NOT_CONFIGURED)


def answer_ev_charging_schedule(state: StationState, req: m.NotifyEVChargingScheduleRequest,
                                ctx: Context) -> m.NotifyEVChargingScheduleResponse:
    # K17: no CSMS limits are set on this station (issue 12), so the EV's schedule is within them.
    return m.NotifyEVChargingScheduleResponse(status="Accepted")


def answer_15118_certificate(state: StationState, req: m.Get15118EVCertificateRequest,
                             ctx: Context) -> m.Get15118EVCertificateResponse:
    # M01/M02: the contract certificate comes from a certificate pool (issue 13).
    return m.Get15118EVCertificateResponse(status="Failed", exiResponse="", statusInfo=_NOT_CONFIGURED)


def answer_certificate_status(state: StationState, req: m.GetCertificateStatusRequest,
                              ctx: Context) -> m.GetCertificateStatusResponse:
    # M06: no OCSP responder is configured (issue 13).
    return m.GetCertificateStatusResponse(status="Failed", statusInfo=_NOT_CONFIGURED)
