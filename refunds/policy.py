"""Refund policy: who decides, read from settings. Pure functions of their inputs; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from mall.models import Order
from mall.texts import Text
from refunds import texts
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
    note: Text


def decide(*, order: Order, source: str, reason: str, amount: Decimal, within_staff_cap: bool = False) -> Decision:
    """Whether a new refund is approved at once, and by whom it must be reviewed otherwise."""
    if amount > max_refund_amount():
        return Decision(False, True, texts.ABOVE_CAP())
    if source == RefundSource.CUSTOMER:
        if order.is_delivered():
            return Decision(False, False, texts.DELIVERED_WAITS())
        return Decision(True, False, texts.NO_REVIEW_NEEDED())
    if source == RefundSource.SYSTEM:
        if reason == RefundReason.PRICE_ANOMALY and not settings.PRICE_ANOMALY_AUTO_APPROVE:
            return Decision(False, False, texts.PRICE_ANOMALY_REVIEW())
        return Decision(True, False, texts.STARTED_BY_SYSTEM())
    if within_staff_cap:
        return Decision(True, False, texts.WITHIN_COMPENSATION_CAP())
    return Decision(False, True, texts.ABOVE_COMPENSATION_CAP())


def needs_interception(*, order: Order, reason: str, kind: str) -> bool:
    """Goods on the road are stopped when the customer no longer wants them or is sending them back."""
    if not order.is_in_transit():
        return False
    return reason in (RefundReason.NOT_SHIPPED, RefundReason.NOT_RECEIVED) or kind == RefundKind.RETURN_AND_REFUND
