"""The analytics scheduler, driven by an injected clock (no waiting for midnight)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from actors.config import Config
from analytics import fault_report, scheduler
from analytics.scheduler import JobRequest, Scheduler
from analytics.tables import MAINTENANCE_SCORES, MASS_OUTAGES, PART_FILE, day_dir
from tests import fleet_history as fh
from tests.silver_rows import ts


class Clock:
    def __init__(self, now: str) -> None:
        self.now = ts(now)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, now: str) -> None:
        self.now = ts(now)


class Jobs:
    """Runners that record their calls; `fail` maps (job, period) to how many more times it fails."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.fail: dict[tuple[str, str], int] = {}

    def runners(self) -> dict:
        def runner(job: str):
            def run(data_root, period: str, email: bool) -> None:
                self.calls.append((job, period, email))
                if self.fail.get((job, period), 0) > 0:
                    self.fail[(job, period)] -= 1
                    raise OSError(f"{job} {period} broke")
            return run
        return {job: runner(job) for job in scheduler.JOBS}

    def take(self) -> list[tuple[str, str, bool]]:
        calls, self.calls = self.calls, []
        return calls


def daily(day: str) -> list[tuple[str, str, bool]]:
    return [("curation", day, False), ("mass_outage", day, False), ("maintenance", day, False)]


CONFIG = Config(scheduler_delay_after_midnight_s=300, scheduler_catch_up_days=10)


@pytest.fixture
def setup(tmp_path):
    clock = Clock("2026-10-30T12:00:00")
    jobs = Jobs()

    def make() -> Scheduler:  # a new one is a restart: only the state file survives
        return Scheduler(tmp_path, CONFIG, jobs.runners(), clock)

    return clock, jobs, make, tmp_path


def test_first_start_runs_only_the_newest_due_day(setup):
    clock, jobs, make, root = setup
    make().tick()
    assert jobs.take() == daily("2026-10-29")
    assert scheduler.load_state(root).since == "2026-10-29"


def test_the_daily_jobs_run_just_after_midnight_plus_the_delay(setup):
    clock, jobs, make, _ = setup
    s = make()
    s.tick()
    jobs.take()
    clock.set("2026-10-31T00:04:59")
    assert s.tick() == [] and jobs.take() == []
    clock.set("2026-10-31T00:05:00")
    s.tick()
    assert jobs.take() == daily("2026-10-30")


def test_the_monthly_report_runs_right_after_the_last_day_is_curated_and_mails(setup):
    clock, jobs, make, root = setup
    s = make()
    s.tick()
    clock.set("2026-11-01T00:05:00")
    jobs.take()
    outcomes = s.tick()
    assert jobs.take() == [*daily("2026-10-30"), *daily("2026-10-31"), ("fault_report", "2026-10", True)]
    assert [o.status for o in outcomes] == ["done"] * 7
    assert scheduler.load_state(root).done["fault_report"] == ["2026-10"]


def test_a_period_never_runs_twice_even_across_restarts(setup):
    clock, jobs, make, _ = setup
    make().tick()
    clock.set("2026-11-01T06:00:00")
    make().tick()
    jobs.take()
    make().tick()
    s = make()
    s.tick()
    s.tick()
    assert jobs.take() == []


def test_missed_days_and_months_are_caught_up_in_order_after_a_restart(setup):
    clock, jobs, make, _ = setup
    make().tick()
    jobs.take()
    clock.set("2026-11-03T09:00:00")  # down since 30 October noon
    make().tick()
    assert jobs.take() == [*daily("2026-10-30"), *daily("2026-10-31"), ("fault_report", "2026-10", True),
                           *daily("2026-11-01"), *daily("2026-11-02")]


def test_catch_up_is_bounded(setup):
    clock, jobs, make, _ = setup
    make().tick()
    jobs.take()
    clock.set("2027-03-01T09:00:00")
    make().tick()
    days = sorted({period for job, period, _ in jobs.take() if job == "curation"})
    assert len(days) == CONFIG.scheduler_catch_up_days and days[-1] == "2027-02-28" and days[0] == "2027-02-19"


def test_a_failed_job_is_retried_later_without_rerunning_what_succeeded(setup):
    clock, jobs, make, root = setup
    jobs.fail[("mass_outage", "2026-10-29")] = 1
    s = make()
    outcomes = s.tick()
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    assert "mass_outage 2026-10-29 broke" in outcomes[1].detail
    jobs.take()
    clock.set("2026-10-30T12:10:00")  # too soon to retry
    assert s.tick() == []
    clock.set("2026-10-30T12:16:00")
    s.tick()
    assert jobs.take() == [("mass_outage", "2026-10-29", False)]
    assert scheduler.load_state(root).has("mass_outage", "2026-10-29")


def test_a_failed_curation_holds_back_the_jobs_that_need_it(setup):
    clock, jobs, make, _ = setup
    s = make()
    s.tick()
    jobs.take()
    clock.set("2026-11-01T00:05:00")
    jobs.fail[("curation", "2026-10-31")] = 1
    s.tick()
    # no anomaly jobs and no report without the curated day
    assert jobs.take() == [*daily("2026-10-30"), ("curation", "2026-10-31", False)]
    clock.set("2026-11-01T00:25:00")
    s.tick()
    assert jobs.take() == [*daily("2026-10-31"), ("fault_report", "2026-10", True)]


def test_the_real_jobs_curate_late_data_and_score_what_a_tick_finds_due(tmp_path):
    """The default runners, not stand-ins: bronze in, silver and gold out, late data included."""
    from analytics import tables as t
    from tests.bronze import Bronze

    bronze = Bronze()
    bronze.status("CP-1", 1, "Faulted", "2026-10-29T10:00:00Z", error_code="GroundFailure")
    # Happened on the 27th, queued offline, received on the 29th: curated into the 27th.
    bronze.status("CP-1", 1, "Faulted", "2026-10-27T23:00:00Z", received="2026-10-29T11:00:00Z")
    bronze.write(tmp_path)
    s = Scheduler(tmp_path, CONFIG, clock=Clock("2026-10-30T12:00:00"))
    outcomes = s.tick()
    assert [(o.job, o.status) for o in outcomes] == [("curation", "done"), ("mass_outage", "done"),
                                                      ("maintenance", "done")], outcomes
    for day in (dt.date(2026, 10, 29), dt.date(2026, 10, 27)):
        rows = pl.read_parquet(t.day_dir(t.STATUS_CHANGES, tmp_path, day) / t.PART_FILE)
        assert rows["status"].to_list() == ["Faulted"]


def test_on_demand_runs_are_not_recorded(setup):
    clock, jobs, make, root = setup
    s = make()
    outcome = s.run_now(JobRequest.parse("fault_report", "2026-09", email=True))
    assert outcome.status == "done" and outcome.on_demand
    assert jobs.take() == [("fault_report", "2026-09", True)]
    assert not s.state().has("fault_report", "2026-09")


@pytest.mark.parametrize("job, period, message", [
    ("reindex", None, "unknown job"),
    ("fault_report", "2026-13", "YYYY-MM"),
    ("curation", "2026-10", "YYYY-MM-DD"),
    ("curation", "yesterday", "YYYY-MM-DD"),
    ("maintenance", "2026-10-01", None),
])
def test_on_demand_requests_are_validated(job, period, message):
    if message is None:
        assert JobRequest.parse(job, period).period == period
        return
    with pytest.raises(ValueError, match=message):
        JobRequest.parse(job, period)


def test_on_demand_defaults_are_the_last_complete_periods():
    now = ts("2026-11-01T08:00:00")
    assert JobRequest.parse("curation", now=now).period == "2026-10-31"
    assert JobRequest.parse("fault_report", now=now).period == "2026-10"


def test_an_unreadable_state_file_stops_the_scheduler_rather_than_guessing(setup):
    clock, jobs, make, root = setup
    make().tick()
    (root / scheduler.STATE_FILE).write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable scheduler state"):
        make().tick()


def test_the_real_jobs_run_on_schedule_over_curated_silver(tmp_path):
    """Curation is the other part's; here silver is already there. The rest is real."""
    fh.generate(tmp_path)
    jobs = Jobs()
    runners = {**scheduler.default_runners(CONFIG), "curation": jobs.runners()["curation"]}
    clock = Clock("2026-10-21T12:00:00")
    s = Scheduler(tmp_path, CONFIG, runners, clock)
    assert [o.status for o in s.tick()] == ["done"] * 3  # 20 October
    clock.set("2026-11-01T00:10:00")
    outcomes = s.tick()
    assert all(o.status == "done" for o in outcomes), outcomes
    # 10 days of catch-up: 22 to 31 October
    assert sorted(o.period for o in outcomes if o.job == "mass_outage")[0] == "2026-10-22"
    assert (day_dir(MASS_OUTAGES, tmp_path, dt.date(2026, 10, 22)) / PART_FILE).exists()
    assert (day_dir(MAINTENANCE_SCORES, tmp_path, dt.date(2026, 10, 31)) / PART_FILE).exists()
    report = fault_report.read_report(tmp_path, "2026-10")
    assert report is not None and report.height > 0  # the degrading chargers faulted >= 5 times a day


def test_two_schedulers_on_one_data_root_never_tick_at_once(setup):
    clock, jobs, make, root = setup
    first, second = make(), make()
    with scheduler._exclusive(root) as mine:
        assert mine
        assert second.tick() == [] and jobs.take() == []  # the other holds the lock
    first.tick()
    assert jobs.take() == daily("2026-10-29")
