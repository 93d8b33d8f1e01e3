"""Errors of the money kept or paid by the shop itself (store credit, bank transfers). The API's exception handler
maps each to its HTTP status with ``code``; the console shows its message."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.exceptions import BusinessError, Conflict


class PaymentError(BusinessError):
    code = "payment_error"


class StoreCreditError(PaymentError):
    """A change the balance does not allow: 400 naming the field."""

    code = "store_credit_invalid"
    default_message = _("The store credit cannot be changed this way.")


class TransferInvalid(PaymentError):
    """A transfer record with something missing or unacceptable: 400 naming the field."""

    code = "transfer_invalid"
    default_message = _("The transfer record is incomplete.")


class TransferForbidden(PaymentError):
    code = "transfer_forbidden"
    http_status = 403
    default_message = _("You may not confirm this transfer.")


class TransferNotAllowed(PaymentError, Conflict):
    code = "transfer_not_allowed"
    default_message = _("This refund is not waiting for a bank transfer.")
