"""OCPP 2.0.1 monitoring commands (Part 2 N02-N06): the monitors a station runs on its variables, and what it reports of them.

SetVariableMonitoring (N04), ClearVariableMonitoring (N06), SetMonitoringBase (N03),
SetMonitoringLevel (N05) and GetMonitoringReport with the NotifyMonitoringReport parts of its
requestId (N02, seqNo and tbc). Monitors are kept by id, each naming its component/variable by
the device-model key (station_side.variable_key); the events they trigger are NotifyEvent's
(station_side). Requirement ids are OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from actors.ocpp201 import messages as m
from actors.ocpp201.station_side import variable_key
from actors.station_state import MonitoringReport, StationState, VariableMonitor, report_for

# Monitors kept per station (the rest is in the lake).
MONITORS_KEPT = 500


# --- rules the schema leaves out ----------------------------------------------------------------


def check_set_variable_monitoring(req: m.SetVariableMonitoringRequest) -> None:
    for data in req.setMonitoringData:
        # MonitorEnumType: for Periodic and PeriodicClockAligned the value is the interval in
        # seconds; an interval of 0 or less reports nothing, or all the time.
        if data.type in ("Periodic", "PeriodicClockAligned") and data.value <= 0:
            raise ValueError(f"a {data.type} monitor's value is its interval in seconds > 0 (OCPP 2.0.1 N04, "
                             "MonitorEnumType)")


def check_clear_variable_monitoring(req: m.ClearVariableMonitoringRequest) -> None:
    if len(set(req.id)) != len(req.id):
        raise ValueError("each monitor id once (OCPP 2.0.1 N06)")


CHECKS: dict[str, Callable[[Any], None]] = {
    "SetVariableMonitoring": check_set_variable_monitoring,
    "ClearVariableMonitoring": check_clear_variable_monitoring,
}


# --- rules against what the station reported -------------------------------------------------------


def reported_limit(state: StationState, key: str) -> int | None:
    """An integer the station reported in its device model (Actual attribute), e.g. how many
    items a message may carry."""
    part = state.v201
    variable = part.device_model.get(key) if part is not None else None
    for attribute in variable.attributes if variable is not None else ():
        if attribute.type == "Actual" and attribute.value is not None:
            try:
                return int(attribute.value)
            except ValueError:
                return None
    return None


def _items_per_message(state: StationState, action: str, items: int, rule: str) -> None:
    limit = reported_limit(state, f"MonitoringCtrlr/ItemsPerMessage:{action}")
    if limit is not None and items > limit:
        raise ValueError(f"the station takes at most {limit} items per {action} "
                         f"(MonitoringCtrlr.ItemsPerMessage; OCPP 2.0.1 {rule})")


def check_set_variable_monitoring_on(state: StationState, req: m.SetVariableMonitoringRequest) -> None:
    _items_per_message(state, "SetVariableMonitoring", len(req.setMonitoringData), "N04")


def check_clear_variable_monitoring_on(state: StationState, req: m.ClearVariableMonitoringRequest) -> None:
    # N06.FR.04: "The CSMS SHALL NOT put more id elements in a ClearVariableMonitoringRequest
    # than reported by the Charging Station via ItemsPerMessageClearVariableMonitoring".
    _items_per_message(state, "ClearVariableMonitoring", len(req.id), "N06.FR.04")


STATE_CHECKS: dict[str, Callable[[StationState, Any], None]] = {
    "SetVariableMonitoring": check_set_variable_monitoring_on,
    "ClearVariableMonitoring": check_clear_variable_monitoring_on,
}

# No secrets: thresholds and intervals.
MASKS: dict[str, Callable[[dict], dict]] = {}


# --- how answers change state ---------------------------------------------------------------------


def _keep(state: StationState, monitor: VariableMonitor) -> None:
    monitors = state.part201().monitors
    monitors.pop(monitor.monitor_id, None)  # re-inserted last: the dict keeps the newest last
    monitors[monitor.monitor_id] = monitor
    for old in list(monitors)[:-MONITORS_KEPT]:
        del monitors[old]


def _requested(req: m.SetVariableMonitoringRequest, index: int,
               result: m.SetMonitoringResultType) -> m.SetMonitoringDataType | None:
    """The request element a result answers: one result per element (N04.FR.01), naming its
    component and variable (N04.FR.02); in the same place, else the first that matches."""
    key = variable_key(result.component, result.variable)

    def matches(data: m.SetMonitoringDataType) -> bool:
        return variable_key(data.component, data.variable) == key and data.type == result.type

    data = req.setMonitoringData
    if index < len(data) and matches(data[index]):
        return data[index]
    return next((d for d in data if matches(d)), None)


def apply_set_variable_monitoring_result(state: StationState, req: m.SetVariableMonitoringRequest,
                                         res: m.SetVariableMonitoringResponse, at_us: int) -> None:
    for index, result in enumerate(res.setMonitoringResult):
        data = _requested(req, index, result)
        if result.status != "Accepted" or result.id is None or data is None:
            continue  # UnknownComponent, Duplicate, ...: nothing set
        _keep(state, VariableMonitor(
            monitor_id=result.id, variable_key=variable_key(result.component, result.variable), type=result.type,
            value=data.value, severity=result.severity, transaction=bool(data.transaction), set_at_us=at_us,
        ))


def apply_clear_variable_monitoring_result(state: StationState, req: m.ClearVariableMonitoringRequest,
                                           res: m.ClearVariableMonitoringResponse, at_us: int) -> None:
    # Accepted: cleared; NotFound: it had none with that id. Rejected: it keeps it (N06, e.g.
    # a hard-wired monitor).
    monitors = state.part201().monitors
    for result in res.clearMonitoringResult:
        if result.status in ("Accepted", "NotFound"):
            monitors.pop(result.id, None)


def apply_set_monitoring_base_result(state: StationState, req: m.SetMonitoringBaseRequest,
                                     res: m.SetMonitoringBaseResponse, at_us: int) -> None:
    if res.status != "Accepted":
        return
    part = state.part201()
    part.monitoring_base = req.monitoringBase
    if req.monitoringBase == "HardWiredOnly":
        # MonitoringBaseEnumType HardWiredOnly: "Clears all custom monitors and disables all
        # pre-configured monitors" (N03): only hard-wired ones remain, which a
        # GetMonitoringReport tells.
        part.monitors.clear()


def apply_set_monitoring_level_result(state: StationState, req: m.SetMonitoringLevelRequest,
                                      res: m.SetMonitoringLevelResponse, at_us: int) -> None:
    # N05.FR.01 Accepted; N05.FR.02 Rejected for a severity out of range: unchanged.
    if res.status == "Accepted":
        state.part201().monitoring_level = req.severity


def _report(state: StationState, request_id: int) -> MonitoringReport:
    return report_for(state.part201().monitoring_reports, request_id, lambda rid: MonitoringReport(request_id=rid))


def apply_get_monitoring_report_result(state: StationState, req: m.GetMonitoringReportRequest,
                                       res: m.GetMonitoringReportResponse, at_us: int) -> None:
    report = _report(state, req.requestId)
    report.status = res.status
    report.requested_at_us = at_us


def apply_notify_monitoring_report(state: StationState, req: m.NotifyMonitoringReportRequest,
                                   res: m.NotifyMonitoringReportResponse, at_us: int) -> None:
    """A part of the report (N02: seqNo from 0, tbc on all but the last); its monitors are
    what the station runs."""
    report = _report(state, req.requestId)
    if req.seqNo not in report.seq_nos:
        bisect.insort(report.seq_nos, req.seqNo)
    if not req.tbc:
        report.last_seq_no = req.seqNo
    for data in req.monitor or ():
        key = variable_key(data.component, data.variable)
        for monitor in data.variableMonitoring:
            _keep(state, VariableMonitor(monitor_id=monitor.id, variable_key=key, type=monitor.type,
                                         value=monitor.value, severity=monitor.severity,
                                         transaction=monitor.transaction, set_at_us=at_us))


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "SetVariableMonitoring": apply_set_variable_monitoring_result,
    "ClearVariableMonitoring": apply_clear_variable_monitoring_result,
    "SetMonitoringBase": apply_set_monitoring_base_result,
    "SetMonitoringLevel": apply_set_monitoring_level_result,
    "GetMonitoringReport": apply_get_monitoring_report_result,
}

NOTIFICATIONS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "NotifyMonitoringReport": apply_notify_monitoring_report,
}
