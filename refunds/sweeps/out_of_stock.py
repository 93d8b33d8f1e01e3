"""Paid orders the warehouse cannot supply in full: stock is allocated (``mall.stock``), and what it cannot cover
is refunded at once by the system."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from mall.models import Order, OrderItem
from mall.services import stock_allocation_plan
from mall.stock import order_stock_allocate_short, orders_unallocated, short_lines, stock_allocation_due
from mall.sweeps import ITEM_ERRORS, KeepAlive, Planned, SweepOutcome, page_size, pages, sweep_run
from refunds import texts
from refunds.lifecycle import refund_record_event
from refunds.locks import order_lock
from refunds.models import Refund, RefundReason
from refunds.services import ItemRequest, refund_create_by_system

logger = logging.getLogger(__name__)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


def order_stock_allocate(*, order_id: int) -> Refund | None:
    """Allocate stock to a paid order; refund at once, in the same transaction, the lines stock cannot cover
    (reason ``out_of_stock``, approved by the system), and tell the customer on the refund's timeline.

    The order's application lock is taken before the transaction that locks the order's row: waiting for it
    while holding the row would stall an application that holds it and waits for the row."""
    order_no = Order.objects.values_list("order_no", flat=True).get(pk=order_id)
    with order_lock(order_no), transaction.atomic():
        order, short = order_stock_allocate_short(order_id=order_id)
        if not short:
            return None
        names = dict(OrderItem.objects.filter(pk__in=[line.order_item_id for line in short]).values_list("pk", "name"))
        lines = [f"{names[line.order_item_id]} × {_quantity(line.short)}" for line in short]
        missing = "; ".join(lines)
        refund = refund_create_by_system(
            order=order,
            reason=RefundReason.OUT_OF_STOCK,
            items=[ItemRequest(order_item_id=line.order_item_id, quantity=line.short) for line in short],
            note=_("Out of stock at allocation: %(items)s") % {"items": missing},
            order_lock_held=True,
        )
        refund_record_event(
            refund=refund,
            from_state=refund.state,
            note=texts.OUT_OF_STOCK(items=lines),
        )
        return refund


def out_of_stock_sweep(*, dry_run: bool = False, batch_size: int | None = None) -> SweepOutcome:
    """Allocate stock to paid orders waiting for it, refunding what stock cannot cover."""
    size = page_size(batch_size)
    taken: dict[int, Decimal] = {}  # dry run: stock promised to the orders planned so far, per product

    def body(outcome: SweepOutcome, keep_alive: KeepAlive) -> None:
        for page in pages(stock_allocation_due(), ["order_no"], size):
            due = orders_unallocated([order_id for order_id, _ in page])
            for order_id, order_no in page:
                keep_alive()
                if order_id not in due:
                    continue
                if dry_run:
                    short = short_lines(stock_allocation_plan(order=Order.objects.get(pk=order_id), taken=taken))
                    detail = ", ".join(f"#{line.order_item_id} short {_quantity(line.short)}" for line in short)
                    outcome.record(Planned(order_id, order_no, "refund" if short else "allocate", detail))
                    continue
                try:
                    refund = order_stock_allocate(order_id=order_id)
                except ITEM_ERRORS:
                    logger.exception("stock allocation: order %s left for the next run", order_no)
                    outcome.counts["failed"] += 1
                    continue
                outcome.record(Planned(order_id, order_no, "refund" if refund else "allocate"))

    return sweep_run("out_of_stock", dry_run=dry_run, body=body, log=logger)
