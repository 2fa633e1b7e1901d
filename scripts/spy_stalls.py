"""The longest busy stretches of each thread in a py-spy recording: where an event loop stalls, and in what.

Record with every sample kept, idle ones included, so consecutive samples are consecutive
in time (`py-spy record --idle --format speedscope --rate 100 --pid PID -o out.json`); a
run of samples outside the selector's wait is a stretch the loop could not answer anything.

    python -m scripts.spy_stalls out.json [--top 5]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter

# Innermost frames of a thread that waits rather than works: the selector of a plain asyncio
# loop; a uvloop loop (its wait is C, so its thread shows nothing inside Thread.run); thread
# pools and Ray's main loop waiting for work.
IDLE_FRAMES = ("select (selectors.py", "run (threading.py", "_worker (concurrent/futures/thread.py",
               "wait (threading.py", "main_loop (ray/_private/worker.py", "epoll_wait")
# Frames too generic to say what a stretch did.
GENERIC = ("_run_once", "run_forever", "run_until_complete", "_run (asyncio/events.py", "<module>",
           "main_loop", "run (", "_bootstrap", "worker.py", "function_manager.py")


def frame_name(frame: dict) -> str:
    """`function (path:line)`, the path from the package root (site-packages or the stdlib)."""
    path = re.split(r"site-packages/|/lib/python3\.\d+/", frame.get("file", "?"))[-1]
    return f"{frame['name']} ({path}:{frame.get('line', 0)})"


def busy_runs(samples: list[list[int]], names: list[str]) -> list[tuple[int, int]]:
    """(first sample, length) of every run of consecutive samples whose innermost frames are not
    an idle wait. A sample is a stack of frame indices, outermost first (speedscope)."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, stack in enumerate(samples):
        top = names[stack[-1]] if stack else ""
        idle = not stack or any(top.startswith(f) or f in top for f in IDLE_FRAMES)
        if not idle and start is None:
            start = i
        elif idle and start is not None:
            runs.append((start, i - start))
            start = None
    if start is not None:
        runs.append((start, len(samples) - start))
    return runs


def what_ran(samples: list[list[int]], names: list[str], first: int, length: int, depth: int = 3) -> list[str]:
    """The most frequent specific frames of a stretch, innermost first among equals (a frame
    counts once per sample)."""
    seen: Counter[str] = Counter()
    deepest: dict[str, int] = {}
    for stack in samples[first:first + length]:
        specific = [names[f] for f in stack if not any(g in names[f] for g in GENERIC)]
        for level, name in enumerate(specific):
            deepest[name] = max(deepest.get(name, 0), level)
        seen.update(set(specific[-8:]))
    ranked = sorted(seen, key=lambda n: (-seen[n], -deepest[n]))
    return [f"{n} x{seen[n]}" for n in ranked[:depth]]


def stalls(profile: dict, names: list[str], top: int) -> dict:
    samples = profile["samples"]
    interval = profile["weights"][0] if profile.get("weights") else 0.01
    runs = sorted(busy_runs(samples, names), key=lambda r: -r[1])[:top]
    return {
        "thread": profile.get("name", "?"), "samples": len(samples), "interval_s": interval,
        "busy_share": round(sum(n for _, n in busy_runs(samples, names)) / max(1, len(samples)), 3),
        "longest": [{"at_s": round(first * interval, 2), "ms": round(n * interval * 1e3),
                     "in": what_ran(samples, names, first, n)} for first, n in runs],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.spy_stalls", description=__doc__.splitlines()[0])
    p.add_argument("recording", help="py-spy speedscope JSON")
    p.add_argument("--top", type=int, default=5)
    a = p.parse_args(argv)
    with open(a.recording) as f:
        doc = json.load(f)
    names = [frame_name(fr) for fr in doc["shared"]["frames"]]
    for profile in doc["profiles"]:
        if profile.get("samples"):
            print(json.dumps(stalls(profile, names, a.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
