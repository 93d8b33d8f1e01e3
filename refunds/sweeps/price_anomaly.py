"""Orders paid at a price too far from the catalogue: a refund opened for review (or approved at once when
``PRICE_ANOMALY_AUTO_APPROVE``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.models import PAID_STATUSES, Order, OrderItem
from mall.money import CENT, yuan
from mall.sweeps import ITEM_ERRORS, KeepAlive, Planned, SweepOutcome, page_size, pages, sweep_run
from refunds.models import Refund, RefundReason
from refunds.services import ItemRequest, refund_create_by_system

logger = logging.getLogger(__name__)


def _is_anomalous(unit_price: Decimal, catalogue_price: Decimal) -> bool:
    return abs(unit_price - catalogue_price) > catalogue_price * Decimal(settings.PRICE_ANOMALY_RATIO)


def price_anomaly_due(*, now: datetime) -> QuerySet[Order]:
    """Orders paid within ``PRICE_ANOMALY_LOOKBACK_HOURS`` with a line whose unit price may deviate from the
    catalogue beyond ``PRICE_ANOMALY_RATIO`` (the exact test is made in Decimal on each candidate) and no
    price-anomaly refund yet (in any state: a rejected one was a person's decision)."""
    ratio = Decimal(settings.PRICE_ANOMALY_RATIO)
    since = now - timedelta(hours=settings.PRICE_ANOMALY_LOOKBACK_HOURS)
    suspicious = OrderItem.objects.filter(order=OuterRef("pk")).filter(
        Q(unit_price__gte=F("product__price") * Value(1 + ratio))
        | Q(unit_price__lte=F("product__price") * Value(1 - ratio))
    )
    return (
        Order.objects.filter(status__in=PAID_STATUSES, payment__paid_at__gte=since, payment__paid_at__lte=now)
        .filter(Exists(suspicious))
        .filter(~Exists(Refund.objects.filter(order=OuterRef("pk"), reason=RefundReason.PRICE_ANOMALY)))
    )


def price_anomaly_requests(order: Order) -> tuple[list[ItemRequest], list[str]]:
    """What to refund of an order's mispriced lines, with a note per line.

    Charged too much: the difference on what is still refundable goes back, the goods stay (quantity 0).
    Charged too little: the line is cancelled and what was paid goes back, while the goods are still in the
    warehouse; once shipped, there is nothing left to cancel.
    """
    requests, notes = [], []
    for item in order.items.select_related("product").order_by("pk"):
        catalogue = item.product.price
        if not _is_anomalous(item.unit_price, catalogue):
            continue
        line = _("%(name)s: paid %(paid)s, catalogue %(catalogue)s") % {
            "name": item.name,
            "paid": yuan(item.unit_price),
            "catalogue": yuan(catalogue),
        }
        if item.unit_price > catalogue:
            amount = min(
                ((item.unit_price - catalogue) * item.refundable_quantity).quantize(CENT), item.refundable_amount
            )
            if amount > 0:
                requests.append(ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=amount))
                notes.append(line)
        elif order.is_not_shipped() and item.refundable_quantity > 0:
            requests.append(ItemRequest(order_item_id=item.pk, quantity=item.refundable_quantity))
            notes.append(line)
    return requests, notes


def order_refund_price_anomaly(*, order_id: int) -> Refund | None:
    """Open a price-anomaly refund for review (approved at once when ``PRICE_ANOMALY_AUTO_APPROVE``)."""
    order = Order.objects.select_related("shipment").get(pk=order_id)
    requests, notes = price_anomaly_requests(order)
    if not requests:
        return None
    return refund_create_by_system(
        order=order, reason=RefundReason.PRICE_ANOMALY, items=requests, note="; ".join(notes)
    )


def price_anomaly_sweep(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None
) -> SweepOutcome:
    now = now or timezone.now()
    size = page_size(batch_size)

    def body(outcome: SweepOutcome, keep_alive: KeepAlive) -> None:
        for page in pages(price_anomaly_due(now=now), ["order_no"], size):
            for order_id, order_no in page:
                keep_alive()
                # A candidate without requests sat exactly on the ratio, or has nothing left to refund: no action.
                if dry_run:
                    requests, notes = price_anomaly_requests(Order.objects.select_related("shipment").get(pk=order_id))
                    if requests:
                        outcome.record(Planned(order_id, order_no, "refund", "; ".join(notes)))
                    continue
                try:
                    refund = order_refund_price_anomaly(order_id=order_id)
                except ITEM_ERRORS:
                    logger.exception("price anomaly: order %s left for the next run", order_no)
                    outcome.counts["failed"] += 1
                    continue
                if refund is not None:
                    outcome.record(Planned(order_id, order_no, "refund"))

    return sweep_run("price_anomaly", dry_run=dry_run, body=body, log=logger)
