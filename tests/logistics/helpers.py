"""Builders for the logistics tests: orders shipped through the real services, refunds through the real API
or services, and the carrier's notifications handed to the app as received."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.test import Client

from logistics import services as logistics_services
from mall import services as mall_services
from mall.models import Order, OrderItem, Product, SaleUnit, Stock
from refunds import flow, services
from refunds.models import Refund
from refunds.services import ItemRequest
from tests.carrier_simulator import CarrierInbox
from tests.factories import ProductFactory


def fruit(price: str = "30.00", *, unit: str = SaleUnit.PIECE, shelf_life_days: int = 7, stock: str = "100") -> Product:
    return ProductFactory(price=Decimal(price), unit=unit, shelf_life_days=shelf_life_days, stock=Decimal(stock))


def shipped_order(
    customer: Any, product: Product, quantity: str, *, shipped_at: datetime | None = None, delivered: bool = False
) -> Order:
    order = mall_services.order_create(
        customer=customer, lines=[mall_services.OrderLine(product.sku, Decimal(quantity))]
    )
    order = mall_services.order_pay(order=order, channel="alipay", trade_no=f"T{order.pk:020d}")
    order = mall_services.order_ship(order=order, carrier="SF", tracking_no=f"SF{order.pk:010d}", shipped_at=shipped_at)
    if delivered:
        order = mall_services.order_deliver(order=order)
    return order


def apply(customer: Any, order: Order, reason: str, kind: str, quantity: str | None = None) -> Refund:
    item = order.items.get()
    refund, created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=reason,
        kind=kind,
        items=[ItemRequest(order_item_id=item.pk, quantity=Decimal(quantity) if quantity else item.quantity)],
    )
    assert created
    return refund


def received_return(customer: Any, agent: Any, *lines: tuple[Any, str], description: str = "烂了两个") -> Refund:
    """A return-and-refund quality claim on all of a delivered order's lines, approved, sent back and received by
    the warehouse: its inspection is open."""
    order = mall_services.order_create(
        customer=customer, lines=[mall_services.OrderLine(product.sku, Decimal(q)) for product, q in lines]
    )
    order = mall_services.order_pay(order=order, channel="alipay", trade_no=f"T{order.pk:020d}")
    order = mall_services.order_ship(order=order, carrier="SF", tracking_no=f"SF{order.pk:010d}")
    order = mall_services.order_deliver(order=order)
    refund, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind="return_and_refund",
        items=services.full_order_items(order),
        description=description,
    )
    refund = services.refund_approve(refund=refund, actor=agent)
    refund = flow.refund_return_submit(refund=refund, actor=customer, carrier="SF", tracking_no="SF900001")
    return logistics_services.return_receive(refund=refund, actor=agent)


def stock_of(product: Product) -> Decimal:
    return Stock.objects.get(product=product).quantity


def claims(order: Order) -> tuple[Decimal, Decimal]:
    item = OrderItem.objects.get(order=order)
    return item.refund_claimed_quantity, item.refund_claimed_amount


def relay_all(inbox: CarrierInbox, count: int) -> list[Any]:
    """Wait for ``count`` new carrier notifications and hand each to the app; returns the app's answers."""
    client = Client()
    items = inbox.wait_for(count)
    inbox.clear()
    return [CarrierInbox.relay(item, client) for item in items]
