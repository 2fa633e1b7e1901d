"""Retention: delete whole day partitions of bronze and silver older than configured; gold is kept.

    python -m analytics.retention [--data-root DIR] [--config FILE] [--dry-run]

`bronze_retention_days` and `silver_retention_days` (actors.config; 0 keeps forever) count
back from today (UTC): a partition whose day is older than today - N days goes. Bronze is
deleted only once curation has indexed it and no pending curation still needs it, so raw
events are never lost before silver holds them; the curation state remembers the newest
deleted bronze day, and the curation then refuses to rebuild a day from what is left.
Run it between curations (the scheduler runs jobs one at a time), not beside one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from actors import lake
from actors.durable_file import fsync_dir
from analytics import curate
from analytics import tables as t

log = logging.getLogger("csms.analytics.retention")  # csms.*: JSON in the scheduler actor (actors/logs.py)

@dataclass
class Deleted:
    bronze: list[str] = field(default_factory=list)  # receive days
    silver: list[str] = field(default_factory=list)  # "table/YYYY-MM-DD"
    kept_unprocessed: list[str] = field(default_factory=list)  # old bronze days curation still needs


def day_partitions(base: Path) -> list[tuple[dt.date, Path]]:
    """(day, directory) of every year=/month=/day= partition under `base`, oldest first."""
    found = []
    for d in base.glob("year=*/month=*/day=*"):
        if d.is_dir():
            y, m, dd = (int(p.name.split("=", 1)[1]) for p in (d.parent.parent, d.parent, d))
            found.append((dt.date(y, m, dd), d))
    return sorted(found)


def _remove(directory: Path, dry_run: bool) -> None:
    if dry_run:
        return
    log.info("partition deleted by retention", extra={"partition": str(directory)})
    shutil.rmtree(directory)
    fsync_dir(directory.parent)
    # Empty month and year directories go too, so the lake does not fill with husks.
    for parent in (directory.parent, directory.parent.parent):
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
            fsync_dir(parent.parent)


def _bronze_needed(state: curate.State) -> set[dt.date]:
    """Receive days a pending curation still has to read."""
    one = dt.timedelta(days=1)
    needed: set[dt.date] = set()
    for p in state.pending:
        day = dt.date.fromisoformat(p)
        needed |= state.receive_days([day - one, day, day + one]) | {day - one, day}
    return needed


def _indexed(directory: Path, state: curate.State) -> bool:
    """Every file of the bronze partition was indexed by a curation run."""
    cutoff = state.watermark_ns - curate.WATERMARK_OVERLAP_S * 1_000_000_000
    recent = set(state.recent)
    for f in directory.glob("*.parquet"):
        st = f.stat()
        stamp = f"{f.relative_to(directory.parents[4])} {st.st_mtime_ns} {st.st_size}"
        if not (st.st_mtime_ns < cutoff or stamp in recent):
            return False
    return state.watermark_ns > 0


def enforce(data_root: Path, bronze_days: int, silver_days: int, today: dt.date | None = None,
            lookback_days: int = 7, dry_run: bool = False) -> Deleted:
    """Delete the partitions past retention; return what was (or, dry, would be) deleted."""
    data_root = Path(data_root)
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if bronze_days and bronze_days <= lookback_days + 1:
        # A stop's start is looked up in bronze up to lookback_days back: keep at least that.
        raise ValueError(f"bronze_retention_days ({bronze_days}) must exceed the transaction lookback "
                         f"({lookback_days} days) + 1, or stops would lose their starts")
    deleted = Deleted()
    if silver_days:
        cutoff = today - dt.timedelta(days=silver_days)
        for table in t.SILVER_TABLES:
            if table.partitioning != "day":
                continue  # silver.stations is current state, not history
            for day, directory in day_partitions(table.path(data_root)):
                if day < cutoff:
                    _remove(directory, dry_run)
                    deleted.silver.append(f"{table.name}/{day.isoformat()}")
    if bronze_days:
        cutoff = today - dt.timedelta(days=bronze_days)
        state = curate.State.load(data_root)
        needed = _bronze_needed(state)
        for day, directory in day_partitions(lake.bronze_dir(data_root)):
            if day >= cutoff:
                continue
            if day in needed or not _indexed(directory, state):
                deleted.kept_unprocessed.append(day.isoformat())
                continue
            _remove(directory, dry_run)
            deleted.bronze.append(day.isoformat())
        if deleted.bronze and not dry_run:
            newest = max(deleted.bronze)
            state.retired_through = max(newest, state.retired_through or newest)
            state.save(data_root)
    return deleted


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analytics.retention", description=__doc__.splitlines()[0])
    p.add_argument("--data-root", help="data root (default: the CSMS config's data_root)")
    p.add_argument("--config", help="CSMS TOML config (default: $CSMS_CONFIG or built-in defaults)")
    p.add_argument("--today", type=dt.date.fromisoformat, help="count retention back from this day (default: today UTC)")
    p.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    args = p.parse_args(argv)
    from actors.config import load_config

    config = load_config(args.config)
    root = Path(args.data_root) if args.data_root else config.data_path
    result = enforce(root, config.bronze_retention_days, config.silver_retention_days, args.today,
                     config.curate_transaction_lookback_days, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"retention (bronze {config.bronze_retention_days or 'forever'} days, silver "
          f"{config.silver_retention_days or 'forever'} days; gold kept): {verb} {len(result.bronze)} bronze and "
          f"{len(result.silver)} silver partitions", flush=True)
    for day in result.bronze:
        print(f"  bronze {day}")
    for part in result.silver:
        print(f"  silver {part}")
    if result.kept_unprocessed:
        print(f"  kept {len(result.kept_unprocessed)} old bronze days curation has not processed yet: "
              + ", ".join(result.kept_unprocessed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
