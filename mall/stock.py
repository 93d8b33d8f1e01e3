"""The shop's stock allocation as the sweeps see it: which paid orders still wait for their goods, and what
stock could not cover of an order it allocates. The allocation itself is ``mall.services.stock_allocate``; what
to do about a shortfall (refund it) is the caller's."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q, QuerySet

from mall.models import Order, OrderItem, StockMovement
from mall.services import ALLOCATABLE_STATUSES, AllocationLine, allocation_reference, stock_allocate


def order_not_shipped() -> Q:
    """Orders with no shipment, or one not handed to the carrier yet."""
    return Q(shipment__isnull=True) | Q(shipment__shipped_at__isnull=True)


def stock_allocation_due() -> QuerySet[Order]:
    """Paid orders whose goods are still in the warehouse: those with a line not allocated yet are due
    (``orders_unallocated``). They leave this set when shipped, refunded or closed, so it stays small."""
    return Order.objects.filter(status__in=ALLOCATABLE_STATUSES, payment__isnull=False).filter(order_not_shipped())


def orders_unallocated(order_ids: Sequence[int]) -> set[int]:
    """Those of ``order_ids`` with a line that has no allocation movement: two queries for a page."""
    lines = list(OrderItem.objects.filter(order_id__in=order_ids).values_list("pk", "order_id"))
    done = set(
        StockMovement.objects.filter(reference__in=[allocation_reference(pk) for pk, _ in lines]).values_list(
            "reference", flat=True
        )
    )
    return {order_id for pk, order_id in lines if allocation_reference(pk) not in done}


def short_lines(lines: Sequence[AllocationLine]) -> list[AllocationLine]:
    """The lines stock could not cover in full."""
    return [line for line in lines if line.short > 0]


def order_stock_allocate_short(*, order_id: int) -> tuple[Order, list[AllocationLine]]:
    """Allocate stock to a paid order (``stock_allocate``); the order and the lines stock could not cover.

    The caller holds the transaction and acts on the shortfall in it: a later allocation returns nothing for
    these lines."""
    order = Order.objects.get(pk=order_id)
    return order, short_lines(stock_allocate(order=order))
