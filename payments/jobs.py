"""Payment jobs. Each takes ids, loads, and calls one service; RQ retries temporary channel errors.

The sweeps make sure no refund is lost: if Redis was down when a refund committed, or a worker died
mid-job, the refund is still `refunding` in the database and the sweep hands it out again; the fixed
channel request number makes the repeat harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mall.jobs import PeriodicJob, job_enqueue, periodic_job_register
from mall.logging import log_context_bind
from mall.sweeps import id_pages
from notices.catalogue import MessageEvent
from notices.models import CustomerMessage
from notices.services import customer_notify
from payments import services, vouchers
from payments.models import RefundVoucher
from refunds import lifecycle, restock
from refunds.models import Refund, RefundState

logger = logging.getLogger(__name__)
BATCH = 500  # ids per page (keyset pages: bounded memory on any table size)
STALE_AFTER = timedelta(minutes=2)


def refund_execute(refund_id: int) -> str:
    return services.refund_execute(refund_id=refund_id)


def refund_follow_up(refund_id: int) -> dict[str, str]:
    """What a refund sets off once its money is back, in one job: the PDF voucher, the customer's message with
    its link, and the stock of goods that never left the warehouse (one load of the refund, one job for RQ to hand
    out, instead of three). Each part is idempotent and runs whatever happened to the others; if one raised, the
    job raises once all have run, so that RQ retries it and the repeat does only what is still missing."""
    refund = Refund.objects.select_related("order__payment", "order__shipment", "customer").get(pk=refund_id)
    log_context_bind(refund_no=refund.refund_no)
    if refund.state != RefundState.REFUNDED:
        return {"skipped": str(refund.state)}
    done: dict[str, str] = {}
    failure: Exception | None = None
    parts: tuple[tuple[str, Callable[[Refund], object]], ...] = (
        ("voucher", vouchers.issue_voucher),
        ("notified", notify_refunded),
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


def notify_refunded(refund: Refund) -> CustomerMessage:
    """Tell the customer their money is back, with the link to the voucher (once per refund)."""
    return customer_notify(
        refund=refund,
        event=MessageEvent.REFUNDED,
        params={
            "order_no": refund.order.order_no,
            "amount": refund.amount,
            "channel": refund.channel,
            "destination": refund.destination,
            "voucher": reverse("refund-voucher", kwargs={"refund_no": refund.refund_no}),
        },
    )


def _summary(outcome: object) -> str:
    if isinstance(outcome, RefundVoucher):
        return outcome.file.name or ""
    if isinstance(outcome, CustomerMessage):
        return f"message {outcome.pk}"
    if isinstance(outcome, dict):
        return ", ".join(f"{key}: {value}" for key, value in outcome.items())
    return "" if outcome is None else str(outcome)


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
    killed): without their voucher or their message, they get the whole follow-up again (voucher, message, and
    the restock of goods never shipped, which nothing else would redo; each part skips what is done)."""
    cutoff = timezone.now() - STALE_AFTER
    told = CustomerMessage.objects.filter(refund_id=OuterRef("pk"), event=MessageEvent.REFUNDED)
    unfinished = Refund.objects.filter(state=RefundState.REFUNDED, refunded_at__lt=cutoff).exclude(
        Exists(RefundVoucher.objects.filter(refund_id=OuterRef("pk"))) & Exists(told)
    )
    acted = []
    for batch in id_pages(unfinished, BATCH):
        for refund_id in batch:
            acted.append(refund_id)
            if not dry_run:
                job_enqueue(refund_follow_up, refund_id, queue="notifications")
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
