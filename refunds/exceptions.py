"""Refund errors. The API's exception handler maps each to its HTTP status with ``code``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.exceptions import BusinessError, Conflict


class RefundError(BusinessError):
    code = "refund_error"


class InvalidRefundRequest(RefundError):
    """Malformed or impossible input: 400 naming the field."""

    code = "invalid"
    default_message = _("Invalid refund request.")


class OrderNotFound(RefundError):
    code = "order_not_found"
    http_status = 404
    default_message = _("No such order.")


class RefundNotAllowed(RefundError, Conflict):
    """The order's or refund's current state does not allow this."""

    code = "refund_not_allowed"
    default_message = _("This refund cannot be carried out in the current state.")


class AmountExceeded(RefundError, Conflict):
    code = "amount_exceeded"
    default_message = _("The amount exceeds what is still refundable.")


class RefundBusy(RefundError, Conflict):
    code = "refund_busy"
    default_message = _("Another refund of this order is being processed; please try again.")


class IdempotencyConflict(RefundError, Conflict):
    code = "idempotency_key_reused"
    default_message = _("This Idempotency-Key was already used with a different request.")


class ReviewForbidden(RefundError):
    code = "review_forbidden"
    http_status = 403
    default_message = _("You may not make this decision.")


class EvidenceRejected(InvalidRefundRequest):
    code = "invalid_evidence"
    default_message = _("The file is not an acceptable photo.")


class DisputeNotAllowed(RefundError, Conflict):
    code = "dispute_not_allowed"
    default_message = _("This decision cannot be disputed.")
