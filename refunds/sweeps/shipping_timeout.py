"""Paid orders not shipped in time: refunded in full by the system, and closed once the money is back."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.models import Order, OrderStatus
from mall.services import ALLOCATABLE_STATUSES, order_close_refunded, order_close_refunded_unshipped
from mall.stock import order_not_shipped
from mall.sweeps import ITEM_ERRORS, KeepAlive, Planned, SweepOutcome, page_size, pages, sweep_run
from refunds.models import Refund, RefundReason, RefundState
from refunds.services import full_order_items, refund_create_by_system

logger = logging.getLogger(__name__)


def shipping_timeout_due(*, now: datetime) -> QuerySet[Order]:
    """Paid orders not shipped within ``SHIPPING_TIMEOUT_HOURS`` of payment that have no shipping-timeout refund
    (in any state: a failed one is a person's to retry, not the sweep's to repeat)."""
    cutoff = now - timedelta(hours=settings.SHIPPING_TIMEOUT_HOURS)
    return (
        Order.objects.filter(status__in=ALLOCATABLE_STATUSES, payment__paid_at__lte=cutoff)
        .filter(order_not_shipped())
        .filter(~Exists(Refund.objects.filter(order=OuterRef("pk"), reason=RefundReason.SHIPPING_TIMEOUT)))
    )


def shipping_timeout_closable() -> QuerySet[Order]:
    """Orders a shipping-timeout refund gave all the money back for, not closed yet."""
    refunded = Refund.objects.filter(
        order=OuterRef("pk"), reason=RefundReason.SHIPPING_TIMEOUT, state=RefundState.REFUNDED
    )
    return Order.objects.filter(status=OrderStatus.REFUNDED).filter(order_not_shipped()).filter(Exists(refunded))


def order_refund_shipping_timeout(*, order_id: int) -> Refund | None:
    """Refund everything still refundable of an order that was not shipped in time (approved by the system)."""
    order = Order.objects.get(pk=order_id)
    items = full_order_items(order)
    if not items:
        return None
    note = _("Not shipped within %(hours)d hours of payment: the whole order is refunded.") % {
        "hours": settings.SHIPPING_TIMEOUT_HOURS
    }
    return refund_create_by_system(order=order, reason=RefundReason.SHIPPING_TIMEOUT, items=items, note=note)


def order_close_after_timeout_refund(*, refund: Refund) -> None:
    """Close the order once a shipping-timeout refund has given all of its money back.

    Meant to run inside ``refunds.flow.refund_mark_refunded``, after the order's status followed the money;
    the shipping-timeout sweep closes any order this missed.
    """
    if refund.reason != RefundReason.SHIPPING_TIMEOUT or refund.state != RefundState.REFUNDED:
        return
    order_close_refunded_unshipped(order=refund.order, note=refund.refund_no)


def shipping_timeout_sweep(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None
) -> SweepOutcome:
    now = now or timezone.now()
    size = page_size(batch_size)

    def body(outcome: SweepOutcome, keep_alive: KeepAlive) -> None:
        for page in pages(shipping_timeout_due(now=now), ["order_no"], size):
            for order_id, order_no in page:
                keep_alive()
                if dry_run:
                    outcome.record(Planned(order_id, order_no, "refund"))
                    continue
                try:
                    refund = order_refund_shipping_timeout(order_id=order_id)
                except ITEM_ERRORS:
                    logger.exception("shipping timeout: order %s left for the next run", order_no)
                    outcome.counts["failed"] += 1
                    continue
                outcome.record(Planned(order_id, order_no, "refund" if refund else "nothing_left"))
        for page in pages(shipping_timeout_closable(), ["order_no"], size):
            for order_id, order_no in page:
                keep_alive()
                if not dry_run:
                    try:
                        order_close_refunded(order=Order(pk=order_id), note=_("not shipped in time; refunded"))
                    except ITEM_ERRORS:
                        logger.exception("shipping timeout: order %s not closed, left for the next run", order_no)
                        outcome.counts["failed"] += 1
                        continue
                outcome.record(Planned(order_id, order_no, "close"))

    return sweep_run("shipping_timeout", dry_run=dry_run, body=body, log=logger)
