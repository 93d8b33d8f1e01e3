"""Demo data: a usable shop with customers, staff in each role, and orders in every interesting state.

Each run adds a fresh set (usernames carry a run suffix), so running it twice never fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from mall import services
from mall.actors import Customer
from mall.models import Channel, Order, Product, SaleUnit, Stock
from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, OPERATIONS, roles_bootstrap

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


@dataclass
class DemoSet:
    customers: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)


def _ensure_products() -> dict[str, Product]:
    products = {}
    for sku, name, unit, price, shelf_life in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "unit": unit, "price": Decimal(price), "shelf_life_days": shelf_life}
        )
        Stock.objects.get_or_create(product=product, defaults={"quantity": Decimal("500")})
        products[sku] = product
    return products


def _ensure_return_warehouse() -> None:
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


def _password() -> str:
    return secrets.token_urlsafe(12)


def _new_trade_no(channel: str) -> str:
    # Alipay trade numbers are 28 digits starting with the date; WeChat transaction ids are 28 digits too.
    return f"{timezone.localtime():%Y%m%d}{secrets.randbelow(10**20):020d}"


def _paid_order(customer: Customer, channel: str, lines: list[services.OrderLine], shipping_fee: str = "0.00") -> Order:
    order = services.order_create(
        customer=customer,
        lines=lines,
        shipping_fee=Decimal(shipping_fee),
        receiver_name=customer.first_name or customer.username,
        receiver_phone="13800000000",
        receiver_address="上海市浦东新区世纪大道100号",
    )
    order = services.order_pay(order=order, channel=channel, trade_no=_new_trade_no(channel))
    _tell_the_gateway(order)
    return order


def _tell_the_gateway(order: Order) -> None:
    """A gateway knows every payment it took, and these were made up here: when the channel's gateway is the
    simulator (the table in settings gives it the demo keys), it is told of them. A simulator not running yet
    (``make run`` seeds first) finds them in the ledger file it starts from."""
    # The demo is a composition root: it feeds the simulator standing in for the channels.
    from payments.channels.registry import notify_url
    from payments.simulator.client import register_trade

    channel = order.channel
    if not channel or not settings.PAYMENT_CHANNELS.get(channel, {}).get("OPTIONS", {}).get("demo_keys"):
        return
    payment = order.payment
    register_trade(
        channel=channel,
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        notify_url=notify_url(channel),
        paid_at=payment.paid_at,
        state_path=settings.CHANNEL_SIMULATOR_STATE_FILE,
    )


OrderRecipe = Callable[[Customer, str], Order]


def _unpaid(customer: Customer, channel: str) -> Order:
    return services.order_create(customer=customer, lines=[services.OrderLine("KIW-XA-12", Decimal("1"))])


def _paid(customer: Customer, channel: str) -> Order:
    return _paid_order(
        customer,
        channel,
        [services.OrderLine("APL-FUJI-5", Decimal("2")), services.OrderLine("STR-DD-500", Decimal("1"))],
        shipping_fee="8.00",
    )


def _shipped(customer: Customer, channel: str) -> Order:
    order = _paid_order(customer, channel, [services.OrderLine("CHR-JL-KG", Decimal("2.500"))])
    return services.order_ship(order=order, carrier="SF", tracking_no=f"SF{secrets.randbelow(10**12):012d}")


def _delivered(customer: Customer, channel: str) -> Order:
    order = _paid_order(
        customer,
        channel,
        [services.OrderLine("MNG-HN-KG", Decimal("5.000")), services.OrderLine("DUR-MSW-1", Decimal("1"))],
    )
    order = services.order_ship(
        order=order,
        carrier="ZTO",
        tracking_no=f"ZTO{secrets.randbelow(10**12):012d}",
        shipped_at=timezone.now() - timedelta(days=2),
    )
    return services.order_deliver(order=order, delivered_at=timezone.now() - timedelta(hours=20))


def _completed(customer: Customer, channel: str) -> Order:
    order = _delivered(customer, channel)
    return services.order_complete(order=order)


def _large(customer: Customer, channel: str) -> Order:
    return _paid_order(customer, channel, [services.OrderLine("GFT-LUX-1", Decimal("1"))])


def _partially_refunded(customer: Customer, channel: str) -> Order:
    # The demo is a composition root: it uses the refund engine the way the shop would.
    from refunds import flow
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
        flow.refund_mark_refunded(refund=refund, channel_refund_id=f"DEMO{refund.pk:08d}")
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


def _order_json(order: Order) -> dict[str, Any]:
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


def demo_seed(*, customers: int = 3) -> DemoSet:
    roles_bootstrap()
    _ensure_products()
    _ensure_return_warehouse()
    user_model = get_user_model()
    run = secrets.token_hex(3)
    result = DemoSet()
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    for index in range(customers):
        password = _password()
        with transaction.atomic():
            user = user_model.objects.create_user(
                username=f"{names[index % len(names)]}_{run}", password=password, first_name=names[index % len(names)]
            )
            token = Token.objects.create(user=user)
        orders = [recipe(user, channel) for recipe, channel in RECIPES]
        result.customers.append(
            {
                "username": user.username,
                "password": password,
                "token": token.key,
                "orders": [_order_json(order) for order in orders],
            }
        )
    for role, label in (
        (CUSTOMER_SERVICE, "agent"),
        (CS_SUPERVISOR, "supervisor"),
        (FINANCE, "finance"),
        (OPERATIONS, "operator"),
    ):
        password = _password()
        with transaction.atomic():
            staff = user_model.objects.create_user(username=f"{label}_{run}", password=password, is_staff=True)
            staff.groups.add(Group.objects.get(name=role))
        result.staff.append({"username": staff.username, "password": password, "groups": [role]})
    return result
