"""Staged records: what the table builders read, the same for every OCPP version (a staging module makes them).

Each record keeps the bronze row it came from (`row`: station, message id, receive time,
source and seq, payload for quarantine reasons) and what the table needs of its payload,
with times as integer microseconds (UTC).
"""

from __future__ import annotations

import msgspec

from actors.station_state import ComponentEvent
from analytics.silver.bronze import BronzeRow


class StatusReported(msgspec.Struct):
    """A connector's status as the station reported it (StatusNotification of 1.6 or 2.0.1)."""

    row: BronzeRow
    connector_id: int
    station_ts: int | None  # None: the station sent no timestamp (optional in 1.6)
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    evse_id: int | None = None  # 2.0.1: the EVSE the connector belongs to


class TransactionStarted(msgspec.Struct):
    """A transaction start the CSMS answered (1.6 StartTransaction with the id it gave back;
    2.0.1 TransactionEvent Started with the station's own id)."""

    row: BronzeRow
    connector_id: int
    id_tag: str | None  # 2.0.1: None when it started before any token (cable plugged in first)
    start_us: int
    meter_start_wh: int | float | None  # 2.0.1: None when the Started carried no register reading
    transaction_id: int | str  # 1.6: the id the CSMS gave back; 2.0.1: the station's transactionId
    id_tag_status: str | None  # the idTagInfo / idTokenInfo status the CSMS answered with
    evse_id: int | None = None  # 2.0.1


class TransactionStopped(msgspec.Struct):
    row: BronzeRow
    transaction_id: int | str
    stop_us: int
    meter_stop_wh: int | float | None  # 2.0.1: None when the Ended carried no register reading
    reason: str  # the version's default when the station named none
    evse_id: int | None = None  # 2.0.1


class TransactionEventSeen(msgspec.Struct):
    """One numbered event of a transaction (2.0.1 TransactionEvent seqNo): the numbers that
    never arrived are the transaction's seq gaps."""

    station_id: str
    transaction_id: str
    seq_no: int


class ComponentEventReported(msgspec.Struct):
    """One eventData of a 2.0.1 NotifyEvent (Part 2 N07, N08): a component/variable's monitored value."""

    row: BronzeRow
    generated_at_us: int  # the NotifyEvent's generatedAt
    event: ComponentEvent  # as the live state keeps it (actors.ocpp201.station_side.component_event)


class Booted(msgspec.Struct):
    row: BronzeRow
    vendor: str
    model: str
    firmware_version: str | None
    status: str  # the CSMS's answer (Accepted, Pending, Rejected); "" when not in bronze


class Authorized(msgspec.Struct):
    """An id tag the station asked the CSMS about (1.6 and 2.0.1 Authorize; 2.0.1 also a token that
    arrived in a TransactionEvent Updated, E02/E05), with the status answered."""

    row: BronzeRow
    id_tag: str
    status: str
    # A TransactionEvent's: when it happened, its connector and the station's transactionId.
    event_us: int | None = None
    connector_id: int | None = None
    transaction_id: str | None = None


class RemoteStartSent(msgspec.Struct):
    """A start the CSMS asked the station for (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction), with the station's answer."""

    row: BronzeRow  # the CALL the CSMS sent
    id_tag: str
    connector_id: int | None
    status: str | None  # None: no answer, or a CALLERROR


class SecurityEventReported(msgspec.Struct):
    """A security event the station notified (SecurityEventNotification of 1.6 or 2.0.1)."""

    row: BronzeRow
    type: str
    tech_info: str | None
    station_ts: int
    critical: bool  # as actors.security_events lists them


class SampledValues:
    """The sampled values of the day's meter readings, column by column (one list per column):
    millions of samples are flattened in one tight loop, then handled as one frame.

    `messages` holds one entry per message (MeterValues, a transaction stop's meter data,
    a 2.0.1 TransactionEvent's meterValue), in receive order; `samples` one per sampled
    value, `msg` naming its message. A connector (and a 2.0.1 EVSE) that is None: the table
    builder knows it from the transaction's start. `transaction_id` is the version's id (1.6:
    the CSMS's integer, 2.0.1: the station's string); `value` the number as sent (text);
    `multiplier` (2.0.1 unitOfMeasure) the power of ten it is scaled by, None for 1.6;
    `signed` the 2.0.1 signedMeterValue as sent (JSON text), None when unsigned.
    """

    MESSAGE_COLUMNS = ("station_id", "received_at", "source", "seq", "evse", "connector", "transaction_id")
    SAMPLE_COLUMNS = ("msg", "sampled_at", "value", "context", "format", "measurand", "phase", "location",
                      "unit_sent", "multiplier", "signed")

    def __init__(self) -> None:
        self.messages: dict[str, list] = {k: [] for k in self.MESSAGE_COLUMNS}
        self.samples: dict[str, list] = {k: [] for k in self.SAMPLE_COLUMNS}
        self.rows: list[BronzeRow] = []  # the bronze row of each message

    def add_message(self, row: BronzeRow, connector: int | None, transaction_id: int | str | None,
                    evse: int | None = None) -> int:
        """Start a message; returns its index for `samples["msg"]`."""
        for k in ("station_id", "received_at", "source", "seq"):
            self.messages[k].append(row[k])
        self.messages["evse"].append(evse)
        self.messages["connector"].append(connector)
        self.messages["transaction_id"].append(transaction_id)
        self.rows.append(row)
        return len(self.rows) - 1


class Staged(msgspec.Struct):
    """The interpreted CALLs of a day's bronze window, retransmissions removed (analytics.silver.staging)."""

    statuses: list[StatusReported] = []
    stops: list[TransactionStopped] = []
    boots: list[Booted] = []
    authorizes: list[Authorized] = []
    component_events: list[ComponentEventReported] = []
    samples: SampledValues = msgspec.field(default_factory=SampledValues)
