"""Benchmark the CSMS against the single-process baseline, in the same run.

Runs the station simulator (scripts.simulator) with the same parameters against the
baseline central system (scripts.baseline_central_system, started here as a subprocess on
--baseline-port, fresh for every round) and against the CSMS at --url, interleaved
(baseline, csms, baseline, csms, ... for --repeat rounds), and prints for both: connections
held, CALLs/s, p50/p99 latency, the server's memory and CPU per CALL, and the csms/baseline
ratio of the medians, as a Markdown table ready to paste into BENCHMARKS.md.

`--versions 1.6 2.0.1` measures the CSMS with 1.6 stations, then with 2.0.1 stations, in each
round (the baseline speaks 1.6 only; its run is the reference for both), and adds the
csms 2.0.1 / csms 1.6 ratio.

The CSMS is not started here (start it first: `csms serve`), unless --start-csms is given.
Its memory is the RSS (and PSS) sum of the processes given by --csms-pids and their
descendants, or else of every process whose command line contains 'ray::', 'raylet' or
'gcs_server' (any other Ray cluster on the machine is counted too: prefer --csms-pids).

    python -m scripts.bench_stations --url ws://127.0.0.1:8000 --mode throughput \\
        --stations 200 --duration 30 --repeat 2
    python -m scripts.bench_stations --url ws://127.0.0.1:8000 --mode realistic --stations 20000 \\
        --duration 600 --register --token T
    python -m scripts.bench_stations --mode storm --stations 10000 --no-csms   # baseline only
    python -m scripts.bench_stations --mode throughput --stations 200 --duration 20 --versions 1.6 2.0.1 \
        --start-csms --register --token T
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from scripts.simulator import (
    MODES, SimulationConfig, SimulationReport, add_config_arguments, config_from_args,
    register_stations, require_loopback, run_simulation,
)
from scripts.simulator_ocpp import DIALECTS

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
RAY_PATTERNS = ("ray::", "raylet", "gcs_server")

# What each mode means when its knobs are not given on the command line.
MODE_PRESETS: dict[str, dict[str, object]] = {
    "realistic": {"heartbeat_interval": 300.0, "meter_interval": 60.0, "duration": 600.0,
                  "ramp_rate": 100.0, "warmup": 30.0},
    "throughput": {"duration": 30.0},
    "storm": {"duration": 120.0, "ramp_rate": 0.0},
}


# ---------------------------------------------------------------------------------------
# /proc readings (no psutil needed)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def _ppid_map() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _read(f"/proc/{name}/stat")
            if stat:
                out[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def process_tree(roots: list[int]) -> list[int]:
    """The given processes and all their descendants that are alive."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = set(), [p for p in roots if os.path.exists(f"/proc/{p}")]
    while stack:
        p = stack.pop()
        if p not in seen:
            seen.add(p)
            stack.extend(children.get(p, ()))
    return sorted(seen)


def matching_processes(patterns: tuple[str, ...] = RAY_PATTERNS) -> list[int]:
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        cmd = _read(f"/proc/{name}/cmdline")
        if cmd and any(p in cmd.replace("\0", " ") for p in patterns):
            out.append(int(name))
    return out


@dataclass
class ProcSample:
    pids: int = 0
    rss_kib: int = 0
    pss_kib: int = 0
    cpu_s: float = 0.0


def sample(pids: list[int], memory: bool = True) -> ProcSample:
    """CPU, and unless `memory` is False RSS and PSS, summed over `pids`. PSS walks every page
    table (smaps_rollup): about 5 ms of kernel time per large process, so sample it less often."""
    s = ProcSample()
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        status = _read(f"/proc/{pid}/status") if memory else ""
        if not stat or status is None:
            continue
        s.pids += 1
        if memory:
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    s.rss_kib += int(line.split()[1])
                    break
            rollup = _read(f"/proc/{pid}/smaps_rollup")
            for line in (rollup or "").splitlines():
                if line.startswith("Pss:"):
                    s.pss_kib += int(line.split()[1])
                    break
        fields = stat[stat.rindex(")") + 2:].split()
        s.cpu_s += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return s


class ServerProcesses:
    """The process set whose memory and CPU are the server's."""

    def __init__(self, roots: list[int] | None = None, patterns: tuple[str, ...] = RAY_PATTERNS) -> None:
        self.roots = roots
        self.patterns = patterns

    def pids(self) -> list[int]:
        if self.roots:
            return process_tree(self.roots)
        return matching_processes(self.patterns)

    def sample(self) -> ProcSample:
        return sample(self.pids())


class Sampler:
    """Samples a process set every `interval` s while a run goes on; keeps the peaks."""

    def __init__(self, procs: ServerProcesses, interval: float = 1.0) -> None:
        self.procs = procs
        self.interval = interval
        self.peak_rss = self.peak_pss = self.max_pids = 0
        self._task: asyncio.Task | None = None

    async def _loop(self) -> None:
        while True:
            s = await asyncio.to_thread(self.procs.sample)
            self.peak_rss = max(self.peak_rss, s.rss_kib)
            self.peak_pss = max(self.peak_pss, s.pss_kib)
            self.max_pids = max(self.max_pids, s.pids)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


# ---------------------------------------------------------------------------------------
# One measured run


@dataclass
class RunResult:
    target: str
    round: int
    stations: int
    held: int
    calls_per_s: float
    steady_calls_per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    steady_p99_ms: float | None
    all_ready_s: float | None
    callerrors: int
    timeouts: int
    storm_s: float | None
    idle_rss_mib: float
    peak_rss_mib: float
    peak_pss_mib: float
    kib_per_connection: float | None
    cpu_us_per_call: float | None
    server_processes: int
    report: dict = field(default_factory=dict)


async def measure(target: str, rnd: int, cfg: SimulationConfig, procs: ServerProcesses) -> RunResult:
    before = await asyncio.to_thread(procs.sample)
    sampler = Sampler(procs)
    sampler.start()
    try:
        report: SimulationReport = await run_simulation(cfg)
    finally:
        await sampler.stop()
    after = await asyncio.to_thread(procs.sample)
    answered = report.callresults + report.callerrors
    cpu = after.cpu_s - before.cpu_s
    peak_rss = max(sampler.peak_rss, after.rss_kib)
    per_conn = None
    if report.connections_held:
        per_conn = round((max(sampler.peak_pss, after.pss_kib) - before.pss_kib) / report.connections_held, 1)
    return RunResult(
        target=target, round=rnd, stations=cfg.stations, held=report.connections_held,
        calls_per_s=report.calls_per_s, steady_calls_per_s=report.steady_calls_per_s,
        p50_ms=report.p50_ms, p99_ms=report.p99_ms, steady_p99_ms=report.steady_p99_ms,
        all_ready_s=report.all_ready_s,
        callerrors=report.callerrors, timeouts=report.timeouts, storm_s=report.storm_time_s,
        idle_rss_mib=round(before.rss_kib / 1024, 1),
        peak_rss_mib=round(peak_rss / 1024, 1),
        peak_pss_mib=round(max(sampler.peak_pss, after.pss_kib) / 1024, 1),
        kib_per_connection=per_conn,
        cpu_us_per_call=round(cpu / answered * 1e6, 1) if answered else None,
        server_processes=max(sampler.max_pids, after.pids),
        report=msgspec.to_builtins(report),
    )


# ---------------------------------------------------------------------------------------
# Servers


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _wait_port(host: str, port: int, proc: subprocess.Popen | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(_port_open, host, port):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not listening on {host}:{port} after {timeout:.0f} s")
        await asyncio.sleep(0.1)


def _stop_process(proc: subprocess.Popen, first: int = signal.SIGTERM, grace: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(first)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Baseline:
    def __init__(self, port: int, heartbeat_interval: int) -> None:
        self.port = port
        self.heartbeat_interval = heartbeat_interval
        self.proc: subprocess.Popen | None = None

    async def __aenter__(self) -> Baseline:
        if await asyncio.to_thread(_port_open, "127.0.0.1", self.port):
            raise RuntimeError(f"port {self.port} is already in use: pick another --baseline-port")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.baseline_central_system", "--host", "127.0.0.1",
             "--port", str(self.port), "--heartbeat-interval", str(self.heartbeat_interval)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        await _wait_port("127.0.0.1", self.port, self.proc, 30, "the baseline")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            await asyncio.to_thread(_stop_process, self.proc)
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            if self.proc.returncode not in (0, -signal.SIGTERM) and err:
                print(f"baseline stderr:\n{err[-2000:]}", file=sys.stderr)


async def start_csms(api_url: str, timeout: float = 240.0) -> subprocess.Popen:
    """`.venv/bin/csms serve` as a subprocess; returns once GET /api/health answers 200."""
    import httpx

    exe = REPO / ".venv" / "bin" / "csms"
    if not exe.exists():
        raise RuntimeError(f"{exe} does not exist: install the project (scripts/bootstrap.sh)")
    log_path = REPO / "bench-results" / "csms-serve.log"
    log_path.parent.mkdir(exist_ok=True)
    print(f"csms serve output goes to {log_path}", flush=True)
    with open(log_path, "ab") as log:
        # Throughput mode drives each station flat out, past the per-station rate limit that
        # protects a real network (docs/security.md): off unless the caller's environment sets it.
        env = {"CSMS_STATION_RATE_PER_S": "0", **os.environ}
        proc = subprocess.Popen([str(exe), "serve"], cwd=REPO, start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"csms serve exited with {proc.returncode}")
            try:
                if (await client.get(f"{api_url.rstrip('/')}/api/health")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                _stop_process(proc, signal.SIGINT, 60)
                raise RuntimeError(f"csms serve not healthy after {timeout:.0f} s")
            await asyncio.sleep(1.0)


# ---------------------------------------------------------------------------------------
# Output


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    m = statistics.median(vals)
    return int(m) if all(isinstance(v, int) for v in vals) and m == int(m) else round(m, 1)


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


COLUMNS = [
    ("held", "connections held"), ("all_ready_s", "all ready s"), ("calls_per_s", "CALLs/s"),
    ("steady_calls_per_s", "CALLs/s after ramp"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
    ("steady_p99_ms", "p99 ms after ramp"),
    ("callerrors", "CALLERRORs"), ("timeouts", "timeouts"), ("storm_s", "storm s"),
    ("peak_rss_mib", "server RSS MiB"), ("peak_pss_mib", "server PSS MiB"),
    ("kib_per_connection", "KiB/connection"), ("cpu_us_per_call", "server CPU us/CALL"),
]


def markdown(results: list[RunResult], mode: str) -> str:
    cols = [c for c in COLUMNS if not (c[0] == "storm_s" and mode != "storm")]
    head = "| target | round | " + " | ".join(label for _, label in cols) + " |"
    sep = "|" + "---|" * (len(cols) + 2)
    lines = [head, sep]
    for r in results:
        lines.append(f"| {r.target} | {r.round} | " + " | ".join(_fmt(getattr(r, k)) for k, _ in cols) + " |")
    # "baseline", then the CSMS's targets ("csms", or one per OCPP version: "csms 1.6", "csms 2.0.1").
    targets = sorted({r.target for r in results}, key=lambda t: (t != "baseline", t))
    medians = {t: {k: _median([getattr(r, k) for r in results if r.target == t]) for k, _ in cols}
               for t in targets}
    for t in targets:
        lines.append(f"| **{t}** | median | " + " | ".join(_fmt(medians[t][k]) for k, _ in cols) + " |")
    csms = [t for t in targets if t != "baseline"]
    pairs = [(t, "baseline") for t in csms if "baseline" in medians]
    if len(csms) == 2:
        pairs.append((csms[1], csms[0]))  # 2.0.1 against 1.6
    for top, bottom in pairs:
        cells = []
        for k, _ in cols:
            a, b = medians[top][k], medians[bottom][k]
            cells.append("-" if a is None or b in (None, 0) else f"{a / b:.2f}x")
        lines.append(f"| **{top} / {bottom}** | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_stations",
                                description="Station benchmark: the CSMS against the baseline, interleaved.")
    p.add_argument("--url", default="ws://127.0.0.1:8000", help="the CSMS's station base URL (ws://)")
    p.add_argument("--mode", choices=MODES, default="throughput")
    add_config_arguments(p)
    p.add_argument("--repeat", type=int, default=1, help="rounds of (baseline, csms)")
    p.add_argument("--versions", nargs="+", choices=tuple(DIALECTS), default=None,
                   help="OCPP versions of the CSMS runs, one after another in each round (the baseline "
                        "speaks 1.6 only); default: the --ocpp version")
    p.add_argument("--baseline-port", type=int, default=9100)
    p.add_argument("--no-baseline", action="store_true", help="measure the CSMS only")
    p.add_argument("--no-csms", action="store_true", help="measure the baseline only")
    p.add_argument("--csms-pids", default="", help="comma-separated root pids of the CSMS's processes")
    p.add_argument("--csms-match", default=",".join(RAY_PATTERNS),
                   help="without --csms-pids: cmdline substrings of the CSMS's processes")
    p.add_argument("--start-csms", action="store_true", help="run `.venv/bin/csms serve` for the run")
    p.add_argument("--register", action="store_true",
                   help="register the stations and the id tag with the CSMS first")
    p.add_argument("--api-url", default=None, help="operator API URL (default: from --url)")
    p.add_argument("--token", default=os.environ.get("CSMS_API_TOKEN"))
    p.add_argument("--pause", type=float, default=3.0, help="seconds between runs")
    p.add_argument("--json-out", default=None, help="also write every run's full report here")
    return p


async def amain(a: argparse.Namespace, argv: list[str]) -> int:
    explicit = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
    preset = {}
    for key, value in MODE_PRESETS[a.mode].items():
        if f"--{key.replace('_', '-')}" not in explicit:
            preset[key] = value
    base_cfg = config_from_args(a, **preset)
    parts = urlsplit(a.url)
    api_url = a.api_url or f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
    versions = a.versions or [base_cfg.ocpp]
    # One CSMS run per version; with several, each version's stations are stations of their own.
    prefix = base_cfg.station_prefix
    csms_cfgs = {v: msgspec.structs.replace(
        base_cfg, url=a.url, ocpp=v, station_prefix=prefix if len(versions) == 1 else f"{prefix}{v.replace('.', '')}-")
        for v in versions}
    baseline_cfg = msgspec.structs.replace(base_cfg, url=f"ws://127.0.0.1:{a.baseline_port}", ocpp="1.6")
    for cfg in (*csms_cfgs.values(), baseline_cfg):
        cfg.validate()
    require_loopback(api_url)

    results: list[RunResult] = []
    csms_proc = None
    try:
        if not a.no_csms:
            if a.start_csms:
                print(f"starting .venv/bin/csms serve, waiting for {api_url}/api/health ...", flush=True)
                csms_proc = await start_csms(api_url)
            if a.register:
                for csms_cfg in csms_cfgs.values():
                    reg = msgspec.structs.replace(csms_cfg, register=True, api_url=api_url, token=a.token)
                    ok, _ = await register_stations(reg)  # raises if any failed
                    print(f"registered {ok} (stations + id tag)", flush=True)
            roots = [int(x) for x in a.csms_pids.split(",") if x.strip()]
            if csms_proc is not None and not roots:
                roots = [csms_proc.pid]
            if roots:
                csms_procs = ServerProcesses(roots)
            else:
                csms_procs = ServerProcesses(None, tuple(x for x in a.csms_match.split(",") if x))
            if not csms_procs.pids():
                print("warning: no CSMS process found for memory/CPU figures", file=sys.stderr)
        for rnd in range(1, a.repeat + 1):
            if not a.no_baseline:
                async with Baseline(a.baseline_port, int(base_cfg.heartbeat_interval)) as bl:
                    print(f"round {rnd}: baseline ...", flush=True)
                    results.append(await measure("baseline", rnd, baseline_cfg, ServerProcesses([bl.proc.pid])))
                await asyncio.sleep(a.pause)
            for version, csms_cfg in ([] if a.no_csms else csms_cfgs.items()):
                target = "csms" if len(csms_cfgs) == 1 else f"csms {version}"
                print(f"round {rnd}: {target} ...", flush=True)
                results.append(await measure(target, rnd, csms_cfg, csms_procs))
                await asyncio.sleep(a.pause)
    finally:
        if csms_proc is not None:
            await asyncio.to_thread(_stop_process, csms_proc, signal.SIGINT, 60)

    cmd = shlex.join(["python", "-m", "scripts.bench_stations", *argv])
    print()
    print(f"Mode `{a.mode}`, {base_cfg.stations} stations x {base_cfg.connectors} connectors, "
          f"{base_cfg.duration:g} s per run, {a.repeat} interleaved round(s); CSMS stations speak OCPP "
          f"{' then '.join(versions)} (baseline 1.6); "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}.")
    print(f"heartbeat {base_cfg.heartbeat_interval:g} s, meter values {base_cfg.meter_interval:g} s, "
          f"sessions {base_cfg.session_min:g}-{base_cfg.session_max:g} s, idle {base_cfg.idle_min:g}-"
          f"{base_cfg.idle_max:g} s, ramp {base_cfg.ramp_rate:g} stations/s, 'after ramp' = from "
          f"{base_cfg.warmup:g} s after every station was ready; mix {base_cfg.mix}; "
          f"message timeout {base_cfg.message_timeout:g} s.")
    print()
    print(markdown(results, a.mode))
    print()
    print(f"Command: `{cmd}`")
    for r in results:
        rep = r.report
        if rep["connections_failed"] or rep["lost"] or rep["errors_by_code"]:
            print(f"note: {r.target} round {r.round}: connect failures {rep['connect_failures']}, "
                  f"lost {rep['lost']}, CALLERRORs {rep['errors_by_code']}")
    if a.json_out:
        Path(a.json_out).write_text(msgspec.json.encode([asdict(r) for r in results]).decode())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    if a.no_baseline and a.no_csms:
        print("error: nothing to measure", file=sys.stderr)
        return 2
    try:
        return asyncio.run(amain(a, argv))
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
