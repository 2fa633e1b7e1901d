"""silver.stations: one station: its latest registration and boot information (not day-partitioned)."""

from __future__ import annotations

from typing import Any

import msgspec
import polars as pl

from actors import events as ev
from analytics import tables as t
from analytics.silver import staging
from analytics.silver.bronze import micros
from analytics.silver.frames import table_frame


class _Registered(msgspec.Struct):
    # The public part of actors.station_state.Registration (its password hash is blanked).
    site: str | None = None
    metadata: dict[str, str] = {}
    registered_at_us: int = 0


registered_decoder = msgspec.json.Decoder(_Registered)


def stations(previous: pl.DataFrame, new_rows: pl.DataFrame) -> pl.DataFrame:
    """Fold newly received registrations, deletions and boots into the previous stations table.

    Idempotent: folding the same bronze rows again changes nothing, so the curation may
    re-read files near its watermark.
    """
    current: dict[str, dict[str, Any]] = {}
    for r in previous.with_columns(pl.col("registered_at").dt.epoch("us")).iter_rows(named=True):
        current[r["station_id"]] = dict(r)
    new_rows = micros(new_rows).sort("received_at", "source", "seq")
    for row in new_rows.iter_rows(named=True):
        sid = row["station_id"]
        entry = current.setdefault(sid, {
            "station_id": sid, "site": None, "region": None, "vendor": None, "model": None,
            "firmware_version": None, "registered_at": None, "deleted": False})
        if row["message_type"] == "SESSION" and row["action"] == ev.STATION_REGISTERED:
            try:
                reg = registered_decoder.decode(row["payload"] or "")
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue  # quarantined by the day's curation
            at = reg.registered_at_us or row["received_at"]
            if entry["registered_at"] is None or at >= entry["registered_at"]:
                entry.update(site=reg.site, region=reg.metadata.get("region"), registered_at=at, deleted=False)
        elif row["message_type"] == "SESSION" and row["action"] == ev.STATION_DELETED:
            if entry["registered_at"] is None or row["received_at"] >= entry["registered_at"]:
                entry["deleted"] = True
        elif row["direction"] == "in":
            boot = staging.boot(row)
            if boot is not None:
                entry.update(vendor=boot.vendor, model=boot.model, firmware_version=boot.firmware_version)
    return table_frame(t.STATIONS, [current[k] for k in sorted(current)])
