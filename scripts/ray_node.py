"""`csms ray-start ...`: `ray start ...` with the environment the CSMS needs in Ray's processes.

Ray's processes read the direct-ingress flags (and worker niceness, usage stats) when they
start, so they must be in the environment of `ray start` on every node, not in a Serve
config or runtime_env (DESIGN.md, measured pitfalls). The flags come from the one place that
defines them, `serve_app.app.prepare_environment`, which also raises the open-file limit.
cluster.yaml's start commands and tests/test_multinode.py both start nodes through here.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    from actors.config import load_config
    from serve_app import app

    # CSMS_CONFIG / CSMS_* choose the ingress mode; the defaults need neither.
    app.prepare_environment(load_config())
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", *argv]
    os.execv(sys.executable, command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
