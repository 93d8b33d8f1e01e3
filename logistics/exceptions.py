"""Logistics errors. The API's exception handler maps each to its HTTP status with ``code``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.exceptions import BusinessError, Conflict


class LogisticsError(BusinessError):
    code = "logistics_error"


class ReturnNotNeeded(LogisticsError, Conflict):
    code = "return_not_needed"
    default_message = _("This refund does not need the goods back.")


class NoReturnAddress(LogisticsError, Conflict):
    code = "no_return_address"
    default_message = _("No return address is available yet; please contact customer service.")


class InspectionNotAllowed(LogisticsError, Conflict):
    code = "inspection_not_allowed"
    default_message = _("The inspection of this refund cannot be changed now.")


class InvalidInspection(LogisticsError):
    code = "invalid"
    default_message = _("Invalid inspection result.")
