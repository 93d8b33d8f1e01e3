"""Writes on refunds after their creation: review (approve, reject, overturn, the automatic approval and the
escalation) and the customer's withdrawal; with the refunds' creation (``refunds.creation``), the services the API,
the console and the jobs call.

Every service opens a transaction, locks the order and then the refund (``refunds.lifecycle``), runs the
transition, which records its ``RefundEvent`` and hands what entering the new state sets off to the job queue
after commit, and moves the refund's claims on its order (``refunds.claims``). The database's check constraints
refuse any over-refund as a last line of defence.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.actors import Customer, Staff
from mall.models import Order
from mall.texts import Note, as_text, literal
from refunds import texts
from refunds.claims import claims_reclaim, claims_release
from refunds.creation import (
    ItemRequest,
    full_order_items,
    refund_apply,
    refund_create_by_staff,
    refund_create_by_system,
)
from refunds.exceptions import InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_record_event, refund_transition
from refunds.models import Refund, RefundState
from refunds.rejections import RejectionReason
from refunds.routing import Route, route_after_approval

# --- review --------------------------------------------------------------------------------------------------


def _check_reviewer(refund: Refund, actor: Staff) -> None:
    if not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    blocker = refund_approval_blocker(refund=refund, actor=actor)
    if blocker is not None:
        raise ReviewForbidden(blocker)


def refund_approval_blocker(*, refund: Refund, actor: Staff) -> str | None:
    """Why ``actor`` may not approve ``refund`` beyond the permission itself (maker-checker, the single-refund
    cap), or None. The console shows it; ``refund_approve`` enforces it."""
    if refund.created_by_id is not None and refund.created_by_id == actor.pk:
        return _("You created this refund: another person must approve it.")
    if refund.requires_supervisor and not actor.has_perm("refunds.approve_large_refund"):
        return _("Above the cap: only a supervisor may approve it.")
    return None


@transaction.atomic
def refund_approve(*, refund: Refund, actor: Staff, note: str = "") -> Refund:
    refund = lock_refund(refund.pk)
    _check_reviewer(refund, actor)
    refund.reviewed_by_id = actor.pk
    refund.decision_note = note[:255]
    refund_transition(refund=refund, action=refund.approve, actor=actor, note=note or texts.APPROVED())
    _route(refund)
    return refund


@transaction.atomic
def refund_reject(*, refund: Refund, actor: Staff, note: str = "", reason: RejectionReason | None = None) -> Refund:
    """Reject with a preset ``reason`` (the console always names one) and the reviewer's own words in ``note``;
    without a preset reason the words are the reason and are required. The refund keeps both: the customer reads
    the reason's label in their own language."""
    note = note.strip()
    if reason is None and not note:
        raise InvalidRefundRequest(_("A reason is required to reject."), field="note")
    if reason is not None and not reason.active:
        raise InvalidRefundRequest(_("This reason is no longer offered: choose another."), field="reason")
    if reason is not None and reason.needs_note and not note:
        raise InvalidRefundRequest(_("This reason needs a few words of your own."), field="note")
    if len(note) > 255:
        raise InvalidRefundRequest(_("At most %(limit)d characters.") % {"limit": 255}, field="note")
    refund = lock_refund(refund.pk)
    if not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    refund.reviewed_by_id = actor.pk
    refund.decision_note = note
    refund.rejection_reason = reason
    # The timeline keeps the reviewer's words; the reason's label is added when read, in the reader's language.
    refund_transition(refund=refund, action=refund.reject, actor=actor, note=note)
    claims_release(refund=refund)
    return refund


@transaction.atomic
def refund_overturn(*, refund: Refund, actor: Staff, note: str) -> Refund:
    """A supervisor reverses a rejection (override): the refund claims its amounts again, if the order still
    has them, and goes on as approved. The person who rejected it cannot overturn their own decision."""
    if not note.strip():
        raise InvalidRefundRequest(_("A reason is required to overturn a decision."), field="note")
    refund = lock_refund(refund.pk)
    if not actor.has_perm("refunds.override_refund"):
        raise ReviewForbidden(_("Only a supervisor may overturn a decision."))
    if refund.state != RefundState.REJECTED:
        raise RefundNotAllowed(state=refund.state)
    if refund.reviewed_by_id == actor.pk:
        raise ReviewForbidden(_("Nobody overturns their own decision."))
    claims_reclaim(refund=refund)
    refund.reviewed_by_id = actor.pk
    refund.decision_note = note[:255]
    refund_transition(
        refund=refund, action=refund.overturn, actor=actor, note=texts.REJECTION_OVERTURNED(note=literal(note))
    )
    _route(refund)
    return refund


@transaction.atomic
def refund_auto_approve(*, refund: Refund, rule: Note) -> Refund:
    """Approval by the system after nobody handled the refund in time; ``rule`` names what decided."""
    refund = lock_refund(refund.pk)
    refund_transition(refund=refund, action=refund.approve, actor=None, note=rule)
    _route(refund)
    return refund


@transaction.atomic
def refund_escalate(*, refund: Refund, reason: Note) -> Refund:
    refund = lock_refund(refund.pk)
    if refund.state != RefundState.PENDING_REVIEW:
        raise RefundNotAllowed(state=refund.state)
    refund.escalated_at = timezone.now()
    refund.escalation_reason = str(as_text(reason))[:255]
    refund.save(update_fields=["escalated_at", "escalation_reason", "updated_at"])
    refund_record_event(
        refund=refund, from_state=refund.state, note=texts.ESCALATED(reason=as_text(reason)), internal=True
    )
    return refund


@transaction.atomic
def refund_cancel(*, refund: Refund, actor: Customer | Staff, note: str = "") -> Refund:
    refund = lock_refund(refund.pk)
    refund_transition(refund=refund, action=refund.cancel, actor=actor, note=note or texts.WITHDRAWN())
    claims_release(refund=refund)
    return refund


# --- routing and totals --------------------------------------------------------------------------------


def _route(refund: Refund) -> None:
    route = route_after_approval(refund)
    refund_transition(refund=refund, action=getattr(refund, route.transition), note=route.note)


def refunded_total(*, order: Order) -> Decimal:
    total = Refund.objects.filter(order=order, state=RefundState.REFUNDED).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


__all__ = [
    "ItemRequest",
    "Route",
    "full_order_items",
    "refund_apply",
    "refund_approval_blocker",
    "refund_approve",
    "refund_auto_approve",
    "refund_cancel",
    "refund_create_by_staff",
    "refund_create_by_system",
    "refund_escalate",
    "refund_overturn",
    "refund_record_event",
    "refund_reject",
    "refunded_total",
    "route_after_approval",
]
