"""The customer-service console, composed from its parts in ``refunds/console/`` and registered with the admin site:
the refunds, the disputes and the preset rejection reasons supervisors keep.

Nobody edits a refund row here. Every change is a button or a bulk action that posts to a view which checks
the user's permission and the refund's state and calls a service (``refunds.services`` / ``refunds.flow``),
so the rules, the row locks and the timeline are the same as everywhere else.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from refunds.console.actions import RefundActionsAdmin, allowed_acts, approve_blocker
from refunds.console.compensation import RefundCompensationAdmin
from refunds.console.disputes import DisputeAdmin
from refunds.console.queue import COUNT_CAP, CappedCountPaginator, RefundQueueAdmin
from refunds.console.refund_page import RefundPageAdmin
from refunds.console.rejection_reasons import RejectionReasonAdmin
from refunds.models import Dispute, Refund
from refunds.rejections import RejectionReason


@admin.register(Refund)
class RefundAdmin(RefundPageAdmin, RefundActionsAdmin, RefundCompensationAdmin, RefundQueueAdmin):
    """The queue, the refund page with its buttons, and compensation refunds: one admin, one URL space."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.register(Dispute, DisputeAdmin)
admin.site.register(RejectionReason, RejectionReasonAdmin)

__all__ = ["COUNT_CAP", "CappedCountPaginator", "DisputeAdmin", "RefundAdmin", "allowed_acts", "approve_blocker"]
