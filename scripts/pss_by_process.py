"""PSS per process of a server's process tree, grouped by process title: where a fleet's memory sits.

Run it against the `csms serve` pid before the fleet connects and while it is held; the
difference per group, divided by the stations held, is what each station costs in each kind
of process (gateway replicas, balancers, station hosts, ...):

    python -m scripts.pss_by_process --pid $PID --label base
    python -m scripts.pss_by_process --pid $PID --label held-2000 --stations 2000 --against base.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scripts.bench_stations import _read, process_tree, sample


def title(pid: int) -> str:
    """What a process is: Ray workers name themselves `ray::<Actor>`; others by their program."""
    cmd = (_read(f"/proc/{pid}/cmdline") or "").split("\0")
    first = cmd[0] if cmd else ""
    if first.startswith("ray::"):
        return first.split(".")[0].split(" ")[0]
    for part in cmd:
        name = Path(part).name
        if name.endswith(".py") or name in ("raylet", "gcs_server"):
            return name
    return Path(first).name or str(pid)


def by_title(root: int, cpu_window_s: float = 0.0) -> dict[str, dict[str, float]]:
    """PSS per title; with a window, also the cores each title used over it (CPU time from
    /proc/<pid>/stat at both ends; a process that ended in between counts nothing)."""
    pids = process_tree([root])
    start = {pid: sample([pid], memory=False).cpu_s for pid in pids} if cpu_window_s else {}
    t0 = time.monotonic()
    if cpu_window_s:
        time.sleep(cpu_window_s)  # measuring over a window, not waiting for an event
    elapsed = time.monotonic() - t0
    groups: dict[str, dict[str, float]] = {}
    for pid in pids:
        s = sample([pid])
        g = groups.setdefault(title(pid), {"n": 0, "pss_mib": 0.0})
        g["n"] += 1
        g["pss_mib"] = round(g["pss_mib"] + s.pss_kib / 1024, 1)
        if cpu_window_s and pid in start and s.pss_kib:
            g["cores"] = round(g.get("cores", 0.0) + (s.cpu_s - start[pid]) / elapsed, 4)
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]["pss_mib"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.pss_by_process", description=__doc__.splitlines()[0])
    p.add_argument("--pid", type=int, required=True, help="the server's root process (csms serve)")
    p.add_argument("--label", default="now")
    p.add_argument("--stations", type=int, help="stations held now (for KiB per station)")
    p.add_argument("--against", type=Path, help="an earlier output (e.g. the base) to subtract")
    p.add_argument("--cpu-window", type=float, default=0.0,
                   help="also measure each process's cores over this many seconds")
    a = p.parse_args(argv)
    groups = by_title(a.pid, a.cpu_window)
    out: dict = {"label": a.label, "groups": groups,
                 "total_pss_mib": round(sum(g["pss_mib"] for g in groups.values()), 1)}
    if a.cpu_window:
        out["total_cores"] = round(sum(g.get("cores", 0.0) for g in groups.values()), 3)
    if a.against and a.stations:
        base = json.loads(a.against.read_text())["groups"]
        out["kib_per_station"] = {
            name: round((g["pss_mib"] - base.get(name, {}).get("pss_mib", 0.0)) * 1024 / a.stations, 1)
            for name, g in groups.items()}
        out["kib_per_station"]["total"] = round(
            (out["total_pss_mib"] - sum(g["pss_mib"] for g in base.values())) * 1024 / a.stations, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
