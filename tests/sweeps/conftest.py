"""Helpers for the sweep tests: a fixed clock, orders paid at a known time, refunds waiting for review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import translation

from mall import services
from mall.models import Order, Product, Stock
from mall.shoptime import SHOP_TZ
from refunds import services as refund_services
from refunds.models import Refund, RefundEvidence
from refunds.services import ItemRequest
from tests.factories import ProductFactory

# A Tuesday, 10:00 in Shanghai (02:00 UTC).
T0 = datetime(2026, 3, 10, 10, 0, tzinfo=SHOP_TZ)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Notes and escalation reasons are written in the language active when the sweep runs; assert on English.
    with translation.override("en"):
        yield


@pytest.fixture
def clock() -> Iterator[Any]:
    """The controlled clock, stopped at T0; ``clock.move_to(t)`` jumps."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def product(price: str = "20.00", stock: str | None = "100") -> Product:
    item = ProductFactory(price=Decimal(price))
    if stock is not None:
        Stock.objects.filter(product=item).update(quantity=Decimal(stock))
    else:
        Stock.objects.filter(product=item).delete()
    return item


def paid_order(
    customer: Any,
    lines: list[tuple[Product, str] | tuple[Product, str, str]],
    *,
    shipping_fee: str = "0.00",
    status: str = "paid",
) -> Order:
    """An order paid now (the clock's now), lines as (product, quantity[, unit price paid]); shipped or
    delivered too when ``status`` says so."""
    order = services.order_create(
        customer=customer,
        lines=[
            services.OrderLine(line[0].sku, Decimal(line[1]), Decimal(line[2]) if len(line) == 3 else None)
            for line in lines
        ],
        shipping_fee=Decimal(shipping_fee),
    )
    order = services.order_pay(order=order, channel="alipay", trade_no=f"T{order.order_no}")
    if status in ("shipped", "delivered"):
        order = services.order_ship(order=order, carrier="SF", tracking_no=f"SF{order.pk:010d}")
    if status == "delivered":
        order = services.order_deliver(order=order)
    return Order.objects.get(pk=order.pk)


def quality_claim(
    customer: Any, order: Order, quantity: str = "1", *, kind: str = "refund_only", photo: bool = True
) -> Refund:
    """A customer's quality claim on a delivered order, with a photo unless ``photo`` is false: it waits for
    review until ``due_at``."""
    refund, created = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind=kind,
        items=[ItemRequest(order_item_id=order.items.first().pk, quantity=Decimal(quantity))],  # type: ignore[union-attr]
    )
    assert created
    if photo:
        with_photo(refund)
    return refund


def with_photo(refund: Refund) -> RefundEvidence:
    """The record of a photo the customer uploaded (the sweeps read only that there is one)."""
    return RefundEvidence.objects.create(
        refund=refund,
        file=f"refunds/evidence/{refund.refund_no}/photo.png",
        content_type="image/png",
        size=100,
        sha256="0" * 64,
        uploaded_by=refund.customer,
    )
