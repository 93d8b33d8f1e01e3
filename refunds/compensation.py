"""Compensation refunds (补偿退款): money back without a return, created by customer service.

An agent gives up to ``REFUND_COMPENSATION_CAP`` per refund and ``REFUND_COMPENSATION_DAILY_CAP`` per
Asia/Shanghai day on their own authority; above either cap the refund waits for a supervisor other than its
creator (``refund_approve`` refuses anyone approving their own). Dispute refunds count against the same caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from mall.actors import Staff
from mall.models import Order, OrderItem
from mall.money import is_whole_fen, to_fen, yuan
from refunds import policy
from refunds.exceptions import AmountExceeded, InvalidRefundRequest, ReviewForbidden
from refunds.models import Refund, RefundDestination, RefundReason
from refunds.selectors import staff_refund_total_today
from refunds.services import ItemRequest, refund_create_by_staff

HUNDRED = Decimal("100")


def daily_cap() -> Decimal:
    return Decimal(settings.REFUND_COMPENSATION_DAILY_CAP)


def compensation_amount(*, item: OrderItem, amount: Decimal | None = None, percent: Decimal | None = None) -> Decimal:
    """The money asked for: a fixed amount, or a percentage of what was paid for the item."""
    if (amount is None) == (percent is None):
        raise InvalidRefundRequest(_("Give either an amount or a percentage."), field="amount")
    if percent is not None:
        if not Decimal("0") < percent <= HUNDRED:
            raise InvalidRefundRequest(_("A percentage is between 0 and 100."), field="percent")
        return to_fen(item.amount * percent / HUNDRED, rounding=ROUND_HALF_UP)
    assert amount is not None
    return amount


def within_caps(*, actor: Staff, amount: Decimal) -> bool:
    """Whether ``actor`` may give ``amount`` now without a supervisor. Call under the actor's row lock."""
    if amount > policy.compensation_cap():
        return False
    return staff_refund_total_today(actor=actor) + amount <= daily_cap()


def staff_refund_create(
    *,
    order: Order,
    actor: Staff,
    reason: str,
    items: Sequence[ItemRequest],
    note: str,
    amount: Decimal,
    destination: str = RefundDestination.ORIGINAL,
) -> Refund:
    """Create a compensation or dispute refund of ``amount`` (the total of ``items``), applying the caps.

    The caps are checked under the actor's user row lock, so that two refunds by the same agent cannot both
    squeeze under the daily cap. That row is locked after the order's (``refund_create_by_staff`` calls the check
    once it holds the order): every event a person writes on a locked order takes the same two rows in that order.
    """
    if not actor.has_perm("refunds.create_staff_refund"):
        raise ReviewForbidden(_("You may not create compensation refunds."))
    if not note.strip():
        raise InvalidRefundRequest(_("A reason is required."), field="reason")

    def caps_allow() -> bool:
        get_user_model().objects.select_for_update().only("pk").get(pk=actor.pk)
        return within_caps(actor=actor, amount=amount)

    return refund_create_by_staff(
        order=order,
        reason=reason,
        items=items,
        actor=actor,
        note=note.strip(),
        within_cap=caps_allow,
        destination=destination,
    )


def compensation_create(
    *,
    order: Order,
    actor: Staff,
    order_item_id: int,
    reason: str,
    amount: Decimal | None = None,
    percent: Decimal | None = None,
    destination: str = RefundDestination.ORIGINAL,
) -> Refund:
    """Compensate part of one item of ``order`` (e.g. 30% for bruised fruit), without a return: on the order's
    channel, or to the customer's store credit (``destination``)."""
    item = OrderItem.objects.filter(order=order, pk=order_item_id).first()
    if item is None:
        raise InvalidRefundRequest(_("No such item in this order."), field="order_item_id")
    money = compensation_amount(item=item, amount=amount, percent=percent)
    if money <= 0 or not is_whole_fen(money):
        raise InvalidRefundRequest(_("Amount must be greater than zero, with at most two decimals."), field="amount")
    if money > item.refundable_amount:
        # Checked again under the order's lock when the refund is created; said here in money, with the figures.
        raise AmountExceeded(
            _("The amount %(amount)s is more than the %(left)s still refundable of this item.")
            % {"amount": yuan(money), "left": yuan(item.refundable_amount)},
            field="amount",
        )
    return staff_refund_create(
        order=order,
        actor=actor,
        reason=RefundReason.COMPENSATION,
        items=[ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=money)],
        note=reason,
        amount=money,
        destination=destination,
    )
