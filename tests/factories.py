"""Factories for the shop's domain. Orders are built through the real services, so their status history
is what production would have."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from mall import services
from mall.models import Channel, Order, Product, SaleUnit, Stock
from mall.roles import roles_bootstrap
from refunds.models import Refund

_trade_numbers = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"customer{n}")
    password = factory.django.Password("pass-w0rd-for-tests")


def staff_user(role: str, username: str) -> Any:
    """A member of staff in the group of ``role`` (the roles are set up first)."""
    roles_bootstrap()
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return type(user).objects.get(pk=user.pk)  # fresh: no cached permissions


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Fruit {n}")
    unit = SaleUnit.PIECE
    price = Decimal("20.00")

    @factory.post_generation
    def stock(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            Stock.objects.get_or_create(product=self, defaults={"quantity": extracted or Decimal("100")})


def make_order(
    customer: Any,
    *,
    lines: list[tuple[Product, str]] | None = None,
    shipping_fee: str = "0.00",
    status: str = "paid",
    channel: str = Channel.ALIPAY,
    paid_at: datetime | None = None,
) -> Order:
    """An order brought to ``status`` through the services: pending_payment, paid, shipped, delivered, completed."""
    if lines is None:
        lines = [(ProductFactory(price=Decimal("30.00")), "2"), (ProductFactory(price=Decimal("12.50")), "1")]
    order = services.order_create(
        customer=customer,
        lines=[services.OrderLine(product.sku, Decimal(quantity)) for product, quantity in lines],
        shipping_fee=Decimal(shipping_fee),
    )
    if status == "pending_payment":
        return order
    order = services.order_pay(order=order, channel=channel, trade_no=f"T{next(_trade_numbers):020d}", paid_at=paid_at)
    if status == "paid":
        return order
    order = services.order_ship(order=order, carrier="SF", tracking_no=f"SF{order.pk:010d}")
    if status == "shipped":
        return order
    order = services.order_deliver(order=order)
    if status == "delivered":
        return order
    order = services.order_complete(order=order)
    assert status == "completed", status
    return order


def reload(refund: Refund) -> Refund:
    return Refund.objects.get(pk=refund.pk)
