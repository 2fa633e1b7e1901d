"""OCPP 2.0.1 CustomerInformation (Part 2 N09 report, N10 clear): what a station holds about a customer, asked for or erased.

The request names the customer by exactly the references N09.FR.04 / N10.FR.08 allow; the
station's NotifyCustomerInformation parts (seqNo, tbc) of its requestId are kept with it,
joined in order, so support reads the answer without the lake. The data is personal: it is
bounded here and lives on in the lake only as long as the lake's retention.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from actors.ocpp201 import messages as m
from actors.station_state import CustomerInformation201, StationState, report_for

# Parts kept per request (512 characters each).
PARTS_KEPT = 32


def check_customer_information(req: m.CustomerInformationRequest) -> None:
    references = [r for r in (req.idToken, req.customerCertificate, req.customerIdentifier) if r is not None]
    # N09.FR.04 / N10.FR.08: "either an idToken, customerCertificate or customerIdentifier".
    if len(references) != 1:
        raise ValueError("name the customer by one of idToken, customerCertificate, customerIdentifier "
                         "(OCPP 2.0.1 N09.FR.04, N10.FR.08)")
    # N09.FR.01: to retrieve, report is true; N10: to erase, clear is true. Neither asks nothing.
    if not req.report and not req.clear:
        raise ValueError("report (N09.FR.01), clear (N10) or both must be true (OCPP 2.0.1 N09, N10)")


CHECKS: dict[str, Callable[[Any], None]] = {"CustomerInformation": check_customer_information}

# Personal data, but no credential: shown to the operators who may ask for it.
MASKS: dict[str, Callable[[dict], dict]] = {}


def customer_reference(req: m.CustomerInformationRequest) -> str:
    if req.idToken is not None:
        return f"idToken:{req.idToken.type}:{req.idToken.idToken}"
    if req.customerIdentifier is not None:
        return f"customerIdentifier:{req.customerIdentifier}"
    certificate = req.customerCertificate
    return f"certificate:{certificate.serialNumber}" if certificate is not None else ""


def _request(state: StationState, request_id: int) -> CustomerInformation201:
    # Parts of a request we did not see (sent before this CSMS knew the station) are kept
    # under their requestId, as a report about nobody in particular.
    return report_for(state.part201().customer_information, request_id,
                      lambda rid: CustomerInformation201(request_id=rid, report=True, clear=False, customer=""))


def apply_customer_information_result(state: StationState, req: m.CustomerInformationRequest,
                                      res: m.CustomerInformationResponse, at_us: int) -> None:
    record = _request(state, req.requestId)
    record.report, record.clear, record.customer = req.report, req.clear, customer_reference(req)
    record.status = res.status
    record.requested_at_us = at_us


def apply_notify_customer_information(state: StationState, req: m.NotifyCustomerInformationRequest,
                                      res: m.NotifyCustomerInformationResponse, at_us: int) -> None:
    """A part of the answer (N09: seqNo from 0, tbc on all but the last)."""
    record = _request(state, req.requestId)
    if req.seqNo not in record.seq_nos:
        if len(record.seq_nos) >= PARTS_KEPT:
            return  # in the lake; the view says it is incomplete
        bisect.insort(record.seq_nos, req.seqNo)
    record.data[req.seqNo] = req.data
    if not req.tbc:
        record.last_seq_no = req.seqNo


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "CustomerInformation": apply_customer_information_result,
}

NOTIFICATIONS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "NotifyCustomerInformation": apply_notify_customer_information,
}
