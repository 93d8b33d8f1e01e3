"""The periodic jobs run in this process on their schedules (``manage.py run_periodic``): ``make run``'s scheduler.

The embedded defaults have no Redis, so RQ's cron scheduler (``manage.py run_scheduler mall.cron``) cannot run
there; this loop calls each job of ``mall.jobs.PERIODIC_JOBS`` itself when it falls due, with the schedules the
scheduler uses: an interval job at start and then every ``interval`` seconds, a cron job at each time its cron
string (UTC) names. Run exactly one, and never next to ``run_scheduler`` on the same database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from croniter import croniter

from mall.jobs import PeriodicJob
from mall.logging import job_log_scope

logger = logging.getLogger(__name__)


def next_due(job: PeriodicJob, after: datetime) -> datetime:
    """When ``job`` falls due after ``after`` (an aware datetime; cron strings are read in UTC)."""
    if job.cron:
        due: datetime = croniter(job.cron, after).get_next(datetime)
        return due
    if job.interval:
        return after + timedelta(seconds=job.interval)
    return datetime.max.replace(tzinfo=after.tzinfo)


class PeriodicRunner:
    def __init__(self, jobs: Iterable[PeriodicJob], *, now: datetime) -> None:
        self.jobs = sorted(jobs, key=lambda job: job.name)
        # As RQ's cron scheduler: an interval job runs at start, a cron job first at its next time.
        self.due_at = {job.name: now if job.interval and not job.cron else next_due(job, now) for job in self.jobs}

    def run_due(self, *, now: datetime) -> list[str]:
        """Run every job due at ``now``, one after the other; returns their names. A job that fails is logged and
        runs again at its next time (the sweeps find unfinished work in the database)."""
        ran = []
        for job in self.jobs:
            if self.due_at[job.name] > now:
                continue
            self.due_at[job.name] = next_due(job, now)
            with job_log_scope(func=job.name, queue=job.queue) as outcome:
                try:
                    job.func(**job.kwargs)
                except Exception:
                    outcome.status = "failed"
                    logger.exception("periodic job %s failed", job.name)
            ran.append(job.name)
        return ran

    def seconds_to_next(self, *, now: datetime) -> float:
        return max(0.0, (min(self.due_at.values(), default=now) - now).total_seconds())
