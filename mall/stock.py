"""The shop's stock allocation as the sweeps see it: which paid orders still wait for their goods, and what
stock could not cover of an order it allocates. The allocation itself is ``mall.services.stock_allocate``; what
to do about a shortfall (refund it) is the caller's. Replacements (补发) take their goods here too, all or none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, QuerySet

from mall.models import Order, OrderItem, Stock, StockMovement
from mall.services import ALLOCATABLE_STATUSES, AllocationLine, allocation_reference, stock_adjust, stock_allocate

REPLACEMENT_REASON = "replacement"
REPLACEMENT_RETURN_REASON = "replacement_cancelled"


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


# --- replacements ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplacementLine:
    """Goods a replacement ships: ``quantity`` of a product, taken once under ``reference``."""

    product_id: int
    quantity: Decimal
    reference: str


@transaction.atomic
def replacement_stock_allocate(*, lines: Sequence[ReplacementLine]) -> bool:
    """Take a replacement's goods out of stock, all lines or none. True when they are taken (by this call or an
    earlier one with the same references); False, with nothing written, when stock cannot cover every line.

    Locks the products' stock rows in product order, the lock order of every allocation; the caller holds the
    order's row (and the refund's) already."""
    references = [line.reference for line in lines]
    if StockMovement.objects.filter(reference__in=references).exists():
        return True
    wanted: dict[int, Decimal] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, Decimal("0")) + line.quantity
    stocks = {
        stock.product_id: stock
        for stock in Stock.objects.select_for_update().filter(product_id__in=sorted(wanted)).order_by("product_id")
    }
    if any(product_id not in stocks or stocks[product_id].quantity < qty for product_id, qty in wanted.items()):
        return False
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                product_id=line.product_id, delta=-line.quantity, reason=REPLACEMENT_REASON, reference=line.reference
            )
            for line in lines
        ]
    )
    for product_id, quantity in wanted.items():
        stock = stocks[product_id]
        # Written as an exact decimal computed from the locked row: SQLite would add floats.
        stock.quantity -= quantity
        stock.save(update_fields=["quantity", "updated_at"])
    return True


def replacement_stock_return(*, lines: Sequence[ReplacementLine]) -> int:
    """Put back the goods of a replacement that will not ship, once per line; returns the lines put back now."""
    returned = 0
    for line in lines:
        if not StockMovement.objects.filter(reference=line.reference).exists():
            continue
        returned += stock_adjust(
            product=Stock.objects.get(product_id=line.product_id).product,
            delta=line.quantity,
            reason=REPLACEMENT_RETURN_REASON,
            reference=f"{line.reference}:back",
        )
    return returned
