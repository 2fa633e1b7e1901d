"""Run one function over station shards: as Ray tasks when Ray is there, in-process otherwise.

The anomaly jobs split the fleet into shards by a hash of the station id (each shard is a
DuckDB filter `hash(station_id) % shards = k` over the same silver files), so one task
reads only its stations' rows and shards are independent. The job's driver combines the
small per-shard results (features, per-window counts).

Ray is used when this process is already connected to it (inside the CSMS's scheduler
actor, or a driver started by `ray job submit`, which sets RAY_ADDRESS) or when asked for
(`--ray`). Otherwise the shards run one after the other in this process, so the same
module is a plain local command.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

log = logging.getLogger("csms.analytics")

T = TypeVar("T")

# Enough shards that a cluster's CPUs are busy, few enough that each task's DuckDB scan
# is worth its ~10 ms of Ray overhead.
DEFAULT_SHARDS = 8
TASK_TIMEOUT_S = 3600.0


def want_ray(flag: bool = False) -> bool:
    """Use Ray when started as a Ray job (RAY_ADDRESS is set) or when asked; True when it is usable.

    `--ray` without RAY_ADDRESS starts a Ray of this process's own rather than joining
    whatever cluster "auto" would find: on a shared machine that could be someone else's.
    """
    import ray

    if ray.is_initialized():
        return True
    address = os.environ.get("RAY_ADDRESS")
    if address or flag:
        ray.init(address=address or "local", include_dashboard=False, logging_level="WARNING")
        return True
    return False


def progress(job: str, done: int, total: int, started: float) -> None:
    print(f"[{job}] {done}/{total} shards done ({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)


def task_max_calls() -> int:
    """`max_calls` for the analytics' Ray tasks. From a driver (the CLI, tests): 0, workers are
    reused, and they end with the driver's Ray job. From inside a worker (the CSMS scheduler's
    job task, in the CSMS's detached job, which never ends): 1, so each worker exits after its
    task instead of idling with DuckDB and Polars loaded (~110 MiB PSS; BENCHMARKS.md 17)."""
    import ray

    return 1 if ray.get_runtime_context().worker.mode == ray.WORKER_MODE else 0


def map_shards(job: str, fn: Callable[..., T], shards: int, args: Sequence[Any] = (), use_ray: bool | None = None,
               timeout_s: float = TASK_TIMEOUT_S) -> list[T]:
    """[fn(*args, shard, shards) for shard in range(shards)], printing progress as shards finish."""
    import ray

    started = time.monotonic()
    if use_ray is None:
        use_ray = ray.is_initialized()
    if not use_ray:
        results = []
        for shard in range(shards):
            results.append(fn(*args, shard, shards))
            progress(job, shard + 1, shards, started)
        return results
    remote = ray.remote(num_cpus=1, max_retries=2, max_calls=task_max_calls())(fn)  # pure reads: safe to retry
    refs = [remote.remote(*args, shard, shards) for shard in range(shards)]
    order = {ref: k for k, ref in enumerate(refs)}
    results: list[Any] = [None] * shards
    pending = list(refs)
    deadline = time.monotonic() + timeout_s
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise TimeoutError(f"{job}: {len(pending)} shard(s) still running after {timeout_s:.0f} s")
        for ref in ready:
            results[order[ref]] = ray.get(ref)
        progress(job, shards - len(pending), shards, started)
    log.info("shards done", extra={"job": job, "shards": shards, "ray": True,
                                   "seconds": round(time.monotonic() - started, 3)})
    return results


def add_job_arguments(parser) -> None:
    """The command-line arguments every day-scoring job takes (mass_outage, maintenance)."""
    parser.add_argument("--day", help="first UTC day to score (default: yesterday)")
    parser.add_argument("--through", help="last UTC day to score (default: --day)")
    parser.add_argument("--data-root", help="data root (default: data_root of the config)")
    parser.add_argument("--ray", action="store_true", help="run the shards as Ray tasks (automatic under ray job submit)")
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS)


def job_days_and_root(parser, args):
    """(days, data_root) from the parsed arguments; a bad day range is a usage error."""
    from pathlib import Path

    from analytics.query import day_range

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        days = day_range(args.day, args.through)
    except ValueError as exc:
        parser.error(str(exc))
    if args.data_root:
        return days, Path(args.data_root)
    from actors.config import load_config

    return days, load_config().data_path
