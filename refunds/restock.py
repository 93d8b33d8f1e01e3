"""Stock goes back for refunded goods that never left the warehouse. An idempotent job: each refund line
restocks once (its own StockMovement reference), and only what was actually allocated to the order."""

from __future__ import annotations

from decimal import Decimal

from mall.models import StockMovement
from mall.services import allocation_reference, stock_adjust
from refunds.models import Refund, RefundState

RESTOCK_REASON = "refund_restock"


def restock_reference(refund: Refund, order_item_id: int) -> str:
    return f"refund:{refund.refund_no}:{order_item_id}"


def refund_restock_unshipped(refund_id: int) -> dict[int, Decimal]:
    """Return to stock what a refunded, never-shipped order had taken. Returns quantity per order line."""
    refund = Refund.objects.select_related("order__shipment").get(pk=refund_id)
    if refund.state != RefundState.REFUNDED or not refund.order.is_not_shipped():
        return {}
    restocked: dict[int, Decimal] = {}
    for item in refund.items.select_related("order_item__product"):
        allocation = StockMovement.objects.filter(reference=allocation_reference(item.order_item_id)).first()
        taken = -allocation.delta if allocation is not None else Decimal("0")
        quantity = min(item.quantity, taken)
        if quantity <= 0:
            continue
        if stock_adjust(
            product=item.order_item.product,
            delta=quantity,
            reason=RESTOCK_REASON,
            reference=restock_reference(refund, item.order_item_id),
        ):
            restocked[item.order_item_id] = quantity
    return restocked
