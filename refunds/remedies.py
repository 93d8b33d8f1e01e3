"""Money back another way than the order's channel: the customer's store credit, or a bank transfer finance makes.

A person's remedies for a refund the channel could not pay (`failed`), besides sending it again
(``flow.refund_retry``): pay it to the customer's store credit (back to `refunding`, where the execution credits the
balance instead of calling the channel), or have finance transfer it (`awaiting_transfer`). Both take the refund's
claims on its order again, as a retry does. Then the way the money went back: the store credit credited, the
transfer confirmed (or abandoned, when finance cannot make it). ``payments`` keeps the ledger and the transfers'
records and calls the ``refund_mark_*`` functions inside its own transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from mall.actors import Staff
from mall.services import order_sync_refund_status
from mall.texts import Note
from refunds import texts
from refunds.claims import claims_reclaim, claims_release
from refunds.exceptions import RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_transition
from refunds.models import Refund, RefundDestination, RefundState
from refunds.services import refunded_total
from refunds.sweeps import order_close_after_timeout_refund

# Who may choose how a failed refund is paid: the people who decide refunds.
CHOOSE_PERMISSION = "refunds.approve_refund"


def _failed_refund_for(refund: Refund, actor: Staff) -> Refund:
    refund = lock_refund(refund.pk)
    if not actor.has_perm(CHOOSE_PERMISSION):
        raise ReviewForbidden()
    if refund.state != RefundState.FAILED:
        raise RefundNotAllowed(state=refund.state)
    return refund


@transaction.atomic
def refund_pay_to_store_credit(*, refund: Refund, actor: Staff, note: Note = "") -> Refund:
    """A person pays a failed refund to the customer's store credit: it goes back to `refunding`, and the
    execution credits the balance (no channel call)."""
    refund = _failed_refund_for(refund, actor)
    claims_reclaim(refund=refund)
    refund.destination = RefundDestination.STORE_CREDIT
    refund_transition(
        refund=refund, action=refund.pay_to_store_credit, actor=actor, note=note or texts.PAYING_STORE_CREDIT_INSTEAD()
    )
    return refund


@transaction.atomic
def refund_choose_offline_transfer(*, refund: Refund, actor: Staff, note: Note = "") -> Refund:
    """A person has finance pay a failed refund by bank transfer: it waits in `awaiting_transfer`. Someone else
    confirms the transfer (``payments.offline``)."""
    refund = _failed_refund_for(refund, actor)
    claims_reclaim(refund=refund)
    refund.destination = RefundDestination.OFFLINE
    refund_transition(
        refund=refund,
        action=refund.choose_offline_transfer,
        actor=actor,
        note=note or texts.TO_BE_TRANSFERRED(),
    )
    return refund


def _money_back(refund: Refund) -> None:
    """What follows the money going back, whichever way: the order's status, and the close of an order refunded
    for not shipping in time."""
    order_sync_refund_status(
        order=refund.order, refunded_total=refunded_total(order=refund.order), note=refund.refund_no
    )
    order_close_after_timeout_refund(refund=refund)


# The ways the money went back: inside the caller's transaction (payments writes its record and these in one).
@transaction.atomic(savepoint=False)
def refund_mark_credited(*, refund: Refund, note: Note = "") -> Refund:
    """The customer's store credit holds the refund's amount. Idempotent."""
    refund = lock_refund(refund.pk, order_id=refund.order_id)
    if refund.state == RefundState.REFUNDED:
        return refund
    refund.refunded_at = timezone.now()
    refund_transition(refund=refund, action=refund.store_credit_paid, note=note or texts.CREDITED())
    _money_back(refund)
    return refund


@transaction.atomic(savepoint=False)
def refund_mark_transferred(*, refund: Refund, actor: Staff, note: Note = "") -> Refund:
    """Finance made the bank transfer (the caller checked who and recorded the proof)."""
    refund = lock_refund(refund.pk, order_id=refund.order_id)
    refund.refunded_at = timezone.now()
    refund_transition(refund=refund, action=refund.transfer_confirmed, actor=actor, note=note or texts.TRANSFERRED())
    _money_back(refund)
    return refund


@transaction.atomic(savepoint=False)
def refund_mark_transfer_abandoned(*, refund: Refund, actor: Staff, note: Note) -> Refund:
    """Finance cannot make the transfer: the refund needs a person again (`failed`) and gives its claims back."""
    refund = lock_refund(refund.pk, order_id=refund.order_id)
    refund_transition(refund=refund, action=refund.transfer_abandoned, actor=actor, note=note)
    claims_release(refund=refund)
    return refund


__all__ = [
    "CHOOSE_PERMISSION",
    "refund_choose_offline_transfer",
    "refund_mark_credited",
    "refund_mark_transfer_abandoned",
    "refund_mark_transferred",
    "refund_pay_to_store_credit",
]
