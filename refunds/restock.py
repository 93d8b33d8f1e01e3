"""Stock goes back for refunded goods that never left the warehouse. An idempotent job: each refund line
restocks once (its own StockMovement reference), and only stock the order really took and will not ship —
an out-of-stock refund of the quantity that was never allocated returns nothing."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from mall.models import StockMovement
from mall.services import allocation_reference, stock_adjust
from refunds.models import Refund, RefundItem, RefundState

RESTOCK_REASON = "refund_restock"


def restock_reference(refund: Refund, order_item_id: int) -> str:
    return restock_reference_of(refund.refund_no, order_item_id)


def restock_reference_of(refund_no: str, order_item_id: int) -> str:
    return f"refund:{refund_no}:{order_item_id}"


def refund_restock_unshipped(refund_id: int) -> dict[int, Decimal]:
    """Return to stock what a refunded, never-shipped order had taken. Returns quantity per order line."""
    return restock_unshipped(Refund.objects.select_related("order__shipment").get(pk=refund_id))


@transaction.atomic
def restock_unshipped(refund: Refund) -> dict[int, Decimal]:
    """``refund_restock_unshipped`` for a refund already loaded with its order and shipment.

    What a line returns: of what the order took, whatever will no longer ship (the line less every refunded
    quantity), less what earlier refunds of the line already returned. Read for all lines at once, by exact
    references (the unique index), never by a pattern over every movement."""
    if refund.state != RefundState.REFUNDED or not refund.order.is_not_shipped():
        return {}
    # Stock rows are locked in product order, the order stock allocation locks them in: one transaction here
    # holds several of them until it commits.
    items = list(refund.items.select_related("order_item__product").order_by("order_item__product_id", "pk"))
    line_ids = [item.order_item_id for item in items]
    refunds_of_lines = list(
        RefundItem.objects.filter(order_item_id__in=line_ids).values_list("order_item_id", "refund__refund_no")
    )
    restock_refs = {restock_reference_of(refund_no, line_id): line_id for line_id, refund_no in refunds_of_lines}
    allocation_refs = {allocation_reference(line_id): line_id for line_id in line_ids}
    movements = dict(
        StockMovement.objects.filter(reference__in=[*restock_refs, *allocation_refs]).values_list("reference", "delta")
    )
    refunded = dict(
        RefundItem.objects.filter(order_item_id__in=line_ids, refund__state=RefundState.REFUNDED)
        .values("order_item_id")
        .annotate(total=Sum("quantity"))
        .values_list("order_item_id", "total")
    )
    restocked: dict[int, Decimal] = {}
    for item in items:
        line = item.order_item
        reference = restock_reference(refund, line.pk)
        if reference in movements:
            continue  # restocked before
        taken = -movements.get(allocation_reference(line.pk), Decimal("0"))
        still_ships = max(Decimal("0"), line.quantity - (refunded.get(line.pk) or Decimal("0")))
        returned = sum((delta for ref, delta in movements.items() if restock_refs.get(ref) == line.pk), Decimal("0"))
        quantity = max(Decimal("0"), taken - still_ships - returned)
        if quantity > 0 and stock_adjust(
            product=line.product, delta=quantity, reason=RESTOCK_REASON, reference=reference
        ):
            restocked[line.pk] = quantity
    return restocked
