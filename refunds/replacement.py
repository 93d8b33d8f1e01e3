"""A replacement's (补发) state changes after approval: shipped, or turned into a money refund when it cannot be
shipped.

An approved replacement enters ``replacing``; what that sets off (stock allocation, the carrier's shipment) is
registered by ``logistics``, which calls back here with the outcome. A replacement holds its claims on the order
lines while it is live, as a refund does (so the same goods are not refunded meanwhile), and gives them back once
the goods are shipped again: no money moved, and the order's refundable amounts are what they were. One that
cannot be shipped becomes a refund on the original path, keeping its claims for the money.
"""

from __future__ import annotations

from django.db import transaction

from mall.texts import Note
from refunds import texts
from refunds.claims import claims_release
from refunds.exceptions import RefundNotAllowed
from refunds.lifecycle import lock_refund, refund_transition
from refunds.models import Refund, RefundKind, RefundState


@transaction.atomic
def refund_replacement_shipped(*, refund: Refund, carrier: str, tracking_no: str) -> Refund:
    """The carrier picked the replacement up. Idempotent: a replacement already shipped changes nothing."""
    refund = lock_refund(refund.pk)
    if refund.state == RefundState.REPLACED:
        return refund
    if refund.state != RefundState.REPLACING:
        raise RefundNotAllowed(state=refund.state)
    refund_transition(
        refund=refund,
        action=refund.replacement_shipped,
        note=texts.REPLACEMENT_SHIPPED(carrier=carrier, tracking_no=tracking_no),
    )
    claims_release(refund=refund)
    return refund


@transaction.atomic
def refund_replacement_unavailable(*, refund: Refund, note: Note) -> Refund:
    """The replacement cannot be shipped (not enough stock, or the carrier refused): the money goes back on the
    original path instead. The refund keeps its claims, which now stand for money."""
    refund = lock_refund(refund.pk)
    if refund.state != RefundState.REPLACING:
        raise RefundNotAllowed(state=refund.state)
    refund.kind = RefundKind.REFUND_ONLY
    refund_transition(refund=refund, action=refund.replacement_unavailable, note=note)
    return refund


__all__ = ["refund_replacement_shipped", "refund_replacement_unavailable"]
