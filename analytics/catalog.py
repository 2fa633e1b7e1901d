"""The data catalog: every bronze, silver and gold table with its grain, columns, units, owner,
partitioning and freshness, as JSON-able data (FAIR: findable, accessible, interoperable, reusable).

`catalog(data_root)` is what `csms catalog` prints and what `GET /api/catalog` serves. The
schemas come from the contracts (actors.lake.BRONZE_SCHEMA, analytics.tables), the freshness
from the files actually in the lake (Parquet footers only: no data is read).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from actors import lake
from analytics import tables as t

CATALOG_VERSION = 1

# Bronze is the live system's contract (actors/lake.py); its column meanings live here, once.
BRONZE = t.Table(
    "bronze", "events",
    grain="one OCPP-J frame in either direction, or one session lifecycle event (connect, disconnect, registration)",
    partitioning="day", time_column="received_at", owner="csms core (StationHost event log)",
    description="Raw, append-only: every frame as on the wire, written by the StationHosts from their "
                "write-ahead logs. Partitioned by the day the CSMS received the event, not the day it happened.",
    columns=tuple(
        t.Column(name, dtype, description, None, name not in ("station_ts",))
        for name, dtype, description in (
            ("source", pl.String, "the StationHost log that recorded the event"),
            ("seq", pl.Int64, "sequence number in that log; (source, seq) is unique"),
            ("station_id", pl.String, "station identity"),
            ("received_at", lake.BRONZE_SCHEMA["received_at"], "when the CSMS received or produced the event (UTC)"),
            ("station_ts", lake.BRONZE_SCHEMA["station_ts"], "the station's own timestamp from the payload, if any"),
            ("ocpp_version", pl.String, "OCPP version of the connection (1.6, 2.0.1)"),
            ("direction", pl.String, "in = station to CSMS, out = CSMS to station, system = lifecycle"),
            ("message_type", pl.String, "CALL, CALLRESULT, CALLERROR or SESSION"),
            ("message_id", pl.String, "OCPP-J message id (connection id for Connected/Disconnected)"),
            ("action", pl.String, "OCPP action, Malformed, or the SESSION event name"),
            ("payload", pl.String, "JSON text as on the wire (CALLERROR: [code, description, details])"),
        )
    ),
)
assert BRONZE.schema == lake.BRONZE_SCHEMA, "catalog's bronze columns drifted from actors.lake.BRONZE_SCHEMA"

TABLES = (BRONZE, *t.SILVER_TABLES, *t.GOLD_TABLES)

_LAYER_TEXT = {
    "bronze": "",
    "silver": "Curated daily from bronze by analytics.curate: duplicates removed, late events in the day they "
              "happened, values in SI units, id tags hashed, uninterpretable input in silver.quarantine.",
    "gold": "Reports and anomaly scores computed from silver; kept forever (never deleted by retention).",
}

_DUCKDB_TYPES = {
    pl.String: "VARCHAR", pl.Int32: "INTEGER", pl.Int64: "BIGINT", pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN", pl.Date: "DATE",
}


def duckdb_type(dtype: pl.DataType) -> str:
    """The type DuckDB reads a column of this Polars type back as from our Parquet files."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        return f"{duckdb_type(dtype.inner)}[]"
    return _DUCKDB_TYPES[dtype.base_type()]


def _partitioning(table: t.Table) -> dict[str, Any]:
    layout = {"day": "year=YYYY/month=MM/day=DD", "month": "month=YYYY-MM", "none": ""}[table.partitioning]
    return {"kind": table.partitioning, "layout": layout, "time_column": table.time_column,
            "file": "one part-0.parquet per partition, replaced atomically" if table.layer != "bronze"
            else "<host>-<first seq>.parquet per flushed log segment"}


def _location(table: t.Table, data_root: Path) -> Path:
    return lake.bronze_dir(data_root) if table.layer == "bronze" else table.path(data_root)


def _glob(table: t.Table, data_root: Path) -> str:
    return lake.bronze_glob(data_root) if table.layer == "bronze" else t.table_glob(table, data_root)


def _partition_key(path: Path, table: t.Table) -> str | None:
    parts = dict(p.split("=", 1) for p in path.parent.parts if "=" in p)
    if table.partitioning == "day":
        return f"{parts['year']}-{parts['month']}-{parts['day']}"
    if table.partitioning == "month":
        return parts["month"]
    return None


def freshness(table: t.Table, data_root: Path) -> dict[str, Any]:
    """Partitions, files, rows and the newest partition and file time, from the Parquet footers."""
    location = _location(table, data_root)
    files = sorted(location.glob(_glob(table, data_root)[len(str(location)) + 1:])) if location.exists() else []
    if not files:
        return {"files": 0, "partitions": 0, "rows": 0, "bytes": 0, "oldest_partition": None,
                "newest_partition": None, "newest_file_time": None}
    keys = sorted({k for k in (_partition_key(f, table) for f in files) if k is not None})
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    rows = duckdb.sql(f"select coalesce(sum(num_rows), 0) from parquet_file_metadata([{listing}])").fetchall()[0][0]
    stats = [f.stat() for f in files]
    newest = max(s.st_mtime for s in stats)
    return {
        "files": len(files), "partitions": len(keys) if keys else 1, "rows": int(rows),
        "bytes": sum(s.st_size for s in stats),
        "oldest_partition": keys[0] if keys else None, "newest_partition": keys[-1] if keys else None,
        "newest_file_time": dt.datetime.fromtimestamp(newest, dt.timezone.utc).isoformat().replace("+00:00", "Z"),
    }


def describe(table: t.Table, data_root: Path) -> dict[str, Any]:
    ident = f"{table.layer}.{table.name}"
    location = _location(table, data_root)
    description = " ".join(x for x in (table.description, _LAYER_TEXT[table.layer]) if x)
    return {
        "id": ident,
        "layer": table.layer,
        "name": table.name,
        "grain": table.grain,
        "description": description,
        "owner": table.owner,
        "format": "parquet (zstd)",
        "extra_files": list(table.extra_files),
        "location": os.path.relpath(location, data_root),
        "partitioning": _partitioning(table),
        "columns": [
            {"name": c.name, "type": duckdb_type(c.dtype), "polars_type": str(c.dtype), "unit": c.unit,
             "nullable": c.nullable, "description": c.description}
            for c in table.columns
        ],
        "freshness": freshness(table, data_root),
        # FAIR: how to find, read, combine and reuse it.
        "fair": {
            "findable": {"identifier": ident, "keywords": ["ocpp", "ev charging", table.layer, table.name]},
            "accessible": {"protocol": "file (Parquet)", "duckdb": f"select * from read_parquet('{_glob(table, Path('<data_root>'))}'"
                           + (", hive_partitioning=true)" if table.partitioning != "none" else ")")},
            "interoperable": "Apache Parquet; times are UTC timestamps (microseconds); units named per column"
                             + ("; meter values in SI (see si_unit)" if table is t.METER_VALUES else ""),
            "reusable": {"provenance": "OCPP 1.6J frames received by the CSMS" if table.layer == "bronze"
                         else f"derived from {'bronze.events' if table.layer == 'silver' else 'silver'} by csms analytics jobs",
                         "personal_data": "id tags hashed (SHA-256); no passwords or secrets"},
        },
    }


def catalog(data_root: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole catalog as JSON-able data (for `csms catalog --json` and GET /api/catalog)."""
    data_root = Path(data_root)
    return {
        "catalog_version": CATALOG_VERSION,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "data_root": str(data_root),
        "tables": [describe(table, data_root) for table in TABLES],
    }


def render_text(cat: dict[str, Any]) -> str:
    """A short human-readable listing of the catalog."""
    lines = [f"Data catalog of {cat['data_root']} ({cat['generated_at']})", ""]
    for tb in cat["tables"]:
        f = tb["freshness"]
        lines.append(f"{tb['id']}  [{tb['partitioning']['kind']} partitions, owner: {tb['owner']}]")
        lines.append(f"  grain: {tb['grain']}")
        lines.append(f"  {f['rows']:,} rows in {f['files']} files, {f['partitions']} partitions"
                     + (f", {f['oldest_partition']} .. {f['newest_partition']}" if f["newest_partition"] else "")
                     + (f", newest file {f['newest_file_time']}" if f["newest_file_time"] else ""))
        for c in tb["columns"]:
            unit = f" [{c['unit']}]" if c["unit"] else ""
            lines.append(f"    {c['name']:<26} {c['type']:<25}{unit} {c['description']}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="csms catalog", description="print the lake's data catalog")
    p.add_argument("--data-root", help="data root (default: the CSMS config's data_root)")
    p.add_argument("--config", help="CSMS TOML config (default: $CSMS_CONFIG or built-in defaults)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    args = p.parse_args(argv)
    if args.data_root:
        root = Path(args.data_root)
    else:
        from actors.config import load_config

        root = load_config(args.config).data_path
    cat = catalog(root)
    print(json.dumps(cat, indent=1) if args.json else render_text(cat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
