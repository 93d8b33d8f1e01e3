"""Reads of the shop's domain that more than one caller needs."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from mall.actors import Customer
from mall.models import PAID_STATUSES, CustomerProfile, Order


def order_list_for_customer(*, customer: Customer) -> QuerySet[Order]:
    return (
        Order.objects.filter(customer=customer)
        .select_related("payment", "shipment")
        .prefetch_related("items")
        .order_by("-created_at", "-id")
    )


def order_refundable_amount(*, order: Order) -> Decimal:
    """What may still be refunded: each line's unclaimed amount, plus the shipping fee while the goods have
    not left (a whole-order refund before shipping returns it too)."""
    if order.status not in PAID_STATUSES:
        return Decimal("0.00")
    items = sum((item.refundable_amount for item in order.items.all()), Decimal("0.00"))
    shipping = order.shipping_fee - order.shipping_fee_refund_claimed if order.is_not_shipped() else Decimal("0.00")
    return items + shipping


def customer_language(*, customer_id: int) -> str:
    """The language a customer's messages are written in: the one they last used, else the shop's."""
    language = CustomerProfile.objects.filter(customer_id=customer_id).values_list("language", flat=True).first()
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
