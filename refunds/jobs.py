"""Refund jobs: the sweeps that start refunds by themselves and approve the ones nobody reviewed in time.

Scheduled by ``manage.py run_scheduler mall.cron`` (one process); each can be run once by hand with
``manage.py run_job <name> [--dry-run]``. rq 2.x reads cron strings in UTC; the shop's business day is
Asia/Shanghai (UTC+8, no daylight saving time), so every schedule below states the Shanghai time it means.
These run every few minutes around the clock, where the two clocks only differ by the hour digit.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.jobs import PeriodicJob, periodic_job_register
from refunds import sweeps
from refunds.sweeps import SweepOutcome


def auto_approval(*, dry_run: bool = False) -> SweepOutcome:
    return sweeps.auto_approval_sweep(dry_run=dry_run)


def shipping_timeout(*, dry_run: bool = False) -> SweepOutcome:
    return sweeps.shipping_timeout_sweep(dry_run=dry_run)


def price_anomaly(*, dry_run: bool = False) -> SweepOutcome:
    return sweeps.price_anomaly_sweep(dry_run=dry_run)


def out_of_stock(*, dry_run: bool = False) -> SweepOutcome:
    return sweeps.out_of_stock_sweep(dry_run=dry_run)


def order_stock_allocate(order_id: int) -> str:
    """Allocate one paid order's stock now (for a caller that wants it right after payment)."""
    refund = sweeps.order_stock_allocate(order_id=order_id)
    return refund.refund_no if refund else "allocated"


periodic_job_register(
    PeriodicJob(
        name="refunds.auto_approval",
        func=auto_approval,
        description=_("Approve refunds nobody reviewed in time when within policy; escalate the others."),
        # UTC minutes 0, 5, ..., 55 of every hour = the same minutes in Asia/Shanghai, around the clock.
        cron="*/5 * * * *",
    )
)
periodic_job_register(
    PeriodicJob(
        name="refunds.shipping_timeout",
        func=shipping_timeout,
        description=_("Refund paid orders not shipped in time, in full, and close them once refunded."),
        # UTC minutes 1, 16, 31, 46 of every hour = the same minutes in Asia/Shanghai; off the auto-approval minute.
        cron="1-59/15 * * * *",
    )
)
periodic_job_register(
    PeriodicJob(
        name="refunds.price_anomaly",
        func=price_anomaly,
        description=_("Open refunds for review where the paid price deviates too far from the catalogue."),
        # UTC minutes 8, 23, 38, 53 of every hour = the same minutes in Asia/Shanghai.
        cron="8-59/15 * * * *",
    )
)
periodic_job_register(
    PeriodicJob(
        name="refunds.out_of_stock",
        func=out_of_stock,
        description=_("Allocate stock to paid orders; refund at once what stock cannot cover."),
        queue="stock",
        # Every 2 minutes (UTC and Asia/Shanghai alike): goods are taken from stock soon after payment.
        cron="*/2 * * * *",
    )
)
