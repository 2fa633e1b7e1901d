"""The lake's curated tables: where each lives and the columns it has (the contract).

Bronze (`actors.lake.BRONZE_SCHEMA`) is written by the live system. Everything here is
written by the analytics jobs and read by the reports, the anomaly models, the catalog
and the operator API. A job that writes a table writes exactly these columns in this
order (`conform` checks it), so a reader never guesses.

Day-partitioned tables live at `<root>/<layer>/<table>/year=YYYY/month=MM/day=DD/part-0.parquet`:
one file per partition, replaced atomically, so re-running a day replaces it whole.
The day of a row is the UTC day its event *happened* (the station's clock where it has one),
not the day it was received: late, offline-queued events land in their own day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from actors.durable_file import atomic_replace, fsync_dir

UTC_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    description: str
    unit: str | None = None
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    layer: str  # bronze | silver | gold
    name: str
    grain: str  # what one row is
    columns: tuple[Column, ...]
    partitioning: str  # "day" (year=/month=/day=), "month" (month=YYYY-MM) or "none"
    owner: str = "csms analytics"
    description: str = ""
    time_column: str | None = None  # the column whose UTC day picks the partition
    extra_files: tuple[str, ...] = field(default=())  # other formats written beside the Parquet

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def path(self, data_root: Path) -> Path:
        return Path(data_root) / self.layer / self.name


def _c(name: str, dtype: pl.DataType, description: str, unit: str | None = None, nullable: bool = True) -> Column:
    return Column(name, dtype, description, unit, nullable)


# --- silver ------------------------------------------------------------------------------

# A station re-sends a CALL it got no answer to, after a reconnect too, with the same message
# id and payload (OCPP-J 1.6 section 4.1.3: the id names the CALL). Silver takes a CALL with
# the station, message id, action and payload of one received at most this long before as
# that CALL again, whatever its timestamp; the same payload under a new message id is a new
# CALL. Long enough to cover a reconnect (a 20 s keepalive timeout, the station's backoff,
# then the re-sent CALL); short enough that a station numbering its messages afresh after a
# reboot is not taken for a retransmission. Applied by analytics.silver.staging.
RETRANSMISSION_WINDOW_S = 900
RETRANSMISSIONS = (f"Retransmissions are removed before the grain applies: a CALL with the station, message id, "
                   f"action and payload of one received at most {RETRANSMISSION_WINDOW_S // 60} minutes earlier is "
                   "that CALL again (its first copy is kept), whatever its timestamp; the same payload under a new "
                   "message id is a new CALL.")

STATUS_CHANGES = Table(
    "silver", "status_changes",
    grain="one StatusNotification per station, connector (2.0.1: EVSE and connector), station timestamp and "
          "content (retransmissions removed)",
    partitioning="day", time_column="event_ts",
    description=RETRANSMISSIONS + " Without a station timestamp only the message id tells a re-sent notification "
                                  "from a new one: any other is a status of its own, dated by its receive time.",
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("connector_id", pl.Int32, "0 = the whole station", nullable=False),
        _c("event_ts", UTC_TS, "when it happened: station timestamp, else receive time", nullable=False),
        _c("station_ts", UTC_TS, "the station's timestamp as sent (null if it sent none)"),
        _c("received_at", UTC_TS, "when the CSMS received it", nullable=False),
        _c("lateness_s", pl.Float64, "received_at - station_ts (0 when no station timestamp)", "s"),
        _c("status", pl.String, "ChargePointStatus (Available, Charging, Faulted, ...); 2.0.1 ConnectorStatus "
                                "(Available, Occupied, Reserved, Unavailable, Faulted)", nullable=False),
        _c("error_code", pl.String, "ChargePointErrorCode (NoError, GroundFailure, ...); 2.0.1 sends none "
                                    "(its errors come as NotifyEvent): NotReported", nullable=False),
        _c("info", pl.String, "free-text info"),
        _c("vendor_id", pl.String, "vendor namespace of vendor_error_code"),
        _c("vendor_error_code", pl.String, "vendor-specific error code"),
        _c("source", pl.String, "StationHost log of the first copy", nullable=False),
        _c("seq", pl.Int64, "sequence number in that log", nullable=False),
        _c("evse_id", pl.Int32, "2.0.1: the EVSE (connector_id is then the connector within it); null for 1.6"),
    ),
)

TRANSACTIONS = Table(
    "silver", "transactions",
    grain="one ended transaction (1.6 StopTransaction, 2.0.1 TransactionEvent Ended seen, or settled by the "
          "CSMS), per station and transaction id",
    partitioning="day", time_column="stop_ts",
    description=RETRANSMISSIONS,
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("transaction_id", pl.Int64, "1.6: id the CSMS assigned (the station's for orphans); null for 2.0.1 "
                                       "(station_transaction_id)"),
        _c("connector_id", pl.Int32, "connector (null for an orphan stop)"),
        _c("id_tag_hash", pl.String, "SHA-256 (hex, first 16 bytes) of the upper-cased id tag that started it"),
        _c("start_ts", UTC_TS, "StartTransaction timestamp (null for an orphan)"),
        _c("stop_ts", UTC_TS, "StopTransaction timestamp (settled: when the CSMS saw it over)", nullable=False),
        _c("duration_s", pl.Float64, "stop_ts - start_ts", "s"),
        _c("meter_start_wh", pl.Int64, "meter at start", "Wh"),
        _c("meter_stop_wh", pl.Int64, "meter at stop (settled: the CSMS's estimate, see meter_stop_estimated; "
                                      "2.0.1: null when its Ended carried no register reading)", "Wh"),
        _c("energy_wh", pl.Float64, "meter_stop_wh - meter_start_wh (2.0.1: of the readings before rounding)", "Wh"),
        _c("stop_reason", pl.String, "Reason of StopTransaction, 2.0.1 stoppedReason (Local when absent, per both); "
                                     "null when settled"),
        _c("is_orphan", pl.Boolean, "stop (or settlement) without a known start (e.g. transactionId -1)", nullable=False),
        _c("is_duplicate", pl.Boolean, "the station sent the StartTransaction more than once", nullable=False),
        _c("end_kind", pl.String,
           "how it ended: station (its StopTransaction) | csms (settled: the station's later frames showed it "
           "over: a new start on the connector, a reboot, the connector Available/Preparing) | operator "
           "(closed through the admin API). A settled transaction whose StopTransaction came on a later day "
           "has a station row on that day too: the station's wins", nullable=False),
        _c("settled_reason", pl.String,
           "why the CSMS settled it (Superseded, StationRebooted, ConnectorAvailable, ConnectorPreparing, or "
           "the operator's words); also on a station row whose stop came after a settlement in the lookback"),
        _c("meter_stop_estimated", pl.Boolean,
           "meter_stop_wh is the CSMS's estimate (the last energy register reading seen, else meter_start), "
           "not the station's meterStop: billing must reconcile it", nullable=False),
        _c("authorization", pl.String,
           "who authorized the start's id tag (AuthorizationDecided source): local | cache | downstream | "
           "free_vending | local_only | reject; null when no decision was logged (the local id-tag table "
           "answered with no external authorizer configured, the start predates the authorizer, or an orphan)"),
        _c("authorized_offline", pl.Boolean,
           "authorized without a live check (cache or free_vending): billing must reconcile it; "
           "null for an orphan (start unknown)"),
        _c("station_transaction_id", pl.String, "2.0.1: the transactionId the station assigned; null for 1.6"),
        _c("evse_id", pl.Int32, "2.0.1: the EVSE; null for 1.6"),
        _c("seq_gaps", pl.List(pl.Int32),
           "2.0.1: seqNos of the transaction's TransactionEvents that never arrived within the lookback (lost: "
           "the data, and so the energy, is incomplete); empty when complete; null for 1.6"),
    ),
)

METER_VALUES = Table(
    "silver", "meter_values",
    grain="one sampled value (station, EVSE (2.0.1), connector, sample time, measurand, phase, location)",
    partitioning="day", time_column="sampled_at",
    description=RETRANSMISSIONS,
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("connector_id", pl.Int32, "connector (0: unknown, from the transactionData of an orphan stop; 2.0.1: "
                                     "the EVSE's meter, MeterValues name no connector)", nullable=False),
        _c("transaction_id", pl.Int64, "1.6: transaction it belongs to, if any; null for 2.0.1 "
                                       "(station_transaction_id)"),
        _c("sampled_at", UTC_TS, "MeterValue timestamp", nullable=False),
        _c("received_at", UTC_TS, "when the CSMS received it", nullable=False),
        _c("context", pl.String, "ReadingContext (Sample.Periodic, Transaction.Begin, ...)"),
        _c("measurand", pl.String, "Measurand (default Energy.Active.Import.Register)", nullable=False),
        _c("phase", pl.String, "Phase (L1, L2-N, ...) or null"),
        _c("location", pl.String, "Location (Outlet, Inlet, EV, ...; default Outlet)"),
        _c("unit", pl.String, "unit as sent (default Wh for energy; 2.0.1: unitOfMeasure.unit)"),
        _c("raw_value", pl.String, "value as sent (2.0.1: the JSON number as text, before its multiplier)",
           nullable=False),
        _c("value", pl.Float64, "value in SI base unit (see si_unit); 2.0.1: raw_value x 10^unit_multiplier "
                                "converted; null for a 1.6 SignedData value"),
        _c("si_unit", pl.String, "Wh, varh, VAh, W, var, VA, A, V, Celsius, Percent, Hz, ..."),
        _c("evse_id", pl.Int32, "2.0.1: the EVSE (0: the station's main meter; a transaction's event naming none: "
                                "its start's); null for 1.6"),
        _c("station_transaction_id", pl.String, "2.0.1: the transactionId of the TransactionEvent it came in; "
                                                "null for MeterValues and 1.6"),
        _c("unit_multiplier", pl.Int32, "2.0.1: unitOfMeasure.multiplier as sent (a power of ten; absent = 0); "
                                        "null when not sent and for 1.6"),
        _c("signed_meter_value", pl.String,
           "2.0.1: the signedMeterValue as sent (JSON: signedMeterData, signingMethod, encodingMethod, publicKey), "
           "kept for a verifier of signed (calibration-law) readings; null when unsigned and for 1.6 (whose "
           "signed readings are format SignedData in raw_value)"),
    ),
)

CONNECTIVITY = Table(
    "silver", "connectivity",
    grain="one connectivity fact per station: connect, disconnect, boot, or heartbeat gap",
    partitioning="day", time_column="event_ts",
    description=RETRANSMISSIONS,
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("event_ts", UTC_TS, "when it happened (gap: when the gap ended)", nullable=False),
        _c("kind", pl.String, "connect | disconnect | boot | heartbeat_gap", nullable=False),
        _c("gap_s", pl.Float64, "heartbeat_gap: seconds without any inbound CALL", "s"),
        _c("close_code", pl.Int32, "disconnect: websocket close code, if known"),
        _c("detail", pl.String, "boot: reason/firmware; connect: connection id"),
    ),
)

QUARANTINE = Table(
    "silver", "quarantine",
    grain="one bronze event the curation could not interpret, with the reason",
    partitioning="day", time_column="received_at",
    columns=(
        _c("source", pl.String, "StationHost log", nullable=False),
        _c("seq", pl.Int64, "sequence number in that log", nullable=False),
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("received_at", UTC_TS, "when the CSMS received it", nullable=False),
        _c("action", pl.String, "OCPP action", nullable=False),
        _c("payload", pl.String, "payload as stored in bronze", nullable=False),
        _c("reason", pl.String, "why it was quarantined", nullable=False),
    ),
)

STATIONS = Table(
    "silver", "stations",
    grain="one station: its latest registration and boot information",
    partitioning="none",
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("site", pl.String, "site the operator registered it at"),
        _c("region", pl.String, "region (registration metadata 'region')"),
        _c("vendor", pl.String, "chargePointVendor of the latest boot"),
        _c("model", pl.String, "chargePointModel of the latest boot"),
        _c("firmware_version", pl.String, "firmware of the latest boot"),
        _c("registered_at", UTC_TS, "latest registration"),
        _c("deleted", pl.Boolean, "deregistered since", nullable=False),
    ),
)

AUTHORIZATIONS = Table(
    "silver", "authorizations",
    grain="one authorization answer: an Authorize or StartTransaction the CSMS answered (idTagInfo; 2.0.1: "
          "Authorize, a TransactionEvent Started or Updated with an idToken, idTokenInfo), or a "
          "RemoteStartTransaction (2.0.1: RequestStartTransaction) the CSMS sent and the station's answer "
          "(retried starts and events once)",
    partitioning="day", time_column="event_ts",
    description=RETRANSMISSIONS,
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("event_ts", UTC_TS, "when it was asked: StartTransaction (2.0.1 TransactionEvent) timestamp, else the "
                               "receive time of the Authorize, or when the CSMS sent the RemoteStartTransaction",
           nullable=False),
        _c("received_at", UTC_TS, "when the CSMS received the request (RemoteStart: sent it)", nullable=False),
        _c("action", pl.String, "Authorize | StartTransaction | RemoteStartTransaction; 2.0.1: Authorize | "
                                "TransactionEvent (a Started or an Updated carrying an idToken: E01-E05) | RequestStartTransaction",
           nullable=False),
        _c("connector_id", pl.Int32, "connector of a StartTransaction or RemoteStartTransaction (null: none named)"),
        _c("id_tag_hash", pl.String, "SHA-256 (hex, first 16 bytes) of the upper-cased id tag", nullable=False),
        _c("status", pl.String,
           "idTagInfo status sent (Accepted, Blocked, Expired, Invalid, ConcurrentTx); RemoteStart: the station's "
           "Accepted | Rejected, null when it answered with a CALLERROR or not at all"),
        _c("accepted", pl.Boolean, "status is Accepted", nullable=False),
        _c("authorization", pl.String,
           "AuthorizationDecided source (local | cache | downstream | free_vending | local_only | reject); "
           "null when no decision was logged (local id-tag table without an external authorizer; RemoteStart)"),
        _c("downstream", pl.String, "what asking the external authorizer gave (answered, breaker_open, "
                                    "unavailable, refused, not_asked); null when no decision was logged"),
        _c("transaction_id", pl.Int64, "StartTransaction: the transactionId the CSMS gave back (null for 2.0.1, "
                                       "whose ids are the station's)"),
        _c("message_id", pl.String, "OCPP-J message id of the request", nullable=False),
        _c("source", pl.String, "StationHost log of the request (first copy)", nullable=False),
        _c("seq", pl.Int64, "sequence number in that log", nullable=False),
        _c("station_transaction_id", pl.String, "2.0.1 TransactionEvent: the station's transactionId; null for "
                                                "1.6 and Authorize"),
    ),
)

COMPONENT_EVENTS = Table(
    "silver", "component_events",
    grain="one 2.0.1 NotifyEvent eventData per station, eventId and event timestamp (retransmissions removed)",
    partitioning="day", time_column="event_ts",
    description=RETRANSMISSIONS + " OCPP 2.0.1 stations report errors and monitored values as events of a "
                "component and variable of their device model (Part 2 N07, N08), not as a status error code. "
                "They are not counted as faults by gold.fault_report: a problem that takes a connector out of "
                "service is also reported as a Faulted connector status (silver.status_changes), which the report "
                "counts; counting the event too would count that fault twice, and problems that leave charging "
                "possible (a display, a modem) are not connector faults. `problem` marks the ones to study.",
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("event_ts", UTC_TS, "eventData timestamp: when it happened (station clock)", nullable=False),
        _c("received_at", UTC_TS, "when the CSMS received the NotifyEvent", nullable=False),
        _c("generated_at", UTC_TS, "the NotifyEvent's generatedAt", nullable=False),
        _c("event_id", pl.Int32, "eventId: the station's number for the event", nullable=False),
        _c("component", pl.String, "component name (e.g. Connector, EVSE, ChargingStation, PowerContactor)",
           nullable=False),
        _c("component_instance", pl.String, "component instance"),
        _c("evse_id", pl.Int32, "the component's EVSE, if it belongs to one"),
        _c("connector_id", pl.Int32, "the component's connector within that EVSE, if any"),
        _c("variable", pl.String, "variable name (e.g. Problem, Tripped, Temperature)", nullable=False),
        _c("variable_instance", pl.String, "variable instance"),
        _c("trigger", pl.String, "Alerting | Delta | Periodic", nullable=False),
        _c("actual_value", pl.String, "the variable's Actual value as sent", nullable=False),
        _c("event_notification_type", pl.String,
           "HardWiredNotification | HardWiredMonitor | PreconfiguredMonitor | CustomMonitor", nullable=False),
        _c("cleared", pl.Boolean, "the monitored situation was cleared (false when not sent)", nullable=False),
        _c("problem", pl.Boolean, "the component reports a problem: variable Problem, actual value true, not "
                                  "cleared", nullable=False),
        _c("tech_code", pl.String, "techCode: the component's technical (error) code"),
        _c("tech_info", pl.String, "techInfo: technical detail as reported"),
        _c("cause", pl.Int32, "eventId of the event that caused this one"),
        _c("station_transaction_id", pl.String, "the transaction it is linked to (the station's transactionId)"),
        _c("variable_monitoring_id", pl.Int32, "the monitor that triggered it (monitor notifications)"),
        _c("message_id", pl.String, "OCPP-J message id of the NotifyEvent", nullable=False),
        _c("source", pl.String, "StationHost log of the first copy", nullable=False),
        _c("seq", pl.Int64, "sequence number in that log", nullable=False),
    ),
)

SECURITY_EVENTS = Table(
    "silver", "security_events",
    grain="one SecurityEventNotification the CSMS answered (1.6 security whitepaper and 2.0.1 use case A04), "
          "per station, type, station timestamp and techInfo (a re-sent one counts once)",
    partitioning="day", time_column="station_ts",
    description="Both OCPP versions in one table. Critical as the specs list them (1.6 security whitepaper "
                "appendix 1, 2.0.1 Part 2 appendix: the same seven events; actors/security_events.py). A "
                "notification the CSMS refused (CALLERROR) is in silver.quarantine instead.",
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("ocpp_version", pl.String, "OCPP version of the connection it came over (1.6, 2.0.1)", nullable=False),
        _c("type", pl.String, "the event type as the station sent it (free text, at most 50 characters; the "
                              "specs' appendices list the defined ones, e.g. TamperDetectionActivated)", nullable=False),
        _c("tech_info", pl.String, "the station's additional information (techInfo, at most 255 characters)"),
        _c("station_ts", UTC_TS, "when it happened by the station's clock (timestamp)", nullable=False),
        _c("received_at", UTC_TS, "when the CSMS received it (late when the station queued it offline)",
           nullable=False),
        _c("critical", pl.Boolean, "one the specs call critical: FirmwareUpdated, SettingSystemTime, "
                                   "StartupOfTheDevice, ResetOrReboot, SecurityLogWasCleared, MemoryExhaustion, "
                                   "TamperDetectionActivated (compared without case)", nullable=False),
        _c("message_id", pl.String, "OCPP-J message id of the notification (first copy)", nullable=False),
        _c("source", pl.String, "StationHost log of the first copy", nullable=False),
        _c("seq", pl.Int64, "sequence number in that log", nullable=False),
    ),
)

# --- gold --------------------------------------------------------------------------------

FAULT_REPORT = Table(
    "gold", "fault_report",
    grain="one station with >= 5 Faulted statuses in a single UTC day of the month",
    partitioning="month", extra_files=("report.csv",),
    columns=(
        _c("month", pl.String, "YYYY-MM", nullable=False),
        _c("rank", pl.Int32, "1 = most Faulted statuses in the month", nullable=False),
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("site", pl.String, "site"),
        _c("faults_in_month", pl.Int64, "Faulted statuses in the month", nullable=False),
        _c("worst_day", pl.Date, "UTC day with the most faults", nullable=False),
        _c("worst_day_faults", pl.Int64, "faults on worst_day", nullable=False),
        _c("days_at_or_over_threshold", pl.Int32, "days with >= 5 faults", nullable=False),
        _c("daily_counts", pl.String, "JSON object day -> faults, days with faults only", nullable=False),
        _c("error_codes", pl.String, "JSON object error code -> count", nullable=False),
        _c("faulted_connectors", pl.String, "JSON object connector id -> Faulted statuses in the month "
                                            "(0 = the whole station)", nullable=False),
        _c("still_faulted_connectors", pl.String,
           "JSON list of the faulted connectors whose latest status in silver when the report was built is "
           "Faulted; [] = the station has recovered", nullable=False),
    ),
)

MASS_OUTAGES = Table(
    "gold", "mass_outages",
    grain="one incident: many stations of one site or region offline/faulted together",
    partitioning="day", time_column="window_start",
    columns=(
        _c("incident_id", pl.String, "stable id: scope, key and window start", nullable=False),
        _c("scope", pl.String, "site | region", nullable=False),
        _c("scope_key", pl.String, "the site or region", nullable=False),
        _c("window_start", UTC_TS, "start of the window", nullable=False),
        _c("window_end", UTC_TS, "end of the window", nullable=False),
        _c("stations_affected", pl.Int32, "stations that went offline or Faulted/Unavailable", nullable=False),
        _c("stations_in_scope", pl.Int32, "stations of the site/region", nullable=False),
        _c("expected", pl.Float64, "normal number of such stations per window"),
        _c("score", pl.Float64, "how far above normal (robust z)"),
        _c("station_ids", pl.String, "JSON list of affected stations", nullable=False),
    ),
)

MAINTENANCE_SCORES = Table(
    "gold", "maintenance_scores",
    grain="one station and day: features and failure-risk score",
    partitioning="day", time_column="day_ts",
    columns=(
        _c("station_id", pl.String, "station identity", nullable=False),
        _c("day_ts", UTC_TS, "midnight UTC of the scored day", nullable=False),
        _c("rank", pl.Int32, "1 = most at risk that day", nullable=False),
        _c("score", pl.Float64, "risk score, higher is worse", nullable=False),
        _c("faults", pl.Int32, "Faulted statuses"),
        _c("reboots", pl.Int32, "BootNotifications"),
        _c("disconnects", pl.Int32, "websocket disconnects"),
        _c("failed_starts", pl.Int32, "authorizations refused: Authorize/StartTransaction not Accepted, "
                                       "RemoteStartTransaction Rejected (silver.authorizations)"),
        _c("meter_cadence_cv", pl.Float64, "coefficient of variation of MeterValues intervals"),
        _c("energy_per_session_wh", pl.Float64, "mean energy per completed session", "Wh"),
        _c("top_features", pl.String, "JSON list of the features that drove the score", nullable=False),
    ),
)

SILVER_TABLES = (STATUS_CHANGES, TRANSACTIONS, METER_VALUES, CONNECTIVITY, QUARANTINE, STATIONS, AUTHORIZATIONS,
                 SECURITY_EVENTS, COMPONENT_EVENTS)
GOLD_TABLES = (FAULT_REPORT, MASS_OUTAGES, MAINTENANCE_SCORES)


# --- reading and writing partitions ------------------------------------------------------

PART_FILE = "part-0.parquet"


def day_dir(table: Table, data_root: Path, day: dt.date) -> Path:
    return table.path(data_root) / f"year={day.year:04d}" / f"month={day.month:02d}" / f"day={day.day:02d}"


def month_dir(table: Table, data_root: Path, month: str) -> Path:
    return table.path(data_root) / f"month={month}"


def conform(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with exactly the table's columns in order, cast to their types; raises if
    a column is missing (a bug in the job, never bad input)."""
    missing = [c.name for c in table.columns if c.name not in frame.columns]
    if missing:
        raise ValueError(f"{table.layer}.{table.name}: missing columns {missing}")
    return frame.select([pl.col(c.name).cast(c.dtype) for c in table.columns])


def write_partition(table: Table, directory: Path, frame: pl.DataFrame) -> Path:
    """Replace the partition in `directory` with `frame`, atomically and durably.

    An empty frame still writes a file (with the schema) so that "this day was curated and
    had nothing" differs from "this day was never curated".
    """
    frame = conform(table, frame)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PART_FILE
    with atomic_replace(path) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
    fsync_dir(directory.parent)
    return path


def table_glob(table: Table, data_root: Path) -> str:
    if table.partitioning == "day":
        return str(table.path(data_root) / "year=*" / "month=*" / "day=*" / "*.parquet")
    if table.partitioning == "month":
        return str(table.path(data_root) / "month=*" / "*.parquet")
    return str(table.path(data_root) / "*.parquet")


def read_sql(table: Table, data_root: Path) -> str:
    """A DuckDB table expression over every file of the table (partition columns as integers)."""
    glob = table_glob(table, data_root).replace("'", "''")
    if table.partitioning == "day":
        return (f"read_parquet('{glob}', hive_partitioning=true, union_by_name=true, "
                "hive_types={'year': INTEGER, 'month': INTEGER, 'day': INTEGER})")
    if table.partitioning == "month":
        return f"read_parquet('{glob}', hive_partitioning=true, union_by_name=true, hive_types={{'month': VARCHAR}})"
    return f"read_parquet('{glob}', union_by_name=true)"
