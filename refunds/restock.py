"""Stock goes back for refunded goods that never left the warehouse. An idempotent job: each refund line
restocks once (its own StockMovement reference), and only stock the order really took and will not ship —
an out-of-stock refund of the quantity that was never allocated returns nothing."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from mall.models import StockMovement
from mall.services import StockChange, allocation_reference, stock_adjust_many
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
    quantity), less what earlier refunds of the line already returned. Four statements whatever the order holds:
    every refund line of the order (with its refund's number and state), the movements of those lines by exact
    references (the unique index, never a pattern over every movement), then one INSERT of the returns and one
    UPDATE of the stock rows (``mall.services.stock_adjust_many``: all or none, once per reference)."""
    if refund.state != RefundState.REFUNDED or not refund.order.is_not_shipped():
        return {}
    rows = list(
        RefundItem.objects.filter(order_item__order_id=refund.order_id)
        .order_by("pk")
        .values_list(
            "refund_id",
            "order_item_id",
            "order_item__product_id",
            "order_item__quantity",
            "quantity",
            "refund__refund_no",
            "refund__state",
        )
    )
    lines = {
        line_id: (product_id, ordered) for refund_id, line_id, product_id, ordered, *_ in rows if refund_id == refund.pk
    }
    restock_refs: dict[str, int] = {}
    refunded: dict[int, Decimal] = {}
    for _refund_id, line_id, _product_id, _ordered, quantity, refund_no, state in rows:
        if line_id not in lines:
            continue
        restock_refs[restock_reference_of(refund_no, line_id)] = line_id
        if state == RefundState.REFUNDED:
            refunded[line_id] = refunded.get(line_id, Decimal("0")) + quantity
    allocation_refs = {allocation_reference(line_id): line_id for line_id in lines}
    movements = dict(
        StockMovement.objects.filter(reference__in=[*restock_refs, *allocation_refs]).values_list("reference", "delta")
    )
    changes: list[StockChange] = []
    restocked: dict[int, Decimal] = {}
    for line_id, (product_id, ordered) in lines.items():
        reference = restock_reference(refund, line_id)
        if reference in movements:
            continue  # restocked before
        taken = -movements.get(allocation_reference(line_id), Decimal("0"))
        still_ships = max(Decimal("0"), ordered - refunded.get(line_id, Decimal("0")))
        returned = sum((delta for ref, delta in movements.items() if restock_refs.get(ref) == line_id), Decimal("0"))
        quantity = max(Decimal("0"), taken - still_ships - returned)
        if quantity > 0:
            changes.append(StockChange(product_id=product_id, delta=quantity, reference=reference))
            restocked[line_id] = quantity
    if not stock_adjust_many(changes=changes, reason=RESTOCK_REASON):
        return {}  # a concurrent run of this refund's follow-up returned them
    return restocked
