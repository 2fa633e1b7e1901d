"""silver.quarantine: one bronze event the curation could not interpret, with the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import polars as pl

from analytics import tables as t
from analytics.silver.bronze import BronzeRow
from analytics.silver.frames import short, table_frame, us_day


class Quarantine:
    """Collects the bronze events of the day that could not be interpreted, one row each."""

    def __init__(self, day: int) -> None:
        self.day = day
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}

    def add(self, row: BronzeRow, reason: str) -> None:
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

    def decoded(self, row: BronzeRow, decode_request: Callable[[str, bytes], Any], version: str) -> Any | None:
        """The row's CALL payload as its version's request type, or None with the row quarantined."""
        try:
            return decode_request(row["action"], (row["payload"] or "").encode())
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self.add(row, f"{row['action']} payload does not match the OCPP {version} schema: {short(exc)}")
            return None

    def frame(self) -> pl.DataFrame:
        rows = sorted(self.rows.values(), key=lambda r: (r["received_at"], r["source"], r["seq"]))
        return table_frame(t.QUARANTINE, rows)
