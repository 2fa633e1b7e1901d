"""OCPP 2.0.1 device model commands (Part 2 B06-B08): GetBaseReport, GetReport, GetVariables, SetVariables, and how their answers fold into the stored device model.

The device model is `Station201.device_model`, keyed by station_side.variable_key. NotifyReport
parts fill it (station_side.apply_notify_report); the answers folded here tie each report to
the request that asked for it and keep what GetVariables read and SetVariables set, so an
operator reads it without a round trip (`GET /api/stations/{id}/variables`).
"""

from __future__ import annotations

from actors.ocpp201 import messages as m
from actors.ocpp201.feature import Check, Fold, Mask
from actors.ocpp201.station_side import variable_key
from actors.station_state import REPORTS_KEPT, DeviceVariable, ReportProgress, StationState, VariableAttribute

# --- GetBaseReport (B07) and GetReport (B08) ---------------------------------------------------


def _report(state: StationState, request_id: int, at_us: int, status: str) -> ReportProgress:
    """The report with this requestId, made (newest last, REPORTS_KEPT) if its parts have not come yet."""
    part = state.part201()
    report = next((r for r in part.reports if r.request_id == request_id), None)
    if report is None:
        report = ReportProgress(request_id=request_id)
        part.reports.append(report)
        del part.reports[:-REPORTS_KEPT]
    report.requested_at_us = at_us
    report.request_status = status
    return report


def apply_get_base_report_result(state: StationState, request: m.GetBaseReportRequest,
                                 response: m.GetBaseReportResponse, at_us: int) -> None:
    # B07: Accepted, then NotifyReport parts under the same requestId; NotSupported /
    # Rejected / EmptyResultSet: no part follows, and the operator sees why.
    _report(state, request.requestId, at_us, response.status).report_base = request.reportBase


def apply_get_report_result(state: StationState, request: m.GetReportRequest, response: m.GetReportResponse,
                            at_us: int) -> None:
    report = _report(state, request.requestId, at_us, response.status)
    report.criteria = list(request.componentCriteria or ())
    report.component_variables = [
        variable_key(cv.component, cv.variable or m.VariableType(name="*")) for cv in request.componentVariable or ()]


# --- GetVariables (B06) and SetVariables (B05) ---------------------------------------------------


def _variable(state: StationState, component: m.ComponentType, variable: m.VariableType, at_us: int) -> DeviceVariable:
    model = state.part201().device_model
    key = variable_key(component, variable)
    known = model.get(key)
    if known is None:
        evse = component.evse
        known = model[key] = DeviceVariable(
            component=component.name, variable=variable.name, component_instance=component.instance,
            variable_instance=variable.instance, evse_id=evse.id if evse else None,
            connector_id=evse.connectorId if evse else None, reported_at_us=at_us)
    return known


def _attribute(variable: DeviceVariable, attribute_type: str | None) -> VariableAttribute:
    kind = attribute_type or "Actual"  # AttributeEnumType: absent means Actual
    found = next((a for a in variable.attributes if a.type == kind), None)
    if found is None:
        found = VariableAttribute(type=kind)
        variable.attributes.append(found)
    return found


def _forget(state: StationState, component: m.ComponentType, variable: m.VariableType, status: str,
            attribute_type: str | None) -> bool:
    """What an Unknown* or NotSupportedAttributeType answer says the station does not have; whether it was one."""
    model = state.part201().device_model
    key = variable_key(component, variable)
    if status in ("UnknownComponent", "UnknownVariable"):
        model.pop(key, None)
        return True
    if status == "NotSupportedAttributeType":
        known = model.get(key)
        if known is not None:
            known.attributes = [a for a in known.attributes if a.type != (attribute_type or "Actual")]
        return True
    return False


def apply_get_variables_result(state: StationState, request: m.GetVariablesRequest,
                               response: m.GetVariablesResponse, at_us: int) -> None:
    # B06: each result names its component, variable and attribute. A WriteOnly value (the
    # BasicAuthPassword) is Rejected by the station, and masked by secrets.loggable_result
    # before it reaches this fold if a station sends it anyway.
    for result in response.getVariableResult:
        if _forget(state, result.component, result.variable, result.attributeStatus, result.attributeType):
            continue
        if result.attributeStatus != "Accepted":
            continue  # Rejected: the value is not readable; the model keeps what it knew
        attribute = _attribute(_variable(state, result.component, result.variable, at_us), result.attributeType)
        attribute.value = result.attributeValue
        attribute.reboot_required = False
        attribute.updated_at_us = at_us


def apply_set_variables_result(state: StationState, request: m.SetVariablesRequest,
                               response: m.SetVariablesResponse, at_us: int) -> None:
    # B05: each result answers one setVariableData (same component, variable and attribute
    # type); the value is the request's (as logged: a BasicAuthPassword is masked).
    values = {(variable_key(d.component, d.variable), d.attributeType or "Actual"): d.attributeValue
              for d in request.setVariableData}
    for result in response.setVariableResult:
        if _forget(state, result.component, result.variable, result.attributeStatus, result.attributeType):
            continue
        if result.attributeStatus not in ("Accepted", "RebootRequired"):
            continue  # Rejected: the station kept its value
        value = values.get((variable_key(result.component, result.variable), result.attributeType or "Actual"))
        if value is None:
            continue  # a result for a variable we did not set: nothing to store
        attribute = _attribute(_variable(state, result.component, result.variable, at_us), result.attributeType)
        attribute.value = value
        attribute.reboot_required = result.attributeStatus == "RebootRequired"
        attribute.updated_at_us = at_us


COMMAND_RESULTS: dict[str, Fold] = {
    "GetBaseReport": apply_get_base_report_result,
    "GetReport": apply_get_report_result,
    "GetVariables": apply_get_variables_result,
    "SetVariables": apply_set_variables_result,
}
CHECKS: dict[str, Check] = {}
MASKS: dict[str, Mask] = {}
