"""A refund's claims on its order: the quantity and amount of each order line it takes back, and its share of
the shipping fee (``OrderItem.refund_claimed_*``, ``Order.shipping_fee_refund_claimed``).

A live refund holds its claims; one that is rejected, cancelled or failed gives them back (``claims_release``),
and takes them again if a person sends it on (``claims_reclaim``). Every writer holds the order's row lock, which
serialises them; the new values are computed here from locked rows and written as exact decimals (SQLite would
otherwise add them as floating point). The database's check constraints refuse any claim above what was paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from mall.models import Order, OrderItem
from refunds.exceptions import AmountExceeded
from refunds.models import Refund

# (order item id, quantity, amount) of one refund line
ClaimLine = tuple[int, Decimal, Decimal]


def _shift_lines(lines: Sequence[ClaimLine], sign: int, locked_items: dict[int, OrderItem] | None = None) -> None:
    items = locked_items or OrderItem.objects.select_for_update().in_bulk([item_id for item_id, _q, _a in lines])
    for item_id, quantity, amount in lines:
        item = items[item_id]
        item.refund_claimed_quantity += sign * quantity
        item.refund_claimed_amount += sign * amount
        OrderItem.objects.filter(pk=item_id).update(
            refund_claimed_quantity=item.refund_claimed_quantity, refund_claimed_amount=item.refund_claimed_amount
        )


def _shift(
    refund: Refund,
    lines: Sequence[ClaimLine],
    sign: int,
    locked_items: dict[int, OrderItem] | None = None,
    locked_order: Order | None = None,
) -> None:
    """Add (sign=1) or give back (sign=-1) a refund's claims on its order lines and shipping fee. Rows the caller
    already holds locked (``locked_items``, ``locked_order``) are not read again, and are kept up to date."""
    _shift_lines(lines, sign, locked_items)
    if refund.shipping_fee_amount:
        order = locked_order or Order.objects.select_for_update().get(pk=refund.order_id)
        order.shipping_fee_refund_claimed += sign * refund.shipping_fee_amount
        Order.objects.filter(pk=order.pk).update(shipping_fee_refund_claimed=order.shipping_fee_refund_claimed)


def _lines(refund: Refund) -> list[ClaimLine]:
    return list(refund.items.values_list("order_item_id", "quantity", "amount"))


def claims_reserve(
    *,
    refund: Refund,
    lines: Sequence[ClaimLine],
    locked_items: dict[int, OrderItem] | None = None,
    locked_order: Order | None = None,
) -> None:
    """Take ``lines`` and the refund's shipping fee share out of what the order still has to refund."""
    _shift(refund, lines, 1, locked_items, locked_order)


def claims_release(*, refund: Refund) -> None:
    """Give all of a refund's claims back to its order."""
    _shift(refund, _lines(refund), -1)


def claims_release_lines(*, lines: Sequence[ClaimLine]) -> None:
    """Give back part of a refund's claims on its order lines (a refund whose amount went down)."""
    _shift_lines(lines, -1)


def claims_reclaim(*, refund: Refund) -> None:
    """Take a released refund's claims back (a person retrying a failed one), if the order still has them."""
    lines = _lines(refund)
    current = OrderItem.objects.select_for_update().in_bulk([item_id for item_id, _q, _a in lines])
    for item_id, quantity, amount in lines:
        if amount > current[item_id].refundable_amount or quantity > current[item_id].refundable_quantity:
            raise AmountExceeded()
    order = Order.objects.get(pk=refund.order_id)
    if refund.shipping_fee_amount > order.shipping_fee - order.shipping_fee_refund_claimed:
        raise AmountExceeded()
    claims_reserve(refund=refund, lines=lines)


__all__ = ["ClaimLine", "claims_reclaim", "claims_release", "claims_release_lines", "claims_reserve"]
