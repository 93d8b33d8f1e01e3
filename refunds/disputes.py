"""Disputes (纠纷): a customer contests a refund decision, or an agent opens a case on an order; an agent
arbitrates with a thread of notes and an outcome. An upheld or partly upheld dispute pays out through a
dispute refund created by ``refunds.compensation.staff_refund_create`` (so the compensation caps and the
maker-checker rule apply to it too)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.actors import Customer, Staff
from mall.models import Order, OrderItem, OrderStatus
from mall.money import is_whole_fen
from mall.numbering import new_number
from refunds import texts
from refunds.compensation import staff_refund_create
from refunds.exceptions import AmountExceeded, DisputeNotAllowed, InvalidRefundRequest, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_record_event
from refunds.models import (
    Dispute,
    DisputeNote,
    DisputeOpener,
    DisputeOutcome,
    DisputeStatus,
    Refund,
    RefundReason,
    RefundState,
)
from refunds.services import ItemRequest


def refund_is_disputable(refund: Refund) -> bool:
    """A customer may contest a rejection, or a refund that left part of the order's money with the shop."""
    if refund.state == RefundState.REJECTED:
        return True
    return bool(refund.state == RefundState.REFUNDED and refund.order.status == OrderStatus.PARTIALLY_REFUNDED)


def _check_worker(actor: Staff) -> None:
    if not actor.has_perm("refunds.work_dispute"):
        raise ReviewForbidden(_("You may not work disputes."))


def _clean_text(text: str, field: str, limit: int) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidRefundRequest(_("This field is required."), field=field)
    if len(text) > limit:
        raise InvalidRefundRequest(_("At most %(limit)d characters.") % {"limit": limit}, field=field)
    return text


@transaction.atomic
def dispute_open_by_customer(*, customer: Customer, refund: Refund, reason: str) -> Dispute:
    """The customer contests the decision on their own refund. One dispute per refund: the arbitration is final."""
    reason = _clean_text(reason, "reason", 1000)
    # The order first, then the refund: the dispute's foreign key to the order takes a lock on the order row too.
    refund = lock_refund(refund.pk, order_id=refund.order_id)
    if refund.customer_id != customer.pk:
        raise Refund.DoesNotExist
    if not refund_is_disputable(refund):
        raise DisputeNotAllowed(_("Only a rejected or partly refunded refund can be disputed."), state=refund.state)
    if Dispute.objects.filter(refund=refund).exists():
        raise DisputeNotAllowed(_("This refund has already been disputed."))
    dispute = Dispute.objects.create(
        dispute_no=new_number("D"),
        order=refund.order,
        refund=refund,
        customer=customer,
        opened_by=customer,
        opener=DisputeOpener.CUSTOMER,
        reason=reason,
    )
    refund_record_event(refund=refund, from_state=refund.state, actor=customer, note=texts.DISPUTE_OPENED())
    return dispute


@transaction.atomic
def dispute_open_by_agent(*, actor: Staff, order: Order, reason: str, refund: Refund | None = None) -> Dispute:
    """An agent opens a case (a complaint by phone, say) on an order, or on one of its refunds."""
    _check_worker(actor)
    reason = _clean_text(reason, "reason", 1000)
    if refund is not None:
        refund = lock_refund(refund.pk)  # the order first (see dispute_open_by_customer)
        if refund.order_id != order.pk:
            raise InvalidRefundRequest(_("The refund is not of this order."), field="refund")
        if Dispute.objects.filter(refund=refund, status=DisputeStatus.OPEN).exists():
            raise DisputeNotAllowed(_("This refund already has an open dispute."))
    dispute = Dispute.objects.create(
        dispute_no=new_number("D"),
        order=order,
        refund=refund,
        customer_id=order.customer_id,
        opened_by=actor,
        opener=DisputeOpener.AGENT,
        reason=reason,
    )
    if refund is not None:
        refund_record_event(refund=refund, from_state=refund.state, actor=actor, note=texts.DISPUTE_OPENED_BY_STAFF())
    return dispute


def dispute_add_note(*, dispute: Dispute, actor: Staff, body: str) -> DisputeNote:
    _check_worker(actor)
    return DisputeNote.objects.create(dispute=dispute, author=actor, body=_clean_text(body, "body", 2000))


def _upheld_lines(dispute: Dispute) -> list[tuple[OrderItem, Decimal]]:
    """(item, amount) the customer gets when the dispute is upheld in full."""
    lines = []
    if dispute.refund_id is not None:
        refund = dispute.refund
        assert refund is not None
        for refund_item in refund.items.select_related("order_item"):
            item = refund_item.order_item
            # A rejected refund's own amount again; after a partial refund, the rest of what was paid.
            wanted = refund_item.amount if refund.state == RefundState.REJECTED else item.refundable_amount
            lines.append((item, min(wanted, item.refundable_amount)))
    else:
        lines = [(item, item.refundable_amount) for item in dispute.order.items.all()]
    return [(item, amount) for item, amount in lines if amount > 0]


def _spread(lines: list[tuple[OrderItem, Decimal]], amount: Decimal) -> list[ItemRequest]:
    """Spread ``amount`` over the items in order, each up to what is still refundable of it."""
    requests = []
    left = amount
    for item, _upheld in lines:
        share = min(left, item.refundable_amount)
        if share > 0:
            requests.append(ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=share))
            left -= share
    if left > 0:
        raise AmountExceeded(field="amount")
    return requests


@transaction.atomic
def dispute_resolve(
    *, dispute: Dispute, actor: Staff, outcome: str, note: str, amount: Decimal | None = None
) -> Dispute:
    """Close the dispute with an outcome. Uphold and partial create the linked dispute refund."""
    _check_worker(actor)
    note = _clean_text(note, "note", 500)
    if outcome not in DisputeOutcome.values:
        raise InvalidRefundRequest(_("Unknown outcome."), field="outcome")
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.status != DisputeStatus.OPEN:
        raise DisputeNotAllowed(_("This dispute is already resolved."))
    refund = None
    if outcome in (DisputeOutcome.UPHOLD, DisputeOutcome.PARTIAL):
        lines = _upheld_lines(dispute)
        if outcome == DisputeOutcome.UPHOLD:
            money = sum((line_amount for _item, line_amount in lines), Decimal("0.00"))
            requests = [ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=a) for item, a in lines]
        else:
            if amount is None or amount <= 0 or not is_whole_fen(amount):
                raise InvalidRefundRequest(_("Give an amount greater than zero, with two decimals."), field="amount")
            money = amount
            requests = _spread(lines, amount)
        if money <= 0 or not requests:
            raise AmountExceeded(_("Nothing is left to refund on this order."), field="outcome")
        refund = staff_refund_create(
            order=dispute.order,
            actor=actor,
            reason=RefundReason.DISPUTE,
            items=requests,
            note=_("dispute %(no)s: %(note)s") % {"no": dispute.dispute_no, "note": note},
            amount=money,
        )
    dispute.status = DisputeStatus.RESOLVED
    dispute.outcome = outcome
    dispute.resolution_note = note
    dispute.resolved_by = actor
    dispute.resolved_at = timezone.now()
    dispute.resolution_refund = refund
    dispute.save()
    DisputeNote.objects.create(
        dispute=dispute,
        author=actor,
        body=_("Resolved: %(outcome)s. %(note)s") % {"outcome": DisputeOutcome(outcome).label, "note": note},
    )
    if dispute.refund is not None:
        refund_record_event(
            refund=dispute.refund,
            from_state=dispute.refund.state,
            actor=actor,
            note=texts.DISPUTE_RESOLVED(outcome=outcome),
        )
    return dispute
