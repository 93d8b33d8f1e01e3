"""Refund policy: who decides, read from settings. Pure functions of their inputs; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from mall.models import Order
from refunds.models import RefundKind, RefundReason, RefundSource


def max_refund_amount() -> Decimal:
    return Decimal(settings.REFUND_MAX_AMOUNT)


def compensation_cap() -> Decimal:
    return Decimal(settings.REFUND_COMPENSATION_CAP)


def review_due_at(created: datetime) -> datetime:
    return created + timedelta(hours=settings.REFUND_AUTO_APPROVE_HOURS)


def after_sale_deadline(order: Order) -> datetime | None:
    shipment = getattr(order, "shipment", None)
    if shipment is None or shipment.delivered_at is None:
        return None
    delivered: datetime = shipment.delivered_at
    return delivered + timedelta(days=settings.REFUND_AFTER_SALE_DAYS)


@dataclass(frozen=True)
class Decision:
    auto_approve: bool
    requires_supervisor: bool
    note: Promise | str


def decide(*, order: Order, source: str, reason: str, amount: Decimal, within_staff_cap: bool = False) -> Decision:
    """Whether a new refund is approved at once, and by whom it must be reviewed otherwise."""
    if amount > max_refund_amount():
        return Decision(False, True, _("above the single-refund cap: a supervisor decides"))
    if source == RefundSource.CUSTOMER:
        if order.is_delivered():
            return Decision(False, False, _("delivered order: waiting for customer service"))
        return Decision(True, False, _("not yet delivered: no review needed"))
    if source == RefundSource.SYSTEM:
        if reason == RefundReason.PRICE_ANOMALY and not settings.PRICE_ANOMALY_AUTO_APPROVE:
            return Decision(False, False, _("price anomaly: waiting for review"))
        return Decision(True, False, _("started by the system"))
    if within_staff_cap:
        return Decision(True, False, _("within the compensation cap"))
    return Decision(False, True, _("above the compensation cap: a supervisor decides"))


def needs_interception(*, order: Order, reason: str, kind: str) -> bool:
    """Goods on the road are stopped when the customer no longer wants them or is sending them back."""
    if not order.is_in_transit():
        return False
    return reason in (RefundReason.NOT_SHIPPED, RefundReason.NOT_RECEIVED) or kind == RefundKind.RETURN_AND_REFUND
