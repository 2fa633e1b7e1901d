"""The analytics scheduler: daily curation and anomaly jobs after midnight UTC, the monthly fault report.

Jobs and their periods:
  curation      a UTC day: `analytics.curate.run` (bronze -> silver, plus days late data touched),
                then `analytics.retention.enforce` when retention is configured
  mass_outage   a UTC day, once that day is curated
  maintenance   a UTC day, once that day is curated
  fault_report  a month, once its last day is curated: built, written to gold and e-mailed
                (when SMTP is configured). So the report "of the last day of the month"
                runs just after the midnight that ends that day, right after its curation:
                earlier, the last day's faults would be missing.
A day D is due `scheduler_delay_after_midnight_s` after the midnight that ends it (late
frames of D have time to land).

Each completed (job, period) is recorded durably in `<data_root>/analytics/scheduler-state.json`
before the next starts, so after a restart the scheduler catches up every missed period
(at most `scheduler_catch_up_days` back, never before it was first started) and never runs
a recorded period again. A period that fails is retried on a later tick, no sooner than
RETRY_AFTER_S. Runs are serial: one job at a time, scheduled or on demand.

On demand: `POST /api/jobs/{job}?period=...` (admin role) or
`python -m analytics.scheduler run JOB [PERIOD]`; on-demand runs are not recorded (they
are re-runs by intent). `python -m analytics.scheduler status` shows the state file;
`... catch-up` runs and records what is due, in this process (an advisory lock on the data
root keeps it and the actor from ticking at once).

The clock and the job runners are injectable: tests drive `Scheduler.tick` with a fake
clock instead of waiting for midnight. In the CSMS, `AnalyticsScheduler` is a named,
detached Ray actor (started by serve_app/app.py) that ticks every `scheduler_poll_s`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

from actors.durable_file import write_atomically
from analytics.fault_report import parse_month, previous_month
from analytics.report_mail import ReportMailError

log = logging.getLogger("csms.analytics.scheduler")

SCHEDULER_NAME = "analytics-scheduler"
STATE_FILE = Path("analytics") / "scheduler-state.json"
LOCK_FILE = Path("analytics") / "scheduler.lock"
DAILY_JOBS = ("curation", "mass_outage", "maintenance")
MONTHLY_JOBS = ("fault_report",)
JOBS = DAILY_JOBS + MONTHLY_JOBS
RETRY_AFTER_S = 900.0
ON_DEMAND_TIMEOUT_S = 3600.0
MONTHS_KEPT = 36  # recorded months kept in the state file (days are pruned to the catch-up window)

Runner = Callable[[Path, str, bool], None]  # (data_root, period, email)


class JobRequest(msgspec.Struct, frozen=True):
    job: str
    period: str
    email: bool = False

    @classmethod
    def parse(cls, job: str, period: str | None = None, email: bool = False,
              now: dt.datetime | None = None) -> JobRequest:
        """Validate an on-demand request; the period defaults to yesterday / the previous month."""
        now = now or dt.datetime.now(dt.timezone.utc)
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}; one of: {', '.join(JOBS)}")
        if job in MONTHLY_JOBS:
            period = period or previous_month(now)
            parse_month(period)
        else:
            period = period or (now.date() - dt.timedelta(days=1)).isoformat()
            try:
                dt.date.fromisoformat(period)
            except ValueError:
                raise ValueError(f"period of {job} must be a day YYYY-MM-DD, got {period!r}") from None
            if len(period) != 10:
                raise ValueError(f"period of {job} must be a day YYYY-MM-DD, got {period!r}")
        if email and job != "fault_report":
            raise ValueError("only the fault_report job sends e-mail")
        return cls(job, period, email)


class JobOutcome(msgspec.Struct):
    job: str
    period: str
    status: Literal["done", "failed", "busy"]
    detail: str = ""
    seconds: float = 0.0
    on_demand: bool = False


class ScheduleState(msgspec.Struct):
    """What has been done: job -> sorted periods. `since` is the first day we are responsible for."""

    since: str
    done: dict[str, list[str]] = msgspec.field(default_factory=dict)

    def has(self, job: str, period: str) -> bool:
        return period in self.done.get(job, ())

    def record(self, job: str, period: str) -> None:
        self.done[job] = sorted({*self.done.get(job, ()), period})


def load_state(data_root: Path) -> ScheduleState | None:
    path = data_root / STATE_FILE
    if not path.exists():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=ScheduleState)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Refuse to guess: a guessed state could run every period again or skip them all.
        raise RuntimeError(f"unreadable scheduler state {path}: {exc}; fix or remove it") from None


def save_state(data_root: Path, state: ScheduleState) -> None:
    path = data_root / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, msgspec.json.format(msgspec.json.encode(state)) + b"\n")


# --- what is due ---------------------------------------------------------------------------


def last_due_day(now: dt.datetime, delay_s: float) -> dt.date:
    """The newest day whose curation is due: its midnight-after plus the delay has passed."""
    return (now - dt.timedelta(seconds=delay_s)).date() - dt.timedelta(days=1)


def _month_last_day(month: str) -> dt.date:
    start, end = parse_month(month)
    return (end - dt.timedelta(days=1)).date()


def due(now: dt.datetime, state: ScheduleState, delay_s: float, catch_up_days: int) -> list[JobRequest]:
    """Every (job, period) that should have run by `now` and is not recorded, in running order."""
    newest = last_due_day(now, delay_s)
    oldest = max(dt.date.fromisoformat(state.since), newest - dt.timedelta(days=catch_up_days - 1))
    requests: list[JobRequest] = []
    day = oldest
    while day <= newest:
        period = day.isoformat()
        requests += [JobRequest(job, period) for job in DAILY_JOBS if not state.has(job, period)]
        tomorrow = day + dt.timedelta(days=1)
        if tomorrow.day == 1 and not state.has("fault_report", day.strftime("%Y-%m")):
            requests.append(JobRequest("fault_report", day.strftime("%Y-%m"), email=True))
        day = tomorrow
    return requests


def _prerequisite(request: JobRequest) -> tuple[str, str] | None:
    if request.job in ("mass_outage", "maintenance"):
        return ("curation", request.period)
    if request.job == "fault_report":
        return ("curation", _month_last_day(request.period).isoformat())
    return None


def _prune(state: ScheduleState, oldest: dt.date) -> None:
    for job in DAILY_JOBS:
        state.done[job] = [p for p in state.done.get(job, []) if p >= oldest.isoformat()]
    for job in MONTHLY_JOBS:
        state.done[job] = state.done.get(job, [])[-MONTHS_KEPT:]


# --- the runners ------------------------------------------------------------------------------


def default_runners(config) -> dict[str, Runner]:
    def curation(data_root: Path, period: str, email: bool) -> None:
        from analytics import curate, retention

        day = dt.date.fromisoformat(period)
        # As if run the day after `day`: curates `day` and every earlier day that late bronze
        # has touched since the last run, so offline-queued events reach their own day.
        curate.run(data_root, settings=curate.Settings.from_config(config), today=day + dt.timedelta(days=1),
                   echo=lambda line: log.info(line, extra={"job": "curation", "period": period}))
        # Retention after curation, in the same serial run: both write the curation state,
        # and bronze may only go once curated.
        if config.bronze_retention_days or config.silver_retention_days:
            deleted = retention.enforce(data_root, config.bronze_retention_days, config.silver_retention_days,
                                        today=day + dt.timedelta(days=1),
                                        lookback_days=config.curate_transaction_lookback_days)
            log.info("retention enforced", extra={"period": period, "deleted": str(deleted)})

    def mass_outage(data_root: Path, period: str, email: bool) -> None:
        from analytics import mass_outage as job

        job.run(data_root, [dt.date.fromisoformat(period)])

    def maintenance(data_root: Path, period: str, email: bool) -> None:
        from analytics import maintenance as job

        job.run(data_root, [dt.date.fromisoformat(period)])

    def fault_report(data_root: Path, period: str, email: bool) -> None:
        from analytics import fault_report as job
        from analytics.report_mail import mail_configured

        send = email and mail_configured(config)
        if email and not send:
            log.info("fault report built but not e-mailed: smtp_host, smtp_sender or report_recipients not set",
                     extra={"month": period})
        job.run(data_root, period, email=send, config=config)

    return {"curation": curation, "mass_outage": mass_outage, "maintenance": maintenance, "fault_report": fault_report}


# --- the scheduler ----------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(data_root: Path) -> Iterator[bool]:
    """An advisory lock on the state, so `python -m analytics.scheduler catch-up` and the
    actor never tick at once (each would run the same due period)."""
    path = data_root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Scheduler:
    """Runs due jobs in order and records them; thread-safe (one job at a time)."""

    def __init__(self, data_root: str | Path, config, runners: dict[str, Runner] | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> None:
        self.data_root = Path(data_root)
        self.config = config
        self.runners = runners or default_runners(config)
        self.clock = clock
        self._lock = threading.Lock()
        self._failed_at: dict[tuple[str, str], dt.datetime] = {}
        self.last_outcomes: list[JobOutcome] = []

    def state(self) -> ScheduleState:
        state = load_state(self.data_root)
        if state is None:
            # First start: responsible from the newest due day on, not for all of history.
            newest = last_due_day(self.clock(), self.config.scheduler_delay_after_midnight_s)
            state = ScheduleState(since=newest.isoformat())
            save_state(self.data_root, state)
            log.info("scheduler state created", extra={"since": state.since, "path": str(self.data_root / STATE_FILE)})
        return state

    def tick(self) -> list[JobOutcome]:
        """Run everything due now (skipping recent failures and what waits on them)."""
        with self._lock, _exclusive(self.data_root) as mine:
            if not mine:
                log.info("another scheduler process is ticking on this data root; skipping this tick")
                return []
            state = self.state()
            now = self.clock()
            outcomes = []
            blocked: set[tuple[str, str]] = set()
            for request in due(now, state, self.config.scheduler_delay_after_midnight_s,
                               self.config.scheduler_catch_up_days):
                key = (request.job, request.period)
                needs = _prerequisite(request)
                if needs and (needs in blocked or not state.has(*needs)):
                    blocked.add(key)
                    continue
                failed = self._failed_at.get(key)
                if failed and (now - failed).total_seconds() < RETRY_AFTER_S:
                    blocked.add(key)
                    continue
                outcome = self._run(request)
                outcomes.append(outcome)
                if outcome.status == "done":
                    state.record(*key)
                    _prune(state, last_due_day(now, self.config.scheduler_delay_after_midnight_s)
                           - dt.timedelta(days=self.config.scheduler_catch_up_days))
                    save_state(self.data_root, state)  # before the next job: never run twice
                    self._failed_at.pop(key, None)
                else:
                    self._failed_at[key] = now
                    blocked.add(key)
            self.last_outcomes = (self.last_outcomes + outcomes)[-50:]
            return outcomes

    def run_now(self, request: JobRequest, wait_s: float = ON_DEMAND_TIMEOUT_S) -> JobOutcome:
        """Run one job on demand (not recorded), after whatever is running now."""
        if not self._lock.acquire(timeout=wait_s):
            return JobOutcome(request.job, request.period, "busy", "another analytics job is still running",
                              on_demand=True)
        try:
            outcome = self._run(request)
            outcome.on_demand = True
            self.last_outcomes = (self.last_outcomes + [outcome])[-50:]
            return outcome
        finally:
            self._lock.release()

    def _run(self, request: JobRequest) -> JobOutcome:
        started = time.monotonic()
        extra = {"job": request.job, "period": request.period}
        log.info("analytics job started", extra=extra)
        try:
            self.runners[request.job](self.data_root, request.period, request.email)
        except Exception as exc:  # a job's failure must not stop the scheduler
            seconds = round(time.monotonic() - started, 3)
            if isinstance(exc, ReportMailError) and exc.may_have_been_sent:
                # Retrying could mail it twice; the report itself is written.
                log.error("fault report e-mail may not have arrived; not resending", extra={**extra, "reason": str(exc)})
                return JobOutcome(request.job, request.period, "done", str(exc), seconds)
            level = logging.ERROR
            log.log(level, "analytics job failed", extra={**extra, "reason": f"{type(exc).__name__}: {exc}"},
                    exc_info=not isinstance(exc, ReportMailError))
            return JobOutcome(request.job, request.period, "failed", f"{type(exc).__name__}: {exc}", seconds)
        seconds = round(time.monotonic() - started, 3)
        log.info("analytics job done", extra={**extra, "seconds": seconds})
        return JobOutcome(request.job, request.period, "done", "", seconds)


# --- the Ray actor -----------------------------------------------------------------------------

# A job that has not finished after this long is cancelled and counts as failed (retried on a
# later tick): a month's curation of 10,000 stations takes minutes (BENCHMARKS.md section 4).
JOB_TIMEOUT_S = 6 * 3600.0


def _run_job_here(config, job: str, data_root: str, period: str, email: bool) -> None:
    from actors import logs

    logs.configure()  # the job's lines are JSON like the scheduler's
    default_runners(config)[job](Path(data_root), period, email)


def in_own_workers(config) -> dict[str, Runner]:
    """The default runners, each run as a Ray task whose worker exits when the job ends
    (max_calls=1): DuckDB, Polars and their arenas (~70 MiB PSS after one curation) leave with
    it instead of staying in the scheduler for the rest of the day (BENCHMARKS.md section 17)."""
    import ray
    from ray.exceptions import GetTimeoutError, RayTaskError

    # num_cpus=0 like the scheduler itself: the jobs' shards ask Ray for CPUs themselves.
    remote = ray.remote(num_cpus=0, max_calls=1, max_retries=0)(_run_job_here)

    def runner(job: str) -> Runner:
        def run(data_root: Path, period: str, email: bool) -> None:
            ref = remote.options(name=f"analytics-{job}").remote(config, job, str(data_root), period, email)
            try:
                ray.get(ref, timeout=JOB_TIMEOUT_S)
            except RayTaskError as exc:
                # The job's own exception (ReportMailError's may_have_been_sent included), so
                # Scheduler._run tells a mail that may have gone from a failure as before.
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
            except GetTimeoutError:
                ray.cancel(ref, force=True)
                raise TimeoutError(f"{job} {period} did not finish in {JOB_TIMEOUT_S:.0f} s") from None
        return run

    return {job: runner(job) for job in default_runners(config)}


class AnalyticsScheduler:
    """Named, detached Ray actor: a thread ticks the Scheduler; methods serve on-demand runs."""

    def __init__(self, config) -> None:
        from actors import logs

        logs.configure()  # JSON lines to the worker's stderr, like every other CSMS actor
        self.scheduler = Scheduler(config.data_path, config, runners=in_own_workers(config))
        self.poll_s = config.scheduler_poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="analytics-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scheduler.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying on the next tick")
            self._stop.wait(self.poll_s)

    def ping(self) -> bool:
        return True

    def run_now(self, request: JobRequest) -> JobOutcome:
        return self.scheduler.run_now(request)

    def status(self) -> dict:
        return {"state": msgspec.to_builtins(self.scheduler.state()),
                "recent": msgspec.to_builtins(self.scheduler.last_outcomes)}

    def stop(self) -> None:
        self._stop.set()


def start(config) -> None:
    """Start the scheduler actor (serve_app/app.py start_backend); a no-op if it is running."""
    import ray

    from actors import directory

    ray.remote(AnalyticsScheduler).options(
        name=SCHEDULER_NAME, namespace=directory.NAMESPACE, lifetime="detached", max_restarts=-1,
        # Ticks in a thread while on-demand calls wait for the job lock; num_cpus=0 like the
        # other control actors: the jobs' shards ask Ray for CPUs themselves.
        max_concurrency=4, num_cpus=0, get_if_exists=True,
    ).remote(config)


def stop() -> None:
    import ray

    from actors import directory

    try:
        ray.kill(directory.get_actor(SCHEDULER_NAME))
    except ValueError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML config file (default: $CSMS_CONFIG or defaults)")
    parser.add_argument("--data-root", help="data root (default: data_root of the config)")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run one job now, in this process (not recorded)")
    run_p.add_argument("job", choices=JOBS)
    run_p.add_argument("period", nargs="?", help="YYYY-MM-DD, or YYYY-MM for fault_report (default: the last one)")
    run_p.add_argument("--email", action="store_true")
    sub.add_parser("status", help="print what the scheduler has recorded")
    sub.add_parser("catch-up", help="run every due period now, in this process, and record it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from actors.config import load_config

    config = load_config(args.config)
    if args.data_root:
        config = msgspec.structs.replace(config, data_root=args.data_root)
    scheduler = Scheduler(config.data_path, config)
    if args.command == "status":  # read only: a first `status` must not start the schedule
        state = load_state(config.data_path)
        print(msgspec.json.format(msgspec.json.encode(state)).decode() if state else "no scheduler state yet")
        return 0
    if args.command == "catch-up":
        outcomes = scheduler.tick()
    else:
        try:
            outcomes = [scheduler.run_now(JobRequest.parse(args.job, args.period, args.email))]
        except ValueError as exc:
            parser.error(str(exc))
    for outcome in outcomes:
        print(f"{outcome.job} {outcome.period}: {outcome.status} in {outcome.seconds:.1f} s {outcome.detail}".rstrip())
    return 0 if all(o.status == "done" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
