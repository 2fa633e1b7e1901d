"""Reading bronze rows: times as microseconds, each CALL beside the CSMS's answer, why a CALL was refused."""

from __future__ import annotations

from typing import Any

import msgspec
import polars as pl

from actors import events as ev

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
