"""The log lines this test session's Ray workers wrote to their stderr (`logs/worker-*.err`), by actor."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path


def _worker_files(actor_name: str | None, task_name: str | None = None) -> list[Path]:
    import ray

    logs_dir = Path(ray._private.worker._global_node.get_logs_dir_path())
    files = sorted(logs_dir.glob("worker-*.err"))
    if actor_name is None and task_name is None:
        return files
    # Ray starts each worker's file with ":actor_name:<class or Serve replica name>", and a
    # task's lines with ":task_name:<name>".
    marker = f":actor_name:{actor_name}\n" if actor_name is not None else f":task_name:{task_name}\n"
    return [path for path in files if marker in path.read_text(errors="replace")[:4096]]


def json_lines(actor_name: str | None = None, task_name: str | None = None) -> list[dict]:
    """The JSON log lines (actors/logs.py) of every worker, or of those that hosted `actor_name`
    (or ran the task `task_name`)."""
    lines = []
    for path in _worker_files(actor_name, task_name):
        for raw in path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(raw))
    return lines


def other_lines(actor_name: str | None, task_name: str | None = None) -> list[str]:
    """The lines of `actor_name`'s (or task `task_name`'s) workers that are neither JSON nor
    Ray's own file header."""
    return [raw for path in _worker_files(actor_name, task_name)
            for raw in path.read_text(errors="replace").splitlines()
            if raw and not raw.startswith(("{", ":job_id:", ":actor_name:", ":task_name:"))]
