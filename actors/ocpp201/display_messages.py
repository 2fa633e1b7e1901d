"""OCPP 2.0.1 display messages (Part 2 O01-O06): the messages a station shows, set, read back and cleared by the CSMS.

SetDisplayMessage (O01 general, O02 for a transaction, O06 replace: the same id replaces),
GetDisplayMessages with the NotifyDisplayMessages parts of its requestId (O03 all, O04 some)
and ClearDisplayMessage (O05). The station's reports are the truth of what it holds: they
update the kept messages, and a complete answer to a request for all of them replaces them.
Requirement ids are OCPP 2.0.1 Part 2's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.ocpp201 import messages as m
from actors.station_state import DisplayMessage201, DisplayMessagesReport, StationState, report_for
from actors.timestamps import to_us

# Messages kept per station (a station displays a handful; this bounds a misbehaving one).
DISPLAY_MESSAGES_KEPT = 100


def check_set_display_message(req: m.SetDisplayMessageRequest) -> None:
    message = req.message
    # O01.FR.05: the CSMS MAY include a startTime and endTime; a message shown until before it
    # starts is shown never.
    if message.startDateTime is not None and message.endDateTime is not None \
            and to_us(message.endDateTime) <= to_us(message.startDateTime):
        raise ValueError("message.endDateTime must be after message.startDateTime (OCPP 2.0.1 O01.FR.05)")


CHECKS: dict[str, Callable[[Any], None]] = {"SetDisplayMessage": check_set_display_message}

# No secrets: a message is shown to anyone at the station.
MASKS: dict[str, Callable[[dict], dict]] = {}


def message_record(info: m.MessageInfoType, at_us: int) -> DisplayMessage201:
    content = info.message
    return DisplayMessage201(
        message_id=info.id, priority=info.priority, format=content.format, content=content.content,
        language=content.language, state=info.state,
        start_us=to_us(info.startDateTime) if info.startDateTime else None,
        end_us=to_us(info.endDateTime) if info.endDateTime else None,
        transaction_id=info.transactionId, display=info.display.name if info.display else None, set_at_us=at_us,
    )


def _keep(state: StationState, message: DisplayMessage201) -> None:
    messages = state.part201().display_messages
    messages.pop(message.message_id, None)  # re-inserted last: the dict keeps the newest last
    messages[message.message_id] = message
    for old in list(messages)[:-DISPLAY_MESSAGES_KEPT]:
        del messages[old]


def apply_set_display_message_result(state: StationState, req: m.SetDisplayMessageRequest,
                                     res: m.SetDisplayMessageResponse, at_us: int) -> None:
    # Accepted: shown (O06: a known id is replaced). The other statuses (NotSupportedPriority,
    # UnknownTransaction, ...) say why not; the station's set is unchanged.
    if res.status == "Accepted":
        _keep(state, message_record(req.message, at_us))


def apply_clear_display_message_result(state: StationState, req: m.ClearDisplayMessageRequest,
                                       res: m.ClearDisplayMessageResponse, at_us: int) -> None:
    # Accepted: removed; Unknown: it had none with that id (O05). Gone either way.
    state.part201().display_messages.pop(req.id, None)


def _report(state: StationState, request_id: int) -> DisplayMessagesReport:
    return report_for(state.part201().display_message_reports, request_id,
                      lambda rid: DisplayMessagesReport(request_id=rid))


def _replace_all(state: StationState, report: DisplayMessagesReport) -> None:
    """A complete answer to a request for every message is the whole set the station holds."""
    if report.complete and report.unfiltered and report.status is not None:
        kept = set(report.message_ids)
        messages = state.part201().display_messages
        for mid in [mid for mid in messages if mid not in kept]:
            del messages[mid]


def apply_get_display_messages_result(state: StationState, req: m.GetDisplayMessagesRequest,
                                      res: m.GetDisplayMessagesResponse, at_us: int) -> None:
    report = _report(state, req.requestId)
    report.unfiltered = req.id is None and req.priority is None and req.state is None
    report.status = res.status
    report.requested_at_us = at_us
    if res.status == "Unknown":
        report.complete = True  # no message matches: no NotifyDisplayMessages follows (O03, O04)
    _replace_all(state, report)


def apply_notify_display_messages(state: StationState, req: m.NotifyDisplayMessagesRequest,
                                  res: m.NotifyDisplayMessagesResponse, at_us: int) -> None:
    report = _report(state, req.requestId)
    report.parts += 1
    report.complete = report.complete or not req.tbc
    for info in req.messageInfo or ():
        if info.id not in report.message_ids:
            report.message_ids.append(info.id)
        _keep(state, message_record(info, at_us))
    del report.message_ids[:-DISPLAY_MESSAGES_KEPT]
    _replace_all(state, report)


COMMAND_RESULTS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "SetDisplayMessage": apply_set_display_message_result,
    "GetDisplayMessages": apply_get_display_messages_result,
    "ClearDisplayMessage": apply_clear_display_message_result,
}

NOTIFICATIONS: dict[str, Callable[[StationState, Any, Any, int], None]] = {
    "NotifyDisplayMessages": apply_notify_display_messages,
}
