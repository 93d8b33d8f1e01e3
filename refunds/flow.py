"""Transitions driven from outside the review: the carrier (interception), the customer's return, the
warehouse (receipt and inspection) and the payment channel (refunded or failed).

What a new state sets off (the channel's execution on entering ``refunding``, the customer's message, voucher and
restock on entering ``refunded``) is not started here: ``refunds.lifecycle`` hands it to the job queue after
commit, as the apps that do the work registered it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.actors import Customer, Staff
from mall.services import Actor, order_sync_refund_status
from mall.texts import Note
from refunds import texts
from refunds.claims import claims_reclaim, claims_release
from refunds.exceptions import InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_transition
from refunds.models import Refund, RefundDestination, RefundKind, RefundState, ReturnShipment
from refunds.services import refunded_total
from refunds.sweeps import order_close_after_timeout_refund


@transaction.atomic
def refund_interception_succeeded(*, refund: Refund, note: Note = "") -> Refund:
    refund = lock_refund(refund.pk)
    if refund.state == RefundState.REFUNDING:
        return refund  # a repeated carrier answer
    refund_transition(refund=refund, action=refund.interception_succeeded, note=note or texts.SHIPMENT_INTERCEPTED())
    return refund


@transaction.atomic
def refund_interception_failed(*, refund: Refund, note: Note = "") -> Refund:
    refund = lock_refund(refund.pk)
    if refund.state == RefundState.AWAITING_RETURN:
        return refund
    refund_transition(
        refund=refund,
        action=refund.interception_failed,
        note=note or texts.INTERCEPTION_FAILED(),
    )
    return refund


@transaction.atomic
def refund_return_submit(*, refund: Refund, actor: Customer, carrier: str, tracking_no: str) -> Refund:
    refund = lock_refund(refund.pk)
    if refund.kind != RefundKind.RETURN_AND_REFUND and refund.state != RefundState.AWAITING_RETURN:
        raise RefundNotAllowed(_("This refund does not need the goods back."))
    if refund.state != RefundState.AWAITING_RETURN:
        raise RefundNotAllowed(state=refund.state)
    carrier, tracking_no = carrier.strip(), tracking_no.strip()
    if not carrier:
        raise InvalidRefundRequest(_("Carrier is required."), field="carrier")
    if not tracking_no:
        raise InvalidRefundRequest(_("Tracking number is required."), field="tracking_no")
    ReturnShipment.objects.create(refund=refund, carrier=carrier, tracking_no=tracking_no)
    refund_transition(
        refund=refund,
        action=refund.return_shipped,
        actor=actor,
        note=texts.RETURN_SHIPPED(carrier=carrier, tracking_no=tracking_no),
    )
    return refund


@transaction.atomic
def refund_return_receive(*, refund: Refund, actor: Actor = None, note: Note = "") -> Refund:
    refund = lock_refund(refund.pk)
    if refund.state == RefundState.INSPECTING:
        return refund
    ReturnShipment.objects.filter(refund=refund, received_at__isnull=True).update(received_at=timezone.now())
    refund_transition(refund=refund, action=refund.return_received, actor=actor, note=note or texts.GOODS_RECEIVED())
    return refund


@transaction.atomic
def refund_inspection_pass(*, refund: Refund, actor: Actor = None, note: Note = "") -> Refund:
    refund = lock_refund(refund.pk)
    refund_transition(
        refund=refund, action=refund.inspection_passed, actor=actor, note=note or texts.INSPECTION_PASSED()
    )
    return refund


# The channel's answers: no savepoint of their own inside a caller's transaction (payments records the answer
# and applies it in one). A failure here fails the caller's whole transaction, which every caller wants.
@transaction.atomic(savepoint=False)
def refund_mark_refunded(
    *, refund: Refund, channel_refund_id: str = "", refunded_at: datetime | None = None, note: Note = ""
) -> Refund:
    """The channel confirmed the money went back. Idempotent: a repeated confirmation changes nothing."""
    refund = lock_refund(refund.pk, order_id=refund.order_id)
    if refund.state == RefundState.REFUNDED:
        return refund
    if refund.state == RefundState.FAILED:
        # A late success after a person was asked to look: the money did move, so the refund is refunded. It
        # passes through ``refunding`` for the record, and sets off nothing there: there is nothing to execute.
        claims_reclaim(refund=refund)
        refund_transition(
            refund=refund,
            action=refund.retry,
            note=texts.SUCCESS_AFTER_FAILURE(),
            set_off=False,
        )
    # The channel paid, whatever a person chose meanwhile (store credit, a transfer not yet made): the money went
    # back on the original path, and a transfer still awaited is not to be made (``channel_succeeded`` leaves it).
    refund.destination = RefundDestination.ORIGINAL
    refund.channel_refund_id = channel_refund_id or refund.channel_refund_id
    refund.refunded_at = refunded_at or timezone.now()
    refund_transition(refund=refund, action=refund.channel_succeeded, note=note or texts.MONEY_RETURNED())
    order_sync_refund_status(
        order=refund.order, refunded_total=refunded_total(order=refund.order), note=refund.refund_no
    )
    order_close_after_timeout_refund(refund=refund)
    return refund


@transaction.atomic(savepoint=False)
def refund_mark_failed(*, refund: Refund, note: Note) -> Refund:
    """The channel refused for good, or retries ran out: a person must look."""
    refund = lock_refund(refund.pk, order_id=refund.order_id)
    if refund.state == RefundState.FAILED:
        return refund
    refund_transition(refund=refund, action=refund.channel_failed, note=note)
    claims_release(refund=refund)
    return refund


@transaction.atomic
def refund_retry(*, refund: Refund, actor: Staff, note: Note = "") -> Refund:
    """A person sends a failed refund to the channel again, with the same request number."""
    refund = lock_refund(refund.pk)
    if not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    if refund.state != RefundState.FAILED:
        raise RefundNotAllowed(state=refund.state)
    claims_reclaim(refund=refund)
    refund.destination = RefundDestination.ORIGINAL  # a transfer finance abandoned goes back on the channel
    refund_transition(refund=refund, action=refund.retry, actor=actor, note=note or texts.SENT_AGAIN())
    return refund
