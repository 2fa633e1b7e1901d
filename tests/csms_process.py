"""A whole `csms serve` process of a test's own (its own Ray), for tests that kill it or starve its disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import TOKEN, free_port
from tests.polling import wait_until
from tests.ray_nodes import descendants


def start_csms(data_root: Path, port: int, log_path: Path, **settings: str) -> subprocess.Popen:
    """`csms serve` on `port` with its data in `data_root`; `settings` are more CSMS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    # Serve's idle proxy gets a free port of its own (port + 1 may be taken on a busy machine).
    env.update(CSMS_DATA_ROOT=str(data_root), CSMS_PORT=str(port), CSMS_SERVE_PROXY_PORT=str(free_port()),
               CSMS_STATION_HOSTS="2",
               CSMS_API_TOKENS=json.dumps([TOKEN]))
    env.update({f"CSMS_{name.upper()}": value for name, value in settings.items()})
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "serve"], env=env, stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )


async def wait_ready(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    async def ready() -> bool:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(f"{base}/api/health")).json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            return False

    await wait_until(ready, 180, "the CSMS to come up")


def kill_process_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the CSMS and every process of its Ray (actors run in sessions of their own)."""
    victims = descendants(proc.pid) | {proc.pid}
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(30)
