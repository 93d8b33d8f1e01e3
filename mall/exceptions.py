"""The base of every business error. Each app derives its own hierarchy from it; one DRF handler
(``mall.api_common.exception_handler``) turns them into 400/404/409 answers with a machine-readable code."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class BusinessError(Exception):
    code = "business_error"
    http_status = 400
    default_message: Any = _("The request cannot be carried out.")

    def __init__(self, message: Any = None, *, field: str | None = None, **params: Any) -> None:
        self.message = message if message is not None else self.default_message
        self.field = field
        self.params = params
        super().__init__(str(self.message))


class Conflict(BusinessError):
    """The request was valid but the current state no longer allows it."""

    code = "conflict"
    http_status = 409


class OrderError(BusinessError):
    code = "order_error"


class OrderTransitionNotAllowed(OrderError, Conflict):
    code = "order_transition_not_allowed"
    default_message = _("The order's current status does not allow this.")
