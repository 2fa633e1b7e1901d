"""Bronze writer: events from the log to day-partitioned Parquet files in the lake, idempotently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from actors.durable_file import atomic_replace, fsync_dir
from actors.events import Event

_UTC_DATETIME = pl.Datetime("us", "UTC")

# The contract of bronze/events: analytics read these columns by name and type.
# `private` is deliberately absent: it holds secrets (password hashes) that must stay in
# the log and never reach the lake.
BRONZE_SCHEMA = pl.Schema(
    {
        "source": pl.String,  # the StationHost that logged the event
        "seq": pl.Int64,  # sequence number in that host's log; (source, seq) is unique
        "station_id": pl.String,
        "received_at": _UTC_DATETIME,  # server receive time
        "station_ts": _UTC_DATETIME,  # the station's own timestamp, null if the message has none
        "ocpp_version": pl.String,
        "direction": pl.String,
        "message_type": pl.String,
        "message_id": pl.String,
        "action": pl.String,
        "payload": pl.String,  # JSON text as on the wire
    }
)

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)


def bronze_dir(data_root: Path) -> Path:
    return Path(data_root) / "bronze" / "events"


def bronze_glob(data_root: Path) -> str:
    """Glob of every bronze file, for read_parquet(..., hive_partitioning=true)."""
    return str(bronze_dir(data_root) / "*" / "*" / "*" / "*.parquet")


def bronze_source_sql(data_root: Path) -> str:
    """A DuckDB table expression over all of bronze, partition columns typed as integers.

    DuckDB infers zero-padded partition values (month=03) as VARCHAR, so a plain
    hive_partitioning=true read gives string months and days; this pins them to INTEGER.
    """
    glob = bronze_glob(data_root).replace("'", "''")
    return (
        f"read_parquet('{glob}', hive_partitioning=true, "
        "hive_types={'year': INTEGER, 'month': INTEGER, 'day': INTEGER})"
    )


def bronze_path(data_root: Path, day: dt.date, file_stem: str) -> Path:
    return (
        bronze_dir(data_root)
        / f"year={day.year:04d}"
        / f"month={day.month:02d}"
        / f"day={day.day:02d}"
        / f"{file_stem}.parquet"
    )


def write_bronze(
    data_root: Path, events: Sequence[tuple[int, Event]], source: str, file_stem: str
) -> list[Path]:
    """Write `(seq, event)` pairs as one Parquet file per UTC day of receipt; return the paths.

    The file name is `<file_stem>.parquet` in each day partition, so writing the same batch
    again (a re-flush after a crash between writing and removing a log segment) replaces
    the files instead of duplicating rows. Each file appears atomically and durably.
    """
    if not events:
        return []
    if "/" in file_stem or file_stem.startswith("."):
        raise ValueError(f"bad bronze file stem {file_stem!r}")
    # Column lists built in one pass; polars casts the integer times to datetimes.
    seqs, station_ids, received, station_ts = [], [], [], []
    versions, directions, types, message_ids, actions, payloads = [], [], [], [], [], []
    for seq, e in events:
        seqs.append(seq)
        station_ids.append(e.station_id)
        received.append(e.received_at_us)
        station_ts.append(e.station_ts_us)
        versions.append(e.ocpp_version)
        directions.append(e.direction)
        types.append(e.message_type)
        message_ids.append(e.message_id)
        actions.append(e.action)
        payloads.append(e.payload)
    frame = pl.DataFrame(
        {
            "source": pl.Series([source], dtype=pl.String).new_from_index(0, len(seqs)),
            "seq": pl.Series(seqs, dtype=pl.Int64),
            "station_id": pl.Series(station_ids, dtype=pl.String),
            "received_at": pl.Series(received, dtype=pl.Int64).cast(_UTC_DATETIME),
            "station_ts": pl.Series(station_ts, dtype=pl.Int64).cast(_UTC_DATETIME),
            "ocpp_version": pl.Series(versions, dtype=pl.String),
            "direction": pl.Series(directions, dtype=pl.String),
            "message_type": pl.Series(types, dtype=pl.String),
            "message_id": pl.Series(message_ids, dtype=pl.String),
            "action": pl.Series(actions, dtype=pl.String),
            "payload": pl.Series(payloads, dtype=pl.String),
        }
    )
    return write_bronze_frame(data_root, frame, file_stem)


def write_bronze_frame(data_root: Path, frame: pl.DataFrame, file_stem: str) -> list[Path]:
    """`write_bronze` for rows already in a frame of exactly BRONZE_SCHEMA (the synthetic
    history generator builds millions of rows as columns, not as Event objects)."""
    if frame.schema != BRONZE_SCHEMA:
        raise ValueError(f"not the bronze schema: {frame.schema}")
    if "/" in file_stem or file_stem.startswith("."):
        raise ValueError(f"bad bronze file stem {file_stem!r}")
    days = frame["received_at"].dt.epoch("us").alias("_day") // _US_PER_DAY
    parts = frame.with_columns(days).partition_by("_day", as_dict=True, include_key=False, maintain_order=True)

    written = []
    for (day_number,), part in sorted(parts.items()):
        path = bronze_path(data_root, _EPOCH + dt.timedelta(days=day_number), file_stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_replace(path) as tmp:
            part.write_parquet(tmp, compression="zstd", statistics=True)
        # The partition directories may be new (possibly made by a process that crashed
        # before syncing them): without this a crash could drop a day directory together
        # with a file the caller already believes safe and deletes its log segment for.
        _fsync_dirs_up_to(path.parent.parent, Path(data_root))
        written.append(path)
    return written


def _fsync_dirs_up_to(leaf: Path, stop: Path) -> None:
    # Each directory's entry lives in its parent; a handful of fsyncs per flushed segment.
    d = leaf
    while True:
        fsync_dir(d)
        if d == stop or d.parent == d:
            break
        d = d.parent
