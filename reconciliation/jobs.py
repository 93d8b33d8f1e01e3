"""The daily reconciliation job: each configured channel's statement of the day before (Asia/Shanghai).

It also takes up again, for a few days back, any day whose run failed (a channel error) or was killed.
A day that was reconciled already is left alone: re-running one is a person's decision (``--force``).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from mall.exceptions import BusinessError
from mall.jobs import PeriodicJob, periodic_job_register
from reconciliation import services
from reconciliation.models import ReconciliationRun

logger = logging.getLogger(__name__)


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
    """Reconcile each configured channel's due days; one line per (channel, day) saying what happened."""
    today = services.today_in_china()
    done = []
    for channel in settings.RECONCILIATION_CHANNELS:
        for day in due_days(channel, today):
            if dry_run:
                done.append(f"{channel} {day}: would reconcile")
                continue
            done.append(f"{channel} {day}: {reconcile_day(channel, day)}")
    return done


def reconcile_day(channel: str, day: date) -> str:
    """One channel and day; a failure is recorded on the run and does not stop the other channels."""
    try:
        run = services.reconciliation_run(channel=channel, day=day)
    except BusinessError as exc:
        return str(exc.message)
    except Exception as exc:
        logger.exception("reconciliation of %s %s failed", channel, day)
        return f"failed: {exc}"
    return f"{run.statement_lines} lines, {run.matched_count} matched, {run.discrepancy_count} discrepancies"


def reconcile_by_hand(channel: str, day: str, force: bool, user_id: int | None) -> str:
    """A run a finance user started from the console (on the reconciliation queue)."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        run = services.reconciliation_run(channel=channel, day=date.fromisoformat(day), force=force, actor=actor)
    except BusinessError as exc:
        return str(exc.message)
    return f"{run.statement_lines} lines, {run.discrepancy_count} discrepancies"


periodic_job_register(
    PeriodicJob(
        name="reconciliation.daily",
        func=reconcile_daily,
        description=_(
            "Reconcile each channel's statement of the day before with our refunds (10:30 Asia/Shanghai), "
            "and days whose run failed."
        ),
        queue="reconciliation",
        # 02:30 UTC = 10:30 Asia/Shanghai. Not earlier: the channels publish the day before's statement from about
        # 09:00 (WeChat Pay asks for 10:00), and an unpublished statement reads as empty, which would report
        # every refund of the day as missing at the channel.
        cron="30 2 * * *",
    )
)
