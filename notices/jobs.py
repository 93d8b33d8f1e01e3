"""Jobs of the customer messages (queue ``notifications``), and the sweeps that find what a lost job left undone:
a step not told (its job lost with Redis away when the refund moved), an email try that never ran."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mall.jobs import PeriodicJob, job_enqueue_many, periodic_job_register
from mall.logging import log_context_bind
from mall.sweeps import id_pages, pages
from notices import services, steps
from notices.models import CustomerMessage, DeliveryStatus, MessageDelivery
from refunds.models import Refund, RefundEvent

BATCH = 500
# A job handed out this long ago has run or was lost; the sweeps only look at work older than this.
STALE_AFTER = timedelta(minutes=2)


def refund_steps_notify(refund_id: int) -> list[str]:
    refund_no = Refund.objects.values_list("refund_no", flat=True).filter(pk=refund_id).first()
    log_context_bind(refund_no=refund_no or "")
    return steps.refund_steps_notify(refund_id=refund_id)


def delivery_send(delivery_id: int) -> str:
    return services.delivery_send(delivery_id=delivery_id)


def sweep_untold_steps(dry_run: bool = False) -> list[int]:
    """Refunds with a recent step the customer was not told of: their step job is handed out again."""
    now = timezone.now()
    recent = RefundEvent.objects.filter(steps.told_events(now - steps.WINDOW), created_at__lt=now - STALE_AFTER)
    refund_ids: set[int] = set()
    for page in pages(recent, ["refund_id"], BATCH):
        keys = {f"event:{pk}": refund_id for pk, refund_id in page}
        told = set(
            CustomerMessage.objects.filter(refund_id__in={row[1] for row in page}, key__in=list(keys)).values_list(
                "key", flat=True
            )
        )
        refund_ids |= {refund_id for key, refund_id in keys.items() if key not in told}
    untold = sorted(refund_ids)
    if not dry_run:
        job_enqueue_many(steps.STEPS_JOB, [(refund_id,) for refund_id in untold], queue="notifications")
    return untold


def sweep_deliveries(dry_run: bool = False) -> list[int]:
    """Emails whose next try is overdue (its job lost, or run in process where no worker retries) get one more
    try each, within the limit of tries; those whose every try was spent are recorded undeliverable."""
    now = timezone.now()
    if not dry_run:
        services.deliveries_give_up()
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    due = MessageDelivery.objects.filter(
        free,
        status=DeliveryStatus.PENDING,
        attempts__lt=services.max_attempts(),
        next_attempt_at__lt=now - STALE_AFTER,
    )
    acted: list[int] = []
    for batch in id_pages(due, BATCH):
        acted += batch
        if not dry_run:
            # One try per hand-out: the delivery counts its own tries.
            job_enqueue_many(services.DELIVERY_JOB, [(pk,) for pk in batch], queue="notifications", retry_intervals=())
    return acted


periodic_job_register(
    PeriodicJob(
        name="notices.sweep_untold_steps",
        func=sweep_untold_steps,
        description=_("Tell customers of refund steps whose message job was lost."),
        queue="notifications",
        interval=300,
    )
)
periodic_job_register(
    PeriodicJob(
        name="notices.sweep_deliveries",
        func=sweep_deliveries,
        description=_("Try again emails to customers whose try is overdue; give up after the last try."),
        queue="notifications",
        interval=120,
    )
)
