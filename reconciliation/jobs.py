"""Reconciliation jobs: the daily one, and one job per channel and day.

The daily job (a periodic job, 10:30 Asia/Shanghai) decides which days are due for each configured channel
(the day before, and any of a few earlier days whose run failed or was killed) and hands each to a job of its
own on the reconciliation queue, with a time limit fit for a long statement
(``RECONCILIATION_JOB_TIMEOUT_SECONDS``): a million lines take minutes, longer than the scheduler's default
limit, and one channel's slow statement does not hold up the other's. Without Redis each runs in this process.
A day that was reconciled already is left alone: re-running one is a person's decision (``--force``).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from mall.exceptions import BusinessError
from mall.jobs import PeriodicJob, periodic_job_register
from mall.shoptime import shop_today
from reconciliation import services
from reconciliation.models import ReconciliationRun

logger = logging.getLogger(__name__)
QUEUE = "reconciliation"
# Retries of a run whose statement could not be read (the channel busy or down), in seconds.
RETRY_INTERVALS = (60, 300, 900)


def due_days(channel: str, today: date) -> list[date]:
    """The days the daily job should reconcile for ``channel``: yesterday if not done, and earlier days (within
    ``RECONCILIATION_CATCH_UP_DAYS``) whose run failed or stopped moving."""
    yesterday = today - timedelta(days=1)
    earliest = yesterday - timedelta(days=settings.RECONCILIATION_CATCH_UP_DAYS)
    runs = {
        run.business_day: run
        for run in ReconciliationRun.objects.filter(channel=channel, business_day__range=(earliest, yesterday))
    }
    days = [day for day, run in runs.items() if day != yesterday and services.run_is_due(run)]
    if services.run_is_due(runs.get(yesterday)):
        days.append(yesterday)
    return sorted(days)


def reconcile_daily(dry_run: bool = False) -> list[str]:
    """Hand each configured channel's due days to a run job; one line per (channel, day) saying what happened
    (without Redis, the run's own outcome)."""
    today = shop_today()
    done = []
    for channel in settings.RECONCILIATION_CHANNELS:
        for day in due_days(channel, today):
            if dry_run:
                done.append(f"{channel} {day}: would reconcile")
            elif settings.JOBS_IN_PROCESS:
                done.append(f"{channel} {day}: {reconcile_day(channel, day.isoformat())}")
            else:
                _hand_over(channel, day, force=False, user_id=None)
                done.append(f"{channel} {day}: queued")
    return done


def reconciliation_enqueue(*, channel: str, day: date, force: bool = False, user_id: int | None = None) -> None:
    """Run the reconciliation of ``channel`` and ``day`` as a job once the current transaction commits."""
    transaction.on_commit(lambda: _hand_over(channel, day, force=force, user_id=user_id), robust=True)


def _hand_over(channel: str, day: date, *, force: bool, user_id: int | None) -> None:
    if settings.JOBS_IN_PROCESS:
        try:
            reconcile_day(channel, day.isoformat(), force, user_id)
        except Exception:  # no worker to retry it: the run is recorded as failed and the daily job takes it up
            logger.exception("reconciliation of %s %s failed", channel, day)
        return
    import django_rq
    from rq import Retry

    django_rq.get_queue(QUEUE).enqueue(
        reconcile_day,
        channel,
        day.isoformat(),
        force,
        user_id,
        job_timeout=settings.RECONCILIATION_JOB_TIMEOUT_SECONDS,
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
    )


def reconcile_day(channel: str, day: str, force: bool = False, user_id: int | None = None) -> str:
    """The job of one channel and day. A channel error fails the run and is raised again, for RQ to retry; a
    run refused (reconciled already, in progress) says why and is not retried."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        run = services.reconciliation_run(channel=channel, day=date.fromisoformat(day), force=force, actor=actor)
    except BusinessError as exc:
        return str(exc.message)
    return f"{run.statement_lines} lines, {run.matched_count} matched, {run.discrepancy_count} discrepancies"


periodic_job_register(
    PeriodicJob(
        name="reconciliation.daily",
        func=reconcile_daily,
        description=_(
            "Reconcile each channel's statement of the day before with our refunds (10:30 Asia/Shanghai), "
            "and days whose run failed."
        ),
        queue=QUEUE,
        # 02:30 UTC = 10:30 Asia/Shanghai. Not earlier: the channels publish the day before's statement from about
        # 09:00 (WeChat Pay asks for 10:00), and an unpublished statement reads as empty, which would report
        # every refund of the day as missing at the channel.
        cron="30 2 * * *",
    )
)
