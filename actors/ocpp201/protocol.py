"""OCPP 2.0.1 as the rest of the CSMS sees it: the one `Protocol` object of this folder (actors/protocol.py).

Station-initiated actions are answered in station_side.py; CSMS-initiated commands (every
request of the 2.0.1 schemas the CSMS sends) are checked, masked and folded in csms_side.py.
"""

from __future__ import annotations

from typing import Any

from actors import ocppj
from actors.ocpp201 import certificates as cert201
from actors.ocpp201 import csms_side as c
from actors.ocpp201 import (
    customer_information,
    display_messages,
    firmware_logs,
    monitoring,
    smart_charging,
)
from actors.ocpp201 import messages as m
from actors.ocpp201 import station_side as s
from actors.protocol import Policy, Protocol, StationAction
from actors.station_state import StationState

A = StationAction
empty = s.answer_empty

# Durable: the CALLRESULT leaves only after the events are fsync'd (DESIGN.md, Durability):
# boot, statuses, transaction and meter data, and what an operator must never miss (security
# events, alerts, the device model). Transaction messages (E13, "transaction-related
# messages": TransactionEvent only; meter values of a transaction travel inside it, J02) are
# delayed by the rate limit, never refused.
# Before an Accepted boot (B02.FR, B03.FR) a station may send BootNotification only, and what
# the CSMS asked of it: a TriggerMessage's request (the session lets those through) and the
# NotifyReport answering a GetBaseReport sent while it is Pending (B02: the CSMS may read the
# device model before accepting a station).
ACTIONS: dict[str, StationAction] = {
    "BootNotification": A(s.answer_boot, s.apply_boot, m.BootNotificationResponse, durable=True,
                          before_accepted=True),
    "Heartbeat": A(s.answer_heartbeat, s.apply_heartbeat, m.HeartbeatResponse, durable=False),
    "StatusNotification": A(empty(m.StatusNotificationResponse), s.apply_status, m.StatusNotificationResponse,
                            durable=True),
    "NotifyEvent": A(empty(m.NotifyEventResponse), s.apply_notify_event, m.NotifyEventResponse, durable=True),
    "NotifyReport": A(empty(m.NotifyReportResponse), s.apply_notify_report, m.NotifyReportResponse, durable=True,
                      before_accepted=True),
    "Authorize": A(s.answer_authorize, s.apply_nothing, m.AuthorizeResponse, durable=False,
                   authorization="decide"),
    "TransactionEvent": A(s.answer_transaction_event, s.apply_transaction_event, m.TransactionEventResponse,
                          durable=True, transaction_message=True, authorization="decide"),
    "MeterValues": A(empty(m.MeterValuesResponse), s.apply_meter_values, m.MeterValuesResponse, durable=True),
    "SecurityEventNotification": A(empty(m.SecurityEventNotificationResponse), s.apply_security_event,
                                   m.SecurityEventNotificationResponse, durable=True),
    # The progress of a firmware update, publication or log upload; folded with the request
    # whose requestId it names (actors/ocpp201/firmware_logs.py).
    "FirmwareStatusNotification": A(empty(m.FirmwareStatusNotificationResponse),
                                    firmware_logs.apply_firmware_status,
                                    m.FirmwareStatusNotificationResponse, durable=False),
    "PublishFirmwareStatusNotification": A(empty(m.PublishFirmwareStatusNotificationResponse),
                                           firmware_logs.apply_publish_firmware_status,
                                           m.PublishFirmwareStatusNotificationResponse, durable=False),
    "LogStatusNotification": A(empty(m.LogStatusNotificationResponse), firmware_logs.apply_log_status,
                               m.LogStatusNotificationResponse, durable=False),
    "ReservationStatusUpdate": A(empty(m.ReservationStatusUpdateResponse), s.apply_reservation_status,
                                 m.ReservationStatusUpdateResponse, durable=False),
    # What these carry is kept (latest per kind and EVSE; all of it in the lake); the ones that
    # answer a command of ours fold into its feature's state, tied to its requestId (the
    # feature modules: smart_charging, display_messages, customer_information, monitoring).
    "NotifyChargingLimit": A(empty(m.NotifyChargingLimitResponse), s.apply_keep_latest,
                             m.NotifyChargingLimitResponse, durable=False),
    "ClearedChargingLimit": A(empty(m.ClearedChargingLimitResponse), s.apply_keep_latest,
                              m.ClearedChargingLimitResponse, durable=False),
    "ReportChargingProfiles": A(empty(m.ReportChargingProfilesResponse),
                                smart_charging.apply_report_charging_profiles,
                                m.ReportChargingProfilesResponse, durable=False),
    "NotifyEVChargingNeeds": A(s.answer_ev_charging_needs, s.apply_keep_latest, m.NotifyEVChargingNeedsResponse,
                               durable=False),
    "NotifyEVChargingSchedule": A(s.answer_ev_charging_schedule, s.apply_keep_latest,
                                  m.NotifyEVChargingScheduleResponse, durable=False),
    "NotifyDisplayMessages": A(empty(m.NotifyDisplayMessagesResponse),
                               display_messages.apply_notify_display_messages,
                               m.NotifyDisplayMessagesResponse, durable=False),
    "NotifyCustomerInformation": A(empty(m.NotifyCustomerInformationResponse),
                                   customer_information.apply_notify_customer_information,
                                   m.NotifyCustomerInformationResponse, durable=False),
    "NotifyMonitoringReport": A(empty(m.NotifyMonitoringReportResponse),
                                monitoring.apply_notify_monitoring_report,
                                m.NotifyMonitoringReportResponse, durable=False),
    "DataTransfer": A(s.answer_data_transfer, s.apply_nothing, m.DataTransferResponse, durable=False),
    # A02/A03 with the CSMS's CA (actors/ocpp201/certificates.py): durable, the CSR on disk first.
    "SignCertificate": A(cert201.answer_sign_certificate, cert201.apply_sign_certificate, m.SignCertificateResponse,
                         durable=True),
    "Get15118EVCertificate": A(s.answer_15118_certificate, s.apply_keep_latest, m.Get15118EVCertificateResponse,
                               durable=False),
    "GetCertificateStatus": A(s.answer_certificate_status, s.apply_keep_latest, m.GetCertificateStatusResponse,
                              durable=False),
}
assert set(ACTIONS) == set(m.REQUESTS), "every station-initiated 2.0.1 action is answered"


def authorization_outcome(request: Any, answer: Any) -> tuple[str, str | None]:
    info = getattr(answer, "idTokenInfo", None)
    transaction = getattr(request, "transactionInfo", None)
    return getattr(info, "status", ""), transaction.transactionId if transaction is not None else None


def after_apply(state: StationState, action: str, policy: Policy) -> None:
    # Cheap test first: after_apply runs after every TransactionEvent, not only the Ended ones.
    if action == "TransactionEvent" and len(state.transactions) > policy.completed_transactions_kept:
        s.forget_old_transactions(state, policy.completed_transactions_kept)


OCPP201 = Protocol(
    version="2.0.1",
    subprotocol="ocpp2.0.1",
    actions=ACTIONS,
    decode_request=m.decode_request,
    commands=c.COMMANDS,
    decode_command=c.decode_command,
    check_command=c.check_command,
    check_command_on=c.check_command_on,
    loggable_command=c.loggable_command,
    loggable_result=c.loggable_result,
    apply_command_result=c.apply_command_result,
    new_password=c.new_password,
    new_security_profile=c.new_security_profile,
    password_command=c.password_command,
    command_status=c.command_status,
    certificate_request=cert201.certificate_request,
    certificate_signed=cert201.certificate_signed,
    certificate_renewal=cert201.RENEWAL,
    requested_security_profile=cert201.requested_security_profile,
    # Part 2 B02 (Pending): while its boot is Pending the CSMS may read and configure the station
    # and trigger messages, but not start or stop transactions (as 1.6 section 4.2).
    not_while_pending=frozenset({"RequestStartTransaction", "RequestStopTransaction"}),
    renamed_commands={
        "RemoteStartTransaction": "RequestStartTransaction",
        "RemoteStopTransaction": "RequestStopTransaction",
        "ChangeConfiguration": "SetVariables",
        "GetConfiguration": "GetVariables",
        "GetDiagnostics": "GetLog",
    },
    station_timestamp_us=s.station_timestamp_us,
    id_token=s.id_token,
    after_apply=after_apply,
    authorization_outcome=authorization_outcome,
    # OCPP-J 2.0.1 section 4.3 renamed two error codes of 1.6.
    error_codes={
        ocppj.FORMATION_VIOLATION: "FormatViolation",
        ocppj.OCCURENCE_CONSTRAINT_VIOLATION: "OccurrenceConstraintViolation",
    },
)
