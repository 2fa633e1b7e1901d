"""Bronze rows -> the silver tables of one UTC day: pure functions, no files, no clocks.

`curate_day_frames(day, window, starts, ...)` takes the bronze rows that can contribute to
`day` (see analytics.curate for how they are found) and returns one frame per silver
table, each holding exactly the rows whose time column falls on `day`. The rules:

- A station CALL counts when the CSMS answered it with a CALLRESULT (or its answer is not
  in bronze); one answered with a CALLERROR, a Malformed frame, a payload that does not
  decode under the OCPP 1.6 schema, or a sampled value that is not a number in a known
  unit goes to quarantine with the reason. Nothing is dropped without a trace.
- Stations retry transaction messages until answered (OCPP 1.6 section 4.8-4.10), so
  retransmissions are removed: status changes by identical content, meter values by their
  grain, starts by the transactionId the CSMS gave back, stops by content.
- A row's day is the day it happened by the station's clock where the message carries one.
- How an id tag was authorized comes from the AuthorizationDecided event the session logs
  with the message id and receive time of the CALL it decided (StationSession._handle_call):
  it is folded onto that CALL's transaction and authorization rows, never kept on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import msgspec
import polars as pl

from actors import events as ev
from actors.authorizer.decision import OFFLINE_SOURCES, AuthorizationDecided
from actors.ocpp16 import messages as m
from actors.ocpp16.station_side import to_us
from analytics import tables as t
from analytics import units

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
CURATED_VERSION = "1.6"
# Actions whose payload silver interprets; other accepted CALLs (DataTransfer, firmware/
# diagnostics status) are in bronze and out of silver's scope, not quarantined.
_INTERPRETED = ("StatusNotification", "StartTransaction", "StopTransaction", "MeterValues", "BootNotification",
                "Authorize")
REMOTE_START = "RemoteStartTransaction"


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def us_day(us: int) -> int:
    return us // _US_PER_DAY


def id_tag_hash(id_tag: str | None) -> str | None:
    """SHA-256 of the id tag (upper-cased: 1.6 idTags are case-insensitive), first 16 bytes in hex."""
    if id_tag is None:
        return None
    return hashlib.sha256(id_tag.upper().encode()).hexdigest()[:32]


class _Registered(msgspec.Struct):
    # The public part of actors.station_state.Registration (its password hash is blanked).
    site: str | None = None
    metadata: dict[str, str] = {}
    registered_at_us: int = 0


class _Disconnected(msgspec.Struct):
    connection_id: str | None = None
    close_code: int | None = None


class _IdTagInfo(msgspec.Struct):
    status: str


class _StartResult(msgspec.Struct):
    transactionId: int
    idTagInfo: _IdTagInfo | None = None


class _AuthorizeResult(msgspec.Struct):
    idTagInfo: _IdTagInfo


class _RemoteStart(msgspec.Struct):
    # Lenient on purpose: the CSMS validated what it sent; silver only needs these two.
    idTag: str
    connectorId: int | None = None


class _RemoteStartResult(msgspec.Struct):
    status: str


_registered_decoder = msgspec.json.Decoder(_Registered)
_disconnected_decoder = msgspec.json.Decoder(_Disconnected)
_start_result_decoder = msgspec.json.Decoder(_StartResult)
_authorize_result_decoder = msgspec.json.Decoder(_AuthorizeResult)
_remote_start_decoder = msgspec.json.Decoder(_RemoteStart)
_remote_start_result_decoder = msgspec.json.Decoder(_RemoteStartResult)
_decided_decoder = msgspec.json.Decoder(AuthorizationDecided)
_error_decoder = msgspec.json.Decoder(list)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300]


class Quarantine:
    """Collects the bronze events of the day that could not be interpreted, one row each."""

    def __init__(self, day: int) -> None:
        self.day = day
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}

    def add(self, row: dict[str, Any], reason: str) -> None:
        if us_day(row["received_at"]) != self.day:
            return  # quarantined by the curation of the day it was received
        key = (row["source"], row["seq"])
        if key in self.rows:
            if reason not in self.rows[key]["reason"]:
                self.rows[key]["reason"] += "; " + reason
            return
        self.rows[key] = {
            "source": row["source"], "seq": row["seq"], "station_id": row["station_id"],
            "received_at": row["received_at"], "action": row["action"] or "",
            "payload": row["payload"] or "", "reason": reason,
        }

    def frame(self) -> pl.DataFrame:
        rows = sorted(self.rows.values(), key=lambda r: (r["received_at"], r["source"], r["seq"]))
        return _frame(t.QUARANTINE, rows)


def _frame(table: t.Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {c.name: (pl.Int64 if c.dtype == t.UTC_TS else c.dtype) for c in table.columns}
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return frame.with_columns([pl.col(c.name).cast(t.UTC_TS) for c in table.columns if c.dtype == t.UTC_TS])


def _micros_of(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col("station_id"), pl.col("received_at").dt.epoch("us"))


def _micros(frame: pl.DataFrame) -> pl.DataFrame:
    """Bronze with times as integer microseconds: the builders below work on plain ints."""
    return frame.with_columns(
        pl.col("received_at").dt.epoch("us"), pl.col("station_ts").dt.epoch("us"),
    )


def answered_calls(frame: pl.DataFrame, actions: list[str] | None = None) -> pl.DataFrame:
    """Inbound CALLs with the CSMS's answer beside them (answer_type null: no answer in bronze);
    with `actions`, only the CALLs of those actions and those the CSMS refused.

    The CSMS logs its answer with the receive time of the CALL it answers
    (StationSession._event), so (station, message id, receive time, action) pairs them
    even when a station reuses message ids.
    """
    key = ["station_id", "message_id", "received_at", "action"]
    calls = frame.filter((pl.col("direction") == "in") & (pl.col("message_type") == "CALL"))
    answers = frame.filter((pl.col("direction") == "out") & pl.col("message_type").is_in(["CALLRESULT", "CALLERROR"]))
    if actions is not None:
        refused = answers.filter(pl.col("message_type") == "CALLERROR").select(key)
        calls = pl.concat([calls.filter(pl.col("action").is_in(actions)),
                           calls.filter(~pl.col("action").is_in(actions)).join(refused, on=key, how="semi")])
        answers = answers.filter(pl.col("action").is_in(actions) | (pl.col("message_type") == "CALLERROR"))
    answers = (
        answers
        .sort("source", "seq")
        .unique(subset=key, keep="first", maintain_order=True)
        .select(*key, pl.col("message_type").alias("answer_type"), pl.col("payload").alias("answer"))
    )
    return calls.join(answers, on=key, how="left")


def _refusal(row: dict[str, Any]) -> str | None:
    """Why the CSMS refused the CALL (its CALLERROR), or None if it was answered."""
    if row["answer_type"] != "CALLERROR":
        return None
    try:
        code, description, *_ = _error_decoder.decode(row["answer"])
    except (msgspec.DecodeError, ValueError, TypeError):
        code, description = "?", row["answer"]
    if row["action"] == ev.MALFORMED:
        return f"malformed OCPP-J frame ({code}): {description}"
    return f"refused by the CSMS ({code}): {description}"


def _decode(row: dict[str, Any], quarantine: Quarantine) -> m.Payload | None:
    if row["ocpp_version"] != CURATED_VERSION:
        quarantine.add(row, f"OCPP version {row['ocpp_version']!r} is not curated")
        return None
    try:
        return m.decode_request(row["action"], (row["payload"] or "").encode())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        quarantine.add(row, f"{row['action']} payload does not match the OCPP 1.6 schema: {_short(exc)}")
        return None


def curate_day_frames(
    day: dt.date, window: pl.DataFrame, starts: pl.DataFrame, heartbeat_gap_s: float,
    last_calls_before: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """The silver rows of `day`: {table name: frame} for every day-partitioned silver table.

    `window`: bronze rows (BRONZE_SCHEMA) received or happened on `day`, plus MeterValues
    and StopTransactions of the day before and stops of the day after whose samples may
    fall on `day`, and station answers to RemoteStartTransaction received the day after.
    `starts`: the StartTransaction CALLs and answers of the lookback period, and the
    AuthorizationDecided events received in it.
    `last_calls_before`: per station, the receive time of its last CALL before `day`
    (station_id, received_at), where heartbeat gaps spanning midnight begin.
    """
    d = day_number(day)
    window = _micros(window.filter(pl.struct("source", "seq").is_first_distinct()))
    quarantine = Quarantine(d)
    # Only what silver interprets or quarantines is looked at row by row (not heartbeats).
    of_interest = answered_calls(window, [*_INTERPRETED, ev.MALFORMED]).sort("received_at", "source", "seq")
    calls = window.filter((pl.col("direction") == "in") & (pl.col("message_type") == "CALL"))

    accepted: dict[str, list[tuple[dict[str, Any], m.Payload]]] = defaultdict(list)
    for row in of_interest.iter_rows(named=True):
        reason = _refusal(row)
        if reason is not None:
            quarantine.add(row, reason)
        elif row["action"] == ev.MALFORMED:
            quarantine.add(row, "malformed OCPP-J frame")
        elif row["action"] in _INTERPRETED:
            payload = _decode(row, quarantine)
            if payload is not None:
                accepted[row["action"]].append((row, payload))

    starts = _micros(starts)
    decisions = authorization_decisions([window, starts], quarantine)
    answered = answered_starts(starts, quarantine)
    starts_by_tx = transaction_starts(answered, decisions)
    frames = {
        t.STATUS_CHANGES.name: status_changes(d, accepted["StatusNotification"]),
        t.TRANSACTIONS.name: transactions(d, accepted["StopTransaction"], starts_by_tx),
        t.METER_VALUES.name: meter_values(
            d, accepted["MeterValues"], accepted["StopTransaction"], starts_by_tx, quarantine),
        t.CONNECTIVITY.name: connectivity(d, window, accepted["BootNotification"], calls, heartbeat_gap_s, quarantine,
                                          last_calls_before),
        t.AUTHORIZATIONS.name: authorizations(d, window, accepted["Authorize"], answered, decisions, quarantine),
    }
    frames[t.QUARANTINE.name] = quarantine.frame()
    return frames


# --- status_changes: one StatusNotification per station, connector, station timestamp, content --


def status_changes(d: int, notes: Iterable[tuple[dict[str, Any], m.StatusNotificationRequest]]) -> pl.DataFrame:
    seen: set[tuple] = set()
    rows = []
    for row, req in notes:  # in receive order: the first copy wins
        event_ts = to_us(req.timestamp) if req.timestamp is not None else row["received_at"]
        if us_day(event_ts) != d:
            continue
        # A retransmission repeats the payload exactly; without a station timestamp two
        # notifications are told apart by when they were received.
        key = (row["station_id"], req.connectorId, event_ts, req.status, req.errorCode, req.info,
               req.vendorId, req.vendorErrorCode)
        if key in seen:
            continue
        seen.add(key)
        station_ts = event_ts if req.timestamp is not None else None
        rows.append({
            "station_id": row["station_id"], "connector_id": req.connectorId, "event_ts": event_ts,
            "station_ts": station_ts, "received_at": row["received_at"],
            "lateness_s": (row["received_at"] - station_ts) / 1e6 if station_ts is not None else 0.0,
            "status": req.status, "error_code": req.errorCode, "info": req.info,
            "vendor_id": req.vendorId, "vendor_error_code": req.vendorErrorCode,
            "source": row["source"], "seq": row["seq"],
        })
    rows.sort(key=lambda r: (r["station_id"], r["connector_id"], r["event_ts"], r["source"], r["seq"]))
    return _frame(t.STATUS_CHANGES, rows)


# --- transactions: one completed transaction per station and transaction id ------------------


class Start(msgspec.Struct):
    connector_id: int
    id_tag: str
    start_us: int
    meter_start: int
    copies: int = 1
    authorization: str | None = None  # the AuthorizationDecided source, if one was logged


# A StartTransaction the CSMS answered: the bronze CALL (with its answer), the request, the answer.
AnsweredStart = tuple[dict[str, Any], m.StartTransactionRequest, _StartResult]


def answered_starts(starts: pl.DataFrame, quarantine: Quarantine) -> list[AnsweredStart]:
    """The StartTransactions of `starts` the CSMS answered with a transaction id, in receive order."""
    found: list[AnsweredStart] = []
    if starts.is_empty():
        return found
    calls = answered_calls(starts.unique(subset=["source", "seq"], keep="first")).sort("received_at", "source", "seq")
    for row in calls.iter_rows(named=True):
        if row["answer_type"] != "CALLRESULT":
            continue  # refused or unanswered: no transaction id was given out
        req = _decode(row, quarantine)
        if req is None:
            continue
        try:
            result = _start_result_decoder.decode(row["answer"])
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"StartTransaction answer has no transactionId: {_short(exc)}")
            continue
        found.append((row, req, result))
    return found


def transaction_starts(answered: list[AnsweredStart], decisions: Decisions) -> dict[tuple[str, int], Start]:
    """(station, transactionId) -> its StartTransaction, from the CALLs and the ids the CSMS answered."""
    found: dict[tuple[str, int], Start] = {}
    for row, req, result in answered:
        key = (row["station_id"], result.transactionId)
        decided = decisions.get(decision_key(row))
        start = found.get(key)
        if start is None:
            start = found[key] = Start(req.connectorId, req.idTag, to_us(req.timestamp), req.meterStart)
        else:
            start.copies += 1  # the CSMS gave a retried start the id it already had
        # As the live fold does: a retried start keeps the decision the transaction started with.
        if start.authorization is None and decided is not None:
            start.authorization = decided.source
    return found


def transactions(
    d: int, stops: Iterable[tuple[dict[str, Any], m.StopTransactionRequest]], starts: dict[tuple[str, int], Start],
) -> pl.DataFrame:
    rows: dict[tuple, dict[str, Any]] = {}
    for row, req in stops:  # in receive order: the first stop of a transaction wins
        stop_us = to_us(req.timestamp)
        if us_day(stop_us) != d:
            continue
        start = starts.get((row["station_id"], req.transactionId))
        # A known transaction has one row whatever the station resent; orphans (-1, or an id
        # we never gave out, or a start older than the lookback) are told apart by content.
        key = (row["station_id"], req.transactionId) if start else (
            row["station_id"], req.transactionId, stop_us, req.meterStop)
        if key in rows:
            continue
        rows[key] = {
            "station_id": row["station_id"], "transaction_id": req.transactionId,
            "connector_id": start.connector_id if start else None,
            "id_tag_hash": id_tag_hash(start.id_tag) if start else None,
            "start_ts": start.start_us if start else None, "stop_ts": stop_us,
            "duration_s": (stop_us - start.start_us) / 1e6 if start else None,
            "meter_start_wh": start.meter_start if start else None, "meter_stop_wh": req.meterStop,
            "energy_wh": float(req.meterStop - start.meter_start) if start else None,
            "stop_reason": req.reason or "Local", "is_orphan": start is None,
            "is_duplicate": bool(start and start.copies > 1),
            "authorization": start.authorization if start else None,
            "authorized_offline": start.authorization in OFFLINE_SOURCES if start else None,
        }
    ordered = sorted(rows.values(), key=lambda r: (r["station_id"], r["stop_ts"], r["transaction_id"]))
    return _frame(t.TRANSACTIONS, ordered)


# --- meter_values: one sampled value per station, connector, time, measurand, phase, location --


def _conversions(pairs: pl.DataFrame) -> pl.DataFrame:
    """The SI conversion of each distinct (measurand, unit) pair, or why there is none."""
    rows = []
    for measurand, unit in pairs.iter_rows():
        try:
            si_unit, factor, offset = units.conversion(measurand, unit)
            error = None
        except units.UnitError as exc:
            si_unit, factor, offset, error = None, None, None, str(exc)
        rows.append((measurand, unit, units.effective_unit(measurand, unit), si_unit, factor, offset, error))
    return pl.DataFrame(rows, orient="row", schema={
        "measurand": pl.String, "unit_sent": pl.String, "unit": pl.String, "si_unit": pl.String,
        "factor": pl.Float64, "offset": pl.Float64, "unit_error": pl.String})


def meter_values(
    d: int,
    messages: Iterable[tuple[dict[str, Any], m.MeterValuesRequest]],
    stops: Iterable[tuple[dict[str, Any], m.StopTransactionRequest]],
    starts: dict[tuple[str, int], Start],
    quarantine: Quarantine,
) -> pl.DataFrame:
    """The msgspec-decoded payloads are flattened into columns in one tight loop; dedupe, unit
    conversion and checks run vectorised; only what fails is looked at one by one, for its reason."""
    sources: list[tuple[dict[str, Any], int, int | None, list]] = [
        (row, req.connectorId, req.transactionId, req.meterValue) for row, req in messages]
    for row, req in stops:
        if req.transactionData:
            start = starts.get((row["station_id"], req.transactionId))
            # 0: the stop names no connector and its start is unknown (an orphan).
            sources.append((row, start.connector_id if start else 0, req.transactionId, req.transactionData))
    # Receive order, so that the first copy of a retransmitted sample is the one kept.
    sources.sort(key=lambda src: (src[0]["received_at"], src[0]["source"], src[0]["seq"]))
    msg: dict[str, list] = {k: [] for k in ("station_id", "received_at", "source", "seq", "connector", "transaction_id")}
    col: dict[str, list] = {k: [] for k in ("msg", "sampled_at", "value", "context", "format", "measurand", "phase",
                                            "location", "unit_sent")}
    for i, (row, connector, tx_id, values) in enumerate(sources):
        for k in ("station_id", "received_at", "source", "seq"):
            msg[k].append(row[k])
        msg["connector"].append(connector)
        msg["transaction_id"].append(tx_id)
        for value in values:
            sampled_us = to_us(value.timestamp)
            if sampled_us // _US_PER_DAY != d:
                continue
            for sv in value.sampledValue:
                col["msg"].append(i)
                col["sampled_at"].append(sampled_us)
                col["value"].append(sv.value)
                col["context"].append(sv.context)
                col["format"].append(sv.format)
                col["measurand"].append(sv.measurand)
                col["phase"].append(sv.phase)
                col["location"].append(sv.location)
                col["unit_sent"].append(sv.unit)
    if not col["msg"]:
        return _frame(t.METER_VALUES, [])
    messages_frame = pl.DataFrame(msg, schema={"station_id": pl.String, "received_at": pl.Int64, "source": pl.String,
                                               "seq": pl.Int64, "connector": pl.Int64, "transaction_id": pl.Int64})
    samples = pl.DataFrame(col, schema={"msg": pl.Int64, "sampled_at": pl.Int64, **{
        k: pl.String for k in ("value", "context", "format", "measurand", "phase", "location", "unit_sent")}})
    samples = pl.concat([messages_frame[samples["msg"]], samples], how="horizontal").with_columns(
        measurand=pl.col("measurand").fill_null(units.DEFAULT_MEASURAND), location=pl.col("location").fill_null("Outlet"))
    samples = samples.join(_conversions(samples.select("measurand", "unit_sent").unique()),
                           on=["measurand", "unit_sent"], how="left", nulls_equal=True, maintain_order="left")
    signed = pl.col("format") == "SignedData"
    number = pl.col("value").cast(pl.Float64, strict=False)
    samples = samples.with_columns(
        number=number,
        bad=~signed.fill_null(False) & (pl.col("unit_error").is_not_null() | number.is_null() | ~number.is_finite()),
    )
    bad = samples.filter("bad")
    payloads = {(r["source"], r["seq"]): r["payload"] for r, _, _, _ in sources} if bad.height else {}
    for row in bad.select("source", "seq", "station_id", "received_at", "value", "measurand",
                          "unit_sent").iter_rows(named=True):
        try:
            units.to_si(row["value"], row["measurand"], row["unit_sent"])
        except units.UnitError as exc:
            quarantine.add({**row, "action": "MeterValues", "payload": payloads[(row["source"], row["seq"])]},
                           f"MeterValues: {exc}")
    key = ["station_id", "connector", "sampled_at", "measurand", "phase", "location"]
    good = (
        samples.filter(~pl.col("bad"))
        # A retransmission, or the same sample again in transactionData: the first received wins.
        .unique(subset=key, keep="first", maintain_order=True)
        .select(
            "station_id", pl.col("connector").alias("connector_id"), "transaction_id", "sampled_at", "received_at",
            "context", "measurand", "phase", "location", "unit", pl.col("value").alias("raw_value"),
            pl.when(signed).then(None).otherwise(pl.col("number") * pl.col("factor") + pl.col("offset")).alias("value"),
            pl.when(signed).then(None).otherwise(pl.col("si_unit")).alias("si_unit"),
        )
        .sort("station_id", "connector_id", "sampled_at", "measurand", "phase", "location", nulls_last=False)
    )
    return t.conform(t.METER_VALUES, good.with_columns(
        pl.col("sampled_at").cast(t.UTC_TS), pl.col("received_at").cast(t.UTC_TS)))


# --- connectivity: connects, disconnects, boots and heartbeat gaps per station ----------------


def connectivity(
    d: int, window: pl.DataFrame, boots: Iterable[tuple[dict[str, Any], m.BootNotificationRequest]],
    calls: pl.DataFrame, heartbeat_gap_s: float, quarantine: Quarantine,
    last_calls_before: pl.DataFrame | None = None,
) -> pl.DataFrame:
    rows = []
    day_rows = window.filter((pl.col("received_at") // _US_PER_DAY) == d)
    session = day_rows.filter(pl.col("message_type") == "SESSION").sort("received_at", "source", "seq")
    for row in session.iter_rows(named=True):
        action = row["action"]
        if action == ev.CONNECTED:
            rows.append(_fact(row["station_id"], row["received_at"], "connect", detail=row["message_id"]))
        elif action == ev.DISCONNECTED:
            try:
                info = _disconnected_decoder.decode(row["payload"] or "")
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(row, f"Disconnected event payload unreadable: {_short(exc)}")
                continue
            rows.append(_fact(row["station_id"], row["received_at"], "disconnect", close_code=info.close_code,
                              detail=info.connection_id or row["message_id"]))
        elif action == ev.STATION_REGISTERED:
            try:
                _registered_decoder.decode(row["payload"] or "")
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(row, f"StationRegistered event payload unreadable: {_short(exc)}")
        elif action not in (ev.STATION_DELETED, ev.AUTHORIZATION_DECIDED):  # decisions: authorization_decisions
            quarantine.add(row, f"unknown SESSION event {action!r}")
    for row, req in boots:
        if us_day(row["received_at"]) == d:
            status = _boot_status(row["answer"])
            rows.append(_fact(row["station_id"], row["received_at"], "boot",
                              detail=f"firmware={req.firmwareVersion or ''} status={status}"))
    rows.extend(heartbeat_gaps(d, calls, heartbeat_gap_s, last_calls_before))
    rows.sort(key=lambda r: (r["station_id"], r["event_ts"], r["kind"]))
    return _frame(t.CONNECTIVITY, rows)


def _fact(station_id: str, at_us: int, kind: str, gap_s: float | None = None,
          close_code: int | None = None, detail: str | None = None) -> dict[str, Any]:
    return {"station_id": station_id, "event_ts": at_us, "kind": kind, "gap_s": gap_s,
            "close_code": close_code, "detail": detail}


def _boot_status(answer: str | None) -> str:
    try:
        return str(msgspec.json.decode(answer or "").get("status", ""))
    except (msgspec.DecodeError, AttributeError):
        return ""


def heartbeat_gaps(d: int, calls: pl.DataFrame, gap_s: float,
                   last_calls_before: pl.DataFrame | None = None) -> list[dict[str, Any]]:
    """Silences longer than `gap_s` between a station's CALLs, dated by the CALL that ended them.

    By receive time: connectivity is about when the CSMS heard from the station. A silence
    that began the day before is seen from `last_calls_before`.
    """
    seeds = [] if last_calls_before is None else [_micros_of(last_calls_before)]
    gaps = (
        pl.concat([calls.select("station_id", "received_at"), *seeds])
        .unique()
        .sort("station_id", "received_at")
        .with_columns(gap=(pl.col("received_at") - pl.col("received_at").shift(1).over("station_id")) / 1e6)
        .filter((pl.col("gap") > gap_s) & ((pl.col("received_at") // _US_PER_DAY) == d))
    )
    return [_fact(s, at, "heartbeat_gap", gap_s=g) for s, at, g in gaps.iter_rows()]


# --- authorizations: Authorize and StartTransaction answers, RemoteStartTransaction results ---

# (station, message id, receive time) of the CALL an AuthorizationDecided event decided.
DecisionKey = tuple[str, str, int]
Decisions = dict[DecisionKey, AuthorizationDecided]


def decision_key(row: dict[str, Any]) -> DecisionKey:
    return (row["station_id"], row["message_id"], row["received_at"])


def authorization_decisions(frames: list[pl.DataFrame], quarantine: Quarantine) -> Decisions:
    """The AuthorizationDecided events of `frames` by the CALL they decided; a malformed one is
    quarantined with the reason (and decides nothing)."""
    found: Decisions = {}
    is_decision = (pl.col("message_type") == "SESSION") & (pl.col("action") == ev.AUTHORIZATION_DECIDED)
    events = pl.concat([f.filter(is_decision) for f in frames])
    for row in events.unique(subset=["source", "seq"]).sort("received_at", "source", "seq").iter_rows(named=True):
        try:
            decided = _decided_decoder.decode(row["payload"] or "")
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"AuthorizationDecided event payload unreadable: {_short(exc)}")
            continue
        found.setdefault(decision_key(row), decided)
    return found


def _authorization(row: dict[str, Any], event_ts: int, action: str, id_tag: str, status: str | None,
                   decided: AuthorizationDecided | None, connector_id: int | None = None,
                   transaction_id: int | None = None) -> dict[str, Any]:
    return {
        "station_id": row["station_id"], "event_ts": event_ts, "received_at": row["received_at"],
        "action": action, "connector_id": connector_id, "id_tag_hash": id_tag_hash(id_tag), "status": status,
        "accepted": status == "Accepted", "authorization": decided.source if decided else None,
        "downstream": decided.downstream if decided else None, "transaction_id": transaction_id,
        "message_id": row["message_id"], "source": row["source"], "seq": row["seq"],
    }


def authorizations(
    d: int, window: pl.DataFrame, authorizes: Iterable[tuple[dict[str, Any], m.AuthorizeRequest]],
    starts: list[AnsweredStart], decisions: Decisions, quarantine: Quarantine,
) -> pl.DataFrame:
    rows = []
    for row, req in authorizes:
        if us_day(row["received_at"]) != d or row["answer_type"] != "CALLRESULT":
            continue  # another day's, or its answer is not in bronze: no outcome to record
        try:
            status = _authorize_result_decoder.decode(row["answer"]).idTagInfo.status
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"Authorize answer has no idTagInfo: {_short(exc)}")
            continue
        rows.append(_authorization(row, row["received_at"], "Authorize", req.idTag, status,
                                   decisions.get(decision_key(row))))
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for row, req, result in starts:  # in receive order: a retried start is one row, its first copy
        start_us = to_us(req.timestamp)
        if us_day(start_us) != d:
            continue
        decided = decisions.get(decision_key(row))
        key = (row["station_id"], result.transactionId)
        if key in seen:
            if seen[key]["authorization"] is None and decided is not None:
                seen[key].update(authorization=decided.source, downstream=decided.downstream)
            continue
        seen[key] = _authorization(row, start_us, "StartTransaction", req.idTag,
                                   result.idTagInfo.status if result.idTagInfo else None, decided,
                                   req.connectorId, result.transactionId)
    rows.extend(seen.values())
    rows.extend(remote_starts(d, window, quarantine))
    rows.sort(key=lambda r: (r["station_id"], r["event_ts"], r["source"], r["seq"]))
    return _frame(t.AUTHORIZATIONS, rows)


def remote_starts(d: int, window: pl.DataFrame, quarantine: Quarantine) -> list[dict[str, Any]]:
    """The RemoteStartTransactions the CSMS sent on day `d`, each with the station's first answer.

    The station's answer carries the CALL's message id but its own receive time, so it is
    the first answer of that id at or after the CALL (it may come just after midnight).
    """
    frame = window.filter(pl.col("action") == REMOTE_START)
    sent = frame.filter((pl.col("direction") == "out") & (pl.col("message_type") == "CALL")
                        & ((pl.col("received_at") // _US_PER_DAY) == d))
    if sent.is_empty():
        return []
    answers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    replies = frame.filter((pl.col("direction") == "in") & pl.col("message_type").is_in(["CALLRESULT", "CALLERROR"]))
    for reply in replies.sort("received_at", "source", "seq").iter_rows(named=True):
        answers[(reply["station_id"], reply["message_id"])].append(reply)
    rows = []
    for row in sent.sort("received_at", "source", "seq").iter_rows(named=True):
        try:
            req = _remote_start_decoder.decode(row["payload"] or "")
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"RemoteStartTransaction request unreadable: {_short(exc)}")
            continue
        reply = next((a for a in answers[(row["station_id"], row["message_id"])]
                      if a["received_at"] >= row["received_at"]), None)
        status = None  # no answer, or a CALLERROR: the station did not say Accepted or Rejected
        if reply is not None and reply["message_type"] == "CALLRESULT":
            try:
                status = _remote_start_result_decoder.decode(reply["payload"] or "").status
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                quarantine.add(reply, f"RemoteStartTransaction answer has no status: {_short(exc)}")
        rows.append(_authorization(row, row["received_at"], REMOTE_START, req.idTag, status, None,
                                   req.connectorId))
    return rows


# --- stations: the latest registration and boot of each station (not day-partitioned) ---------


def stations(previous: pl.DataFrame, new_rows: pl.DataFrame) -> pl.DataFrame:
    """Fold newly received registrations, deletions and boots into the previous stations table.

    Idempotent: folding the same bronze rows again changes nothing, so the curation may
    re-read files near its watermark.
    """
    current: dict[str, dict[str, Any]] = {}
    for r in previous.with_columns(pl.col("registered_at").dt.epoch("us")).iter_rows(named=True):
        current[r["station_id"]] = dict(r)
    new_rows = _micros(new_rows).sort("received_at", "source", "seq")
    for row in new_rows.iter_rows(named=True):
        sid = row["station_id"]
        entry = current.setdefault(sid, {
            "station_id": sid, "site": None, "region": None, "vendor": None, "model": None,
            "firmware_version": None, "registered_at": None, "deleted": False})
        if row["message_type"] == "SESSION" and row["action"] == ev.STATION_REGISTERED:
            try:
                reg = _registered_decoder.decode(row["payload"] or "")
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue  # quarantined by the day's curation
            at = reg.registered_at_us or row["received_at"]
            if entry["registered_at"] is None or at >= entry["registered_at"]:
                entry.update(site=reg.site, region=reg.metadata.get("region"), registered_at=at, deleted=False)
        elif row["message_type"] == "SESSION" and row["action"] == ev.STATION_DELETED:
            if entry["registered_at"] is None or row["received_at"] >= entry["registered_at"]:
                entry["deleted"] = True
        elif row["direction"] == "in" and row["action"] == "BootNotification":
            try:
                boot = m.decode_request("BootNotification", (row["payload"] or "").encode())
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue
            entry.update(vendor=boot.chargePointVendor, model=boot.chargePointModel,
                         firmware_version=boot.firmwareVersion)
    return _frame(t.STATIONS, [current[k] for k in sorted(current)])
