"""Errors of reconciliation, in the shop's one business-error hierarchy."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.exceptions import BusinessError, Conflict


class ReconciliationError(BusinessError):
    code = "reconciliation_error"


class RunExists(ReconciliationError, Conflict):
    code = "reconciliation_run_exists"
    default_message = _("This day was already reconciled for this channel; run it again with force to replace it.")


class RunInProgress(ReconciliationError, Conflict):
    code = "reconciliation_run_in_progress"
    default_message = _("A run of this channel and day is in progress.")


class RunSuperseded(ReconciliationError, Conflict):
    code = "reconciliation_run_superseded"
    default_message = _("This run stopped moving and another run of the same day took its place.")


class DayInFuture(ReconciliationError):
    code = "reconciliation_day_in_future"
    default_message = _("A business day that has not begun cannot be reconciled.")


class UnknownChannel(ReconciliationError):
    code = "reconciliation_unknown_channel"
    default_message = _("Unknown channel.")


class NoteRequired(ReconciliationError):
    code = "resolution_note_required"
    default_message = _("Say how the discrepancy was resolved.")


class AlreadyResolved(ReconciliationError, Conflict):
    code = "discrepancy_already_resolved"
    default_message = _("This discrepancy is already resolved.")


class NotAllowed(ReconciliationError):
    code = "permission_denied"
    http_status = 403
    default_message = _("You may not do this.")
