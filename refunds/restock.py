"""Stock goes back for refunded goods that never left the warehouse. An idempotent job: each refund line
restocks once (its own StockMovement reference), and only stock the order really took and will not ship —
an out-of-stock refund of the quantity that was never allocated returns nothing."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from mall.models import StockMovement
from mall.services import allocation_reference, stock_adjust
from refunds.models import Refund, RefundItem, RefundState

RESTOCK_REASON = "refund_restock"


def restock_reference(refund: Refund, order_item_id: int) -> str:
    return restock_reference_of(refund.refund_no, order_item_id)


def restock_reference_of(refund_no: str, order_item_id: int) -> str:
    return f"refund:{refund_no}:{order_item_id}"


def _restock_due(refund: Refund, item: RefundItem) -> Decimal:
    """What this refund returns to stock of one line: of what the order took, whatever will no longer ship
    (the line less every refunded quantity), less what earlier refunds of the line already returned."""
    line = item.order_item
    allocation = StockMovement.objects.filter(reference=allocation_reference(line.pk)).first()
    taken = -allocation.delta if allocation is not None else Decimal("0")
    refunded = RefundItem.objects.filter(order_item=line, refund__state=RefundState.REFUNDED).aggregate(
        total=Sum("quantity")
    )["total"] or Decimal("0")
    still_ships = max(Decimal("0"), line.quantity - refunded)
    # Exact references (the unique index), not a LIKE over every restock: the line's refunds are few.
    references = [
        restock_reference_of(refund_no, line.pk)
        for refund_no in RefundItem.objects.filter(order_item=line).values_list("refund__refund_no", flat=True)
    ]
    returned = StockMovement.objects.filter(reason=RESTOCK_REASON, reference__in=references).aggregate(
        total=Sum("delta")
    )["total"] or Decimal("0")
    return max(Decimal("0"), taken - still_ships - returned)


def refund_restock_unshipped(refund_id: int) -> dict[int, Decimal]:
    """Return to stock what a refunded, never-shipped order had taken. Returns quantity per order line."""
    refund = Refund.objects.select_related("order__shipment").get(pk=refund_id)
    if refund.state != RefundState.REFUNDED or not refund.order.is_not_shipped():
        return {}
    restocked: dict[int, Decimal] = {}
    for item in refund.items.select_related("order_item__product"):
        reference = restock_reference(refund, item.order_item_id)
        if StockMovement.objects.filter(reference=reference).exists():
            continue
        quantity = _restock_due(refund, item)
        if quantity > 0 and stock_adjust(
            product=item.order_item.product, delta=quantity, reason=RESTOCK_REASON, reference=reference
        ):
            restocked[item.order_item_id] = quantity
    return restocked
