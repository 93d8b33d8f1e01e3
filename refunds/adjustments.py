"""Lowering a refund's amount before any money moves: after the quality inspection found less than was claimed,
or when customer service settles a perishable quality claim for the spoiled part only.

The service locks the order row first (``refunds.lifecycle.lock_refund``), lowers the refund's items, gives the
difference of the claims back to the order lines (``refunds.claims``) and records a customer-visible event
explaining why. A cut above a configured share of the refund needs a supervisor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from mall.actors import Staff
from mall.models import OrderItem
from mall.money import CENT
from mall.texts import Note, as_text
from refunds.claims import claims_release_lines
from refunds.exceptions import AmountExceeded, InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_record_event
from refunds.models import Refund, RefundItem, RefundState

QTY = Decimal("0.001")
ZERO = Decimal("0.00")
# The money has not been asked of the channel in these states, so the amount may still change.
ADJUSTABLE_STATES = (RefundState.PENDING_REVIEW, RefundState.INSPECTING)


@dataclass(frozen=True)
class ItemReduction:
    """The new, lower quantity and amount of one refund item (identified by its order line)."""

    order_item_id: int
    quantity: Decimal
    amount: Decimal


def proportional_amount(*, amount: Decimal, quantity: Decimal, kept_quantity: Decimal) -> Decimal:
    """What stays of ``amount`` paid for ``quantity`` when only ``kept_quantity`` of it counts.

    The cut is rounded down to the cent, so the customer never loses a fraction of a cent to rounding.
    """
    if quantity <= 0 or kept_quantity >= quantity:
        return amount
    kept_quantity = max(kept_quantity, Decimal("0"))
    cut = (amount * (quantity - kept_quantity) / quantity).quantize(CENT, rounding=ROUND_DOWN)
    return amount - cut


@dataclass(frozen=True)
class PerishableClaim:
    quantity: Decimal
    amount: Decimal


def perishable_claim_amount(
    *, order_item: OrderItem, spoiled_quantity: Decimal | None = None, share: Decimal | None = None
) -> PerishableClaim:
    """Compensation for the spoiled part of a fruit line, by weight/pieces (1.2 of 5 kg) or by share (0.3).

    The money is the line's paid amount in proportion to the spoiled quantity, rounded half up to the cent and
    never more than the quantity's catalogue share nor what is still refundable of the line.
    """
    if (spoiled_quantity is None) == (share is None):
        raise InvalidRefundRequest(_("Give either the spoiled quantity or a share."), field="spoiled_quantity")
    if share is not None:
        if not Decimal("0") < share <= Decimal("1"):
            raise InvalidRefundRequest(_("A share is more than 0 and at most 1."), field="share")
        quantity = (order_item.quantity * share).quantize(QTY, rounding=ROUND_HALF_UP)
    else:
        assert spoiled_quantity is not None
        quantity = spoiled_quantity.quantize(QTY, rounding=ROUND_HALF_UP)
        if quantity != spoiled_quantity:
            raise InvalidRefundRequest(_("At most three decimals."), field="spoiled_quantity")
    if quantity <= 0:
        raise InvalidRefundRequest(_("Quantity must be greater than zero."), field="spoiled_quantity")
    if quantity > order_item.quantity:
        raise InvalidRefundRequest(_("More than was ordered."), field="spoiled_quantity")
    if quantity == order_item.quantity:
        amount = order_item.amount
    else:
        amount = (order_item.amount * quantity / order_item.quantity).quantize(CENT, rounding=ROUND_HALF_UP)
        amount = min(amount, (order_item.unit_price * quantity).quantize(CENT))
    if amount <= 0:
        raise InvalidRefundRequest(_("The spoiled part is worth less than a cent."), field="spoiled_quantity")
    return PerishableClaim(quantity=quantity, amount=amount)


def supervisor_needed(*, amount: Decimal, cut: Decimal, share: Decimal | None) -> bool:
    return share is not None and cut > amount * share


@transaction.atomic
def refund_reduce(
    *,
    refund: Refund,
    reductions: Sequence[ItemReduction],
    actor: Staff,
    note: Note,
    supervisor_share: Decimal | None = None,
) -> Refund:
    """Lower ``refund``'s items to ``reductions`` and its amount by the difference; release that difference
    of the claims on the order lines; record ``note`` on the customer's timeline.

    ``supervisor_share``: a cut above this share of the refund needs ``refunds.approve_large_refund``.
    """
    if not (actor.has_perm("refunds.approve_refund") or actor.has_perm("refunds.confirm_return")):
        raise ReviewForbidden()
    note = as_text(note)
    if not note.code:
        raise InvalidRefundRequest(_("A reason is required."), field="note")
    refund = lock_refund(refund.pk)
    if refund.state not in ADJUSTABLE_STATES:
        raise RefundNotAllowed(_("The amount of this refund can no longer change."), state=refund.state)
    items = {item.order_item_id: item for item in RefundItem.objects.select_for_update().filter(refund=refund)}
    changes: list[tuple[RefundItem, Decimal, Decimal]] = []
    for index, reduction in enumerate(reductions):
        field = f"items[{index}]"
        item = items.get(reduction.order_item_id)
        if item is None:
            raise InvalidRefundRequest(_("No such item in this refund."), field=f"{field}.order_item_id")
        quantity, amount = reduction.quantity.quantize(QTY), reduction.amount
        if amount != amount.quantize(CENT):
            raise InvalidRefundRequest(_("Amounts have at most two decimals."), field=f"{field}.amount")
        if not ZERO <= quantity <= item.quantity:
            raise InvalidRefundRequest(_("The quantity can only go down."), field=f"{field}.quantity")
        if amount < ZERO:
            raise InvalidRefundRequest(_("Amount must not be negative."), field=f"{field}.amount")
        if amount > item.amount:
            raise AmountExceeded(_("The amount can only go down."), field=f"{field}.amount")
        if quantity != item.quantity or amount != item.amount:
            changes.append((item, quantity, amount))
    if not changes:
        return refund
    cut = sum((item.amount - amount for item, _q, amount in changes), ZERO)
    if refund.amount - cut <= 0:
        raise InvalidRefundRequest(_("Nothing would be left to refund: reject the refund instead."), field="items")
    if supervisor_needed(amount=refund.amount, cut=cut, share=supervisor_share) and not actor.has_perm(
        "refunds.approve_large_refund"
    ):
        raise ReviewForbidden(
            _("Cutting more than %(share)s%% of the refund needs a supervisor.")
            % {"share": f"{(supervisor_share or ZERO) * 100:.0f}"}
        )
    released = []
    for item, quantity, amount in changes:
        released.append((item.order_item_id, item.quantity - quantity, item.amount - amount))
        item.quantity, item.amount = quantity, amount
        item.save(update_fields=["quantity", "amount"])
    claims_release_lines(lines=released)
    refund.amount -= cut
    refund.save(update_fields=["amount", "updated_at"])
    refund_record_event(refund=refund, from_state=refund.state, actor=actor, note=note)
    return refund


__all__ = [
    "ItemReduction",
    "PerishableClaim",
    "perishable_claim_amount",
    "proportional_amount",
    "refund_reduce",
    "supervisor_needed",
]
