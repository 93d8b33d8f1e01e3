"""Notes on a refund's timeline written by customer service: shown to the customer, or internal."""

from __future__ import annotations

from django.utils.translation import gettext as _

from mall.actors import Staff
from refunds.exceptions import InvalidRefundRequest, ReviewForbidden
from refunds.models import Refund, RefundEvent
from refunds.services import refund_record_event


def refund_note_add(*, refund: Refund, actor: Staff, note: str, internal: bool = True) -> RefundEvent:
    if not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden(_("You may not add notes to refunds."))
    note = (note or "").strip()
    if not note:
        raise InvalidRefundRequest(_("The note is empty."), field="note")
    if len(note) > 500:
        raise InvalidRefundRequest(_("At most %(limit)d characters.") % {"limit": 500}, field="note")
    return refund_record_event(refund=refund, from_state=refund.state, actor=actor, note=note, internal=internal)
