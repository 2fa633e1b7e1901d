"""Reading bronze rows: times as microseconds, each CALL beside the CSMS's answer (and each CALL of the CSMS beside the station's), why a CALL was refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import polars as pl

from actors import events as ev
from analytics.silver.frames import US_PER_DAY, short

if TYPE_CHECKING:  # quarantine.py imports BronzeRow from here
    from analytics.silver.quarantine import Quarantine

# One bronze row (actors.lake.BRONZE_SCHEMA, times as integer microseconds); a CALL's row
# also holds `answer_type` and `answer` (answered_calls).
BronzeRow = dict[str, Any]

_error_decoder = msgspec.json.Decoder(list)


def micros(frame: pl.DataFrame) -> pl.DataFrame:
    """Bronze with times as integer microseconds: the builders work on plain ints."""
    return frame.with_columns(
        pl.col("received_at").dt.epoch("us"), pl.col("station_ts").dt.epoch("us"),
    )


def micros_of(frame: pl.DataFrame) -> pl.DataFrame:
    """(station_id, received_at) with the receive time as integer microseconds."""
    return frame.select(pl.col("station_id"), pl.col("received_at").dt.epoch("us"))


def sent_commands(frame: pl.DataFrame, action: str, d: int) -> Iterator[tuple[BronzeRow, BronzeRow | None]]:
    """The CSMS's CALLs of `action` sent on day `d`, in order, each with the station's first
    answer (CALLRESULT or CALLERROR; None: none in bronze).

    The station's answer carries the CALL's message id but its own receive time, so it is
    the first answer of that id at or after the CALL (it may come just after midnight).
    """
    frame = frame.filter(pl.col("action") == action)
    sent = frame.filter((pl.col("direction") == "out") & (pl.col("message_type") == "CALL")
                        & ((pl.col("received_at") // US_PER_DAY) == d))
    if sent.is_empty():
        return
    answers: dict[tuple[str, str], list[BronzeRow]] = {}
    replies = frame.filter((pl.col("direction") == "in") & pl.col("message_type").is_in(["CALLRESULT", "CALLERROR"]))
    for reply in replies.sort("received_at", "source", "seq").iter_rows(named=True):
        answers.setdefault((reply["station_id"], reply["message_id"]), []).append(reply)
    for row in sent.sort("received_at", "source", "seq").iter_rows(named=True):
        yield row, next((a for a in answers.get((row["station_id"], row["message_id"]), ())
                         if a["received_at"] >= row["received_at"]), None)


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


def refusal(row: BronzeRow) -> str | None:
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


def session_events(frames: list[pl.DataFrame], action: str, decoder: msgspec.json.Decoder,
                   quarantine: Quarantine) -> Iterator[tuple[BronzeRow, Any]]:
    """The SESSION events `action` of `frames` (a row in several of them counts once) in receive
    order, each with its payload decoded; one that does not decode is quarantined with the reason."""
    is_event = (pl.col("message_type") == "SESSION") & (pl.col("action") == action)
    events = pl.concat([f.filter(is_event) for f in frames])
    for row in events.unique(subset=["source", "seq"]).sort("received_at", "source", "seq").iter_rows(named=True):
        try:
            decoded = decoder.decode(row["payload"] or "")
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            quarantine.add(row, f"{action} event payload unreadable: {short(exc)}")
            continue
        yield row, decoded
