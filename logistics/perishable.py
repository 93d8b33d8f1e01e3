"""Perishable quality claims settled without a return: customer service lowers a refund-only quality claim on
fruit to the spoiled part (by weight or pieces, or by a share of the item) before an agent approves it."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from mall.actors import Staff
from mall.models import OrderItem
from mall.money import yuan
from mall.quantities import quantity_text
from refunds.adjustments import ItemReduction, perishable_claim_amount, refund_reduce
from refunds.exceptions import InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.models import Refund, RefundKind, RefundReason


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
    text = _("Settled for the spoiled part: %(quantity)s of %(ordered)s of “%(name)s”, %(amount)s.") % {
        "quantity": quantity_text(claim.quantity, order_item.unit),
        "ordered": quantity_text(order_item.quantity, order_item.unit),
        "name": order_item.name,
        "amount": yuan(claim.amount),
    }
    if note.strip():
        text = f"{text} {note.strip()}"
    return refund_reduce(
        refund=refund,
        reductions=[ItemReduction(order_item_id=order_item.pk, quantity=claim.quantity, amount=claim.amount)],
        actor=actor,
        note=text,
    )
