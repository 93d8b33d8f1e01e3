"""Perishable quality claims settled without a return: customer service lowers a refund-only quality claim on
fruit to the spoiled part (by weight or pieces, or by a share of the item) before an agent approves it."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from logistics import texts
from mall.actors import Staff
from mall.models import OrderItem
from mall.quantities import quantity_note
from mall.texts import literal
from refunds.adjustments import ItemReduction, perishable_claim_amount, refund_reduce
from refunds.exceptions import InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.models import Refund, RefundKind, RefundReason
from refunds.texts import WITH_REMARK


def perishable_claim_settle(
    *,
    refund: Refund,
    order_item_id: int,
    actor: Staff,
    spoiled_quantity: Decimal | None = None,
    share: Decimal | None = None,
    note: str = "",
) -> Refund:
    """Settle a refund-only quality claim on fruit for the spoiled part only (by weight/pieces or by share).

    The refund is lowered to that part before an agent approves it; the customer sees why.
    """
    if actor is None or not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    if refund.kind != RefundKind.REFUND_ONLY or refund.reason != RefundReason.QUALITY_ISSUE:
        raise RefundNotAllowed(_("Only refund-only quality claims are settled by the spoiled part."))
    order_item = OrderItem.objects.select_related("product").filter(order_id=refund.order_id, pk=order_item_id).first()
    if order_item is None:
        raise InvalidRefundRequest(_("No such item in this order."), field="order_item_id")
    if not order_item.product.perishable:
        raise InvalidRefundRequest(_("Only perishable goods are settled by the spoiled part."), field="order_item_id")
    claim = perishable_claim_amount(order_item=order_item, spoiled_quantity=spoiled_quantity, share=share)
    text = texts.PERISHABLE_SETTLED(
        quantity=quantity_note(claim.quantity, order_item.unit),
        ordered=quantity_note(order_item.quantity, order_item.unit),
        name=order_item.name,
        amount=f"{claim.amount:,.2f}",
    )
    if note.strip():
        text = WITH_REMARK(text=text, remark=literal(note))
    return refund_reduce(
        refund=refund,
        reductions=[ItemReduction(order_item_id=order_item.pk, quantity=claim.quantity, amount=claim.amount)],
        actor=actor,
        note=text,
    )
