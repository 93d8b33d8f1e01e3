"""Payment jobs. Each takes ids, loads, and calls one service; RQ retries temporary channel errors.

The sweeps make sure no refund is lost: if Redis was down when a refund committed, or a worker died
mid-job, the refund is still `refunding` in the database and the sweep hands it out again; the fixed
channel request number makes the repeat harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mall.jobs import PeriodicJob, job_enqueue, periodic_job_register
from mall.logging import log_context_bind
from mall.sweeps import id_pages
from payments import notifications, services, vouchers
from payments.models import CustomerNotification, RefundVoucher
from refunds import lifecycle, restock
from refunds.models import Refund, RefundState

logger = logging.getLogger(__name__)
BATCH = 500  # ids per page (keyset pages: bounded memory on any table size)
STALE_AFTER = timedelta(minutes=2)


def refund_execute(refund_id: int) -> str:
    return services.refund_execute(refund_id=refund_id)


def refund_follow_up(refund_id: int) -> dict[str, str]:
    """What a refund sets off once its money is back, in one job: the customer's message, the PDF voucher, and
    the stock of goods that never left the warehouse (one load of the refund, one job for RQ to hand out, instead
    of three). Each part is idempotent and runs whatever happened to the others; if one raised, the job raises
    once all have run, so that RQ retries it and the repeat does only what is still missing."""
    refund = Refund.objects.select_related("order__payment", "order__shipment", "customer").get(pk=refund_id)
    log_context_bind(refund_no=refund.refund_no)
    if refund.state != RefundState.REFUNDED:
        return {"skipped": str(refund.state)}
    done: dict[str, str] = {}
    failure: Exception | None = None
    parts: tuple[tuple[str, Callable[[Refund], object]], ...] = (
        ("notified", notifications.notify_refunded),
        ("voucher", vouchers.issue_voucher),
        ("restocked", restock.restock_unshipped),
    )
    for name, part in parts:
        try:
            outcome = part(refund)
        except Exception as error:  # the other parts still run; the first failure is raised below
            logger.exception("%s of refund %s failed; the job will be retried", name, refund.refund_no)
            failure = failure or error
            done[name] = "failed"
        else:
            done[name] = _summary(outcome)
    if failure is not None:
        raise failure
    return done


def _summary(outcome: object) -> str:
    if isinstance(outcome, RefundVoucher):
        return outcome.file.name or ""
    if isinstance(outcome, dict):
        return ", ".join(f"{key}: {value}" for key, value in outcome.items())
    return "" if outcome is None else str(outcome)


def refund_notify_customer(refund_id: int) -> dict[str, str]:
    return notifications.refund_notify_customer(refund_id=refund_id)


def sweep_refunding(dry_run: bool = False) -> list[int]:
    """Hand out again every refund in `refunding` untouched for a while: lost jobs, and PROCESSING answers
    that need a query."""
    cutoff = timezone.now() - STALE_AFTER
    stale = Refund.objects.filter(state=RefundState.REFUNDING, updated_at__lt=cutoff).exclude(
        attempts__created_at__gte=cutoff
    )
    acted = []
    for batch in id_pages(stale, BATCH):
        for refund_id in batch:
            acted.append(refund_id)
            if not dry_run:
                # What entering `refunding` set off (the execution) and was lost, handed out again.
                lifecycle.effects_set_off(state=RefundState.REFUNDING, refund_id=refund_id)
    return acted


def sweep_after_refund(dry_run: bool = False) -> list[int]:
    """Refunded refunds whose follow-up was lost after the money landed (Redis away at that moment, a worker
    killed). A refund without its voucher never had its follow-up finish: it gets the whole follow-up again
    (message, voucher, and the restock of goods never shipped, which nothing else would redo; each part skips
    what is done). A refund with its voucher but no message gets the message alone. A customer with no address
    gets the message recorded here as `no_contact`, without a job, and is done."""
    cutoff = timezone.now() - STALE_AFTER
    refunded = Refund.objects.filter(state=RefundState.REFUNDED, refunded_at__lt=cutoff)
    missing_voucher = refunded.exclude(pk__in=RefundVoucher.objects.values("refund_id"))
    missing_note = refunded.exclude(pk__in=CustomerNotification.objects.values("refund_id"))
    acted = []
    for batch in id_pages(missing_note.filter(notifications.NO_ADDRESS), BATCH):
        acted += batch
        if not dry_run:
            notifications.notifications_record_no_contact(
                refunds=Refund.objects.select_related("order", "customer").filter(pk__in=batch)
            )
    for batch in id_pages(missing_voucher, BATCH):
        for refund_id in batch:
            acted.append(refund_id)
            if not dry_run:
                job_enqueue(refund_follow_up, refund_id, queue="notifications")
    with_voucher = missing_note.exclude(notifications.NO_ADDRESS).exclude(pk__in=missing_voucher.values("pk"))
    for batch in id_pages(with_voucher, BATCH):
        for refund_id in batch:
            acted.append(refund_id)
            if not dry_run:
                job_enqueue(refund_notify_customer, refund_id, queue="notifications")
    return acted


periodic_job_register(
    PeriodicJob(
        name="payments.sweep_refunding",
        func=sweep_refunding,
        description=_("Query or resend refunds stuck in refunding (lost jobs, PROCESSING answers)."),
        queue="refunds",
        interval=120,
    )
)
periodic_job_register(
    PeriodicJob(
        name="payments.sweep_after_refund",
        func=sweep_after_refund,
        description=_("Finish the follow-up (voucher, message, restock) of refunded refunds whose job was lost."),
        interval=300,
    )
)
