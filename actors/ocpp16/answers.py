"""What the CSMS answers to OCPP 1.6 station-initiated actions (the .conf PDUs), as msgspec Structs.

`answer_*` (station_side.py) return these; the CALLRESULT is their JSON, and the logged
CALLRESULT decodes back into them for `apply_*`, live and on replay. Field order is the wire
order we have always sent.
"""

from __future__ import annotations

import msgspec


class Answer(msgspec.Struct, omit_defaults=True):
    """Base of every answer: optional fields left unset are not sent."""


class IdTagInfo(Answer):
    status: str
    expiryDate: str | None = None
    parentIdTag: str | None = None


class BootNotificationResponse(Answer):
    status: str
    currentTime: str
    interval: int


class HeartbeatResponse(Answer):
    currentTime: str


class StatusNotificationResponse(Answer):
    pass


class AuthorizeResponse(Answer):
    idTagInfo: IdTagInfo


class StartTransactionResponse(Answer):
    transactionId: int
    idTagInfo: IdTagInfo


class MeterValuesResponse(Answer):
    pass


class StopTransactionResponse(Answer):
    idTagInfo: IdTagInfo | None = None


class DataTransferResponse(Answer):
    status: str
    data: str | None = None


class DiagnosticsStatusNotificationResponse(Answer):
    pass


class FirmwareStatusNotificationResponse(Answer):
    pass
