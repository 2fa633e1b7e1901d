"""Ray nodes of a test's own on this machine, started with cluster.yaml's own start commands.

Each node is `ray start --block` in a process session of its own, with explicit free ports
(never Ray's defaults, which other Ray clusters on this machine may use) and the test's own
temp dir. Stopping a node SIGKILLs exactly the processes of that `ray start` tree: never
`ray stop`, which would stop every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.polling import wait_until_blocking

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(size: int) -> tuple[int, int]:
    """A run of `size` ports that are free now, below the ephemeral range (so the OS does not
    hand them out meanwhile)."""
    for _ in range(200):
        start = random.randrange(20_000, 32_000 - size)
        if all(_is_free(p) for p in range(start, start + size)):
            return start, start + size - 1
    raise RuntimeError("no free port range")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_commands() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def start_command(kind: str) -> str:
    """The one `csms ray-start` line of cluster.yaml's head or worker start commands."""
    lines = [c for c in cluster_commands()[f"{kind}_start_ray_commands"] if "csms ray-start" in c]
    assert len(lines) == 1, lines
    return lines[0]


def deploy_command() -> str:
    lines = [c for c in cluster_commands()["head_start_ray_commands"] if "serve_config.yaml" in c]
    assert len(lines) == 1, lines
    return lines[0]


def substitute(command: str, replacements: dict[str, str]) -> str:
    """Replace each cluster-specific value; every one must be there (cluster.yaml changed?)."""
    for old, new in replacements.items():
        assert old in command, f"{old!r} not in cluster.yaml's command {command!r}"
        command = command.replace(old, new)
    return command


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@dataclass
class RayNode:
    kind: str
    proc: subprocess.Popen
    log_path: Path
    metrics_port: int
    node_manager_port: int
    killed: bool = False

    def kill(self) -> None:
        """Like losing the machine: SIGKILL the raylet, its workers and every other process."""
        self.killed = True
        victims = descendants(self.proc.pid) | {self.proc.pid}
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        # Gone for good before anyone removes their files (a dying process may still write).
        with contextlib.suppress(AssertionError):  # best effort: a zombie does not fail the test
            wait_until_blocking(lambda: not any(Path(f"/proc/{pid}").exists() for pid in victims), 10,
                                "the killed processes to be gone", interval=0.1)


class LocalCluster:
    """A head and worker nodes on this machine sharing one data root (like EFS on a cluster)."""

    def __init__(self, workdir: Path, data_root: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.data_root = data_root
        # Short: Ray's unix socket paths under it must stay within 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="csmsray-", dir="/tmp"))
        self.gcs_port = free_port()
        # Ray binds the GCS to the node's IP address, which every node here shares.
        from ray._private.services import get_node_ip_address

        self.address = f"{get_node_ip_address()}:{self.gcs_port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
        # cluster.yaml's nodes run with token authentication; so must every driver of theirs.
        self.env["RAY_AUTH_MODE"] = "token"
        self.env.update(env)
        self.nodes: list[RayNode] = []
        self.csms_bin = f"{sys.executable} -m scripts.cli"

    def start_node(self, kind: str, num_cpus: int = 4) -> RayNode:
        metrics_port, node_manager_port = free_port(), free_port()
        low, high = free_port_range(60)
        replacements = {
            "~/csms-venv/bin/csms": self.csms_bin,
            "/mnt/csms-data": str(self.data_root),
            "--object-manager-port=8076": f"--object-manager-port={free_port()}",
            "--metrics-export-port=8080": f"--metrics-export-port={metrics_port}",
        }
        if kind == "head":
            replacements.update({
                "--port=6379": f"--port={self.gcs_port}",
                "--dashboard-host=0.0.0.0": "--dashboard-host=127.0.0.1",
                # No autoscaler on one machine.
                "--autoscaling-config=~/ray_bootstrap_config.yaml": "",
            })
        else:
            replacements["$RAY_HEAD_IP:6379"] = self.address
        command = substitute(start_command(kind), replacements)
        # Ports of our own for everything Ray would otherwise take from its defaults.
        command += (
            f" --node-manager-port={node_manager_port} --min-worker-port={low} --max-worker-port={high}"
            f" --dashboard-agent-listen-port={free_port()} --dashboard-agent-grpc-port={free_port()}"
            f" --runtime-env-agent-port={free_port()} --temp-dir={self.temp_dir} --num-cpus={num_cpus} --block"
        )
        if kind == "head":
            command += f" --include-dashboard=false --ray-client-server-port={free_port()} --dashboard-port={free_port()}"
        log_path = self.workdir / f"{kind}-{len(self.nodes)}.log"
        proc = subprocess.Popen(["bash", "-c", command], cwd=REPO, env=self.env, stdout=log_path.open("ab"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        node = RayNode(kind, proc, log_path, metrics_port, node_manager_port)
        self.nodes.append(node)
        return node

    def wait_for_nodes(self, alive: int, timeout_s: float = 120) -> list[dict]:
        def nodes_up() -> list[dict] | None:
            for node in self.nodes:
                if node.proc.poll() is not None and not node.killed:
                    raise AssertionError(f"{node.kind} node exited:\n{node.log_path.read_text()[-3000:]}")
            try:
                nodes = self.driver("nodes", timeout_s=60)
            except (AssertionError, subprocess.TimeoutExpired):
                return None
            return nodes if sum(1 for n in nodes if n["alive"]) >= alive else None

        return wait_until_blocking(nodes_up, timeout_s, f"{alive} Ray nodes to be up", interval=1)

    def driver(self, *args: str, timeout_s: float = 120):
        out = subprocess.run(
            [sys.executable, "-m", "tests.cluster_driver", self.address, *args], cwd=REPO, env=self.env,
            capture_output=True, text=True, timeout=timeout_s,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        assert out.returncode == 0 and lines, f"driver {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        return json.loads(lines[-1])["result"]

    def deploy(self, serve_config: Path) -> None:
        """cluster.yaml's own deploy command (`serve run --non-blocking ...`), against this cluster."""
        command = substitute(deploy_command(), {
            "~/csms-venv/bin/serve": str(Path(sys.executable).parent / "serve"),
            "/mnt/csms-data": str(self.data_root),
            "--address=auto": f"--address={self.address}",
            "~/csms/serve_config.yaml": str(serve_config),
        })
        out = subprocess.run(["bash", "-c", command], cwd=REPO, env=self.env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, f"deploy failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
