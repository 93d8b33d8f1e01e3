"""The demo shop's goods and its customers' orders in every interesting state, paid through both channels.

Every payment is made up here, so the gateway standing in for the channel is told of it (``gateway.trade_register``);
the refund on the partially refunded order goes through that gateway like any refund of the shop.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from mall import services
from mall.actors import Customer
from mall.demo import gateway
from mall.models import Channel, Order, Product, SaleUnit, Stock

PRODUCTS = [
    # sku, name, unit, price, shelf life days
    ("APL-FUJI-5", "烟台红富士苹果 5斤装", SaleUnit.PIECE, "39.90", 30),
    ("STR-DD-500", "丹东草莓 500g", SaleUnit.PIECE, "49.00", 3),
    ("CHR-JL-KG", "智利车厘子 (称重)", SaleUnit.KILOGRAM, "88.00", 7),
    ("DUR-MSW-1", "猫山王榴莲 (整个)", SaleUnit.PIECE, "298.00", 5),
    ("MNG-HN-KG", "海南贵妃芒 (称重)", SaleUnit.KILOGRAM, "16.80", 7),
    ("KIW-XA-12", "陕西猕猴桃 12个装", SaleUnit.PIECE, "45.00", 20),
    ("GFT-LUX-1", "高端水果礼盒", SaleUnit.PIECE, "5888.00", 5),
]
RECEIVER_PHONE = "13800000000"
RECEIVER_ADDRESS = "上海市浦东新区世纪大道100号"


def ensure_products() -> dict[str, Product]:
    products = {}
    for sku, name, unit, price, shelf_life in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "unit": unit, "price": Decimal(price), "shelf_life_days": shelf_life}
        )
        Stock.objects.get_or_create(product=product, defaults={"quantity": Decimal("500")})
        products[sku] = product
    return products


def ensure_return_warehouse() -> None:
    # The demo is a composition root: customers sending goods back need an address to send them to.
    from logistics.models import Warehouse

    if not Warehouse.objects.filter(active=True, is_default=True).exists():
        Warehouse.objects.create(
            name="上海嘉定退货仓",
            contact="王仓管",
            phone="021-60000000",
            address="上海市嘉定区安亭镇墨玉路 888 号 退货组",
            active=True,
            is_default=True,
        )


def _new_trade_no(channel: str) -> str:
    # Alipay trade numbers are 28 digits starting with the date; WeChat transaction ids are 28 digits too.
    return f"{timezone.localtime():%Y%m%d}{secrets.randbelow(10**20):020d}"


def paid_order(customer: Customer, channel: str, lines: list[services.OrderLine], shipping_fee: str = "0.00") -> Order:
    order = services.order_create(
        customer=customer,
        lines=lines,
        shipping_fee=Decimal(shipping_fee),
        receiver_name=customer.first_name or customer.username,
        receiver_phone=RECEIVER_PHONE,
        receiver_address=RECEIVER_ADDRESS,
    )
    order = services.order_pay(order=order, channel=channel, trade_no=_new_trade_no(channel))
    gateway.trade_register(order)
    return order


def delivered_order(
    customer: Customer, channel: str, lines: list[services.OrderLine], *, hours_ago: int = 20, carrier: str = "ZTO"
) -> Order:
    """Paid, shipped two days ago and delivered ``hours_ago``: an order whose refunds customer service reviews."""
    order = paid_order(customer, channel, lines)
    order = services.order_ship(
        order=order,
        carrier=carrier,
        tracking_no=f"{carrier}{secrets.randbelow(10**12):012d}",
        shipped_at=timezone.now() - timedelta(days=2),
    )
    return services.order_deliver(order=order, delivered_at=timezone.now() - timedelta(hours=hours_ago))


OrderRecipe = Callable[[Customer, str], Order]


def _unpaid(customer: Customer, channel: str) -> Order:
    return services.order_create(customer=customer, lines=[services.OrderLine("KIW-XA-12", Decimal("1"))])


def _paid(customer: Customer, channel: str) -> Order:
    return paid_order(
        customer,
        channel,
        [services.OrderLine("APL-FUJI-5", Decimal("2")), services.OrderLine("STR-DD-500", Decimal("1"))],
        shipping_fee="8.00",
    )


def _shipped(customer: Customer, channel: str) -> Order:
    order = paid_order(customer, channel, [services.OrderLine("CHR-JL-KG", Decimal("2.500"))])
    return services.order_ship(order=order, carrier="SF", tracking_no=f"SF{secrets.randbelow(10**12):012d}")


def _delivered(customer: Customer, channel: str) -> Order:
    return delivered_order(
        customer,
        channel,
        [services.OrderLine("MNG-HN-KG", Decimal("5.000")), services.OrderLine("DUR-MSW-1", Decimal("1"))],
    )


def _completed(customer: Customer, channel: str) -> Order:
    order = _delivered(customer, channel)
    return services.order_complete(order=order)


def _large(customer: Customer, channel: str) -> Order:
    return paid_order(customer, channel, [services.OrderLine("GFT-LUX-1", Decimal("1"))])


def _partially_refunded(customer: Customer, channel: str) -> Order:
    # The demo is a composition root: it uses the refund engine the way the shop would.
    from refunds import services as refund_services

    order = _delivered(customer, channel)
    mango = order.items.get(sku="MNG-HN-KG")
    with transaction.atomic():
        refund, _ = refund_services.refund_apply(
            customer=customer,
            order_no=order.order_no,
            reason="quality_issue",
            kind="refund_only",
            items=[refund_services.ItemRequest(order_item_id=mango.pk, quantity=Decimal("1.200"))],
            description="1.2 kg of the mangoes arrived bruised",
        )
        refund = refund_services.refund_auto_approve(refund=refund, rule="demo data")
    gateway.refund_pay_out(refund)
    order.refresh_from_db()
    return order


RECIPES: list[tuple[OrderRecipe, str]] = [
    (_unpaid, Channel.ALIPAY),
    (_paid, Channel.ALIPAY),
    (_paid, Channel.WECHAT),
    (_shipped, Channel.WECHAT),
    (_shipped, Channel.ALIPAY),
    (_delivered, Channel.ALIPAY),
    (_delivered, Channel.WECHAT),
    (_completed, Channel.WECHAT),
    (_large, Channel.ALIPAY),
    (_partially_refunded, Channel.WECHAT),
]


def customer_orders(customer: Customer) -> list[Order]:
    """One order of each recipe, in the recipes' order."""
    return [recipe(customer, channel) for recipe, channel in RECIPES]


def order_json(order: Order) -> dict[str, Any]:
    order = Order.objects.select_related("payment").prefetch_related("items").get(pk=order.pk)
    return {
        "order_no": order.order_no,
        "status": order.status,
        "channel": order.channel,
        "total_amount": f"{order.total_amount:.2f}",
        "items": [
            {"id": item.id, "sku": item.sku, "quantity": str(item.quantity), "unit_price": f"{item.unit_price:.2f}"}
            for item in order.items.all()
        ],
    }
