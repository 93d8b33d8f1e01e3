"""Bulk seeding shared by the benchmarks: the two bench products and paid orders of them, inserted in batches.

Call after ``django.setup()``, inside a transaction. Each order has two lines (3 apples, 2 pears), a shipping fee,
a payment (Alipay and WeChat Pay alternately) and its `paid` order event, as ``mall.services`` would leave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

BATCH = 1000
SHIPPING_FEE = Decimal("6.00")
PRODUCTS = (("BENCH-APPLE", "Bench apple", "6.50"), ("BENCH-PEAR", "Bench pear", "9.80"))


def bench_products() -> list[Any]:
    """The bench products, with stock that never runs out."""
    from mall.models import Product, SaleUnit, Stock

    products = []
    for sku, name, price in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "unit": SaleUnit.PIECE, "price": Decimal(price)}
        )
        Stock.objects.get_or_create(product=product, defaults={"quantity": Decimal("1000000")})
        products.append(product)
    return products


def paid_orders(
    *, customers: Sequence[Any], count: int, order_prefix: str, trade_prefix: str, **order_fields: Any
) -> list[Any]:
    """``count`` paid orders numbered ``order_prefix`` + a 7-digit sequence, spread over ``customers``; extra
    ``order_fields`` values may be callables of the order's sequence number."""
    from django.utils import timezone

    from mall.models import Order, OrderEvent, OrderItem, Payment

    products = bench_products()
    lines = [(products[0], Decimal("3")), (products[1], Decimal("2"))]
    goods = sum(((p.price * q).quantize(Decimal("0.01")) for p, q in lines), Decimal("0.00"))
    Order.objects.bulk_create(
        [
            Order(
                order_no=f"{order_prefix}{n:07d}",
                customer=customers[n % len(customers)],
                status="paid",
                goods_amount=goods,
                shipping_fee=SHIPPING_FEE,
                total_amount=goods + SHIPPING_FEE,
                **{name: value(n) if callable(value) else value for name, value in order_fields.items()},
            )
            for n in range(count)
        ],
        batch_size=BATCH,
    )
    # Read back: not every database returns the new primary keys from a bulk insert.
    orders = list(Order.objects.filter(order_no__startswith=order_prefix).order_by("order_no"))
    now = timezone.now()
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order=order,
                product=product,
                sku=product.sku,
                name=product.name,
                unit=product.unit,
                quantity=quantity,
                unit_price=product.price,
                amount=(product.price * quantity).quantize(Decimal("0.01")),
            )
            for order in orders
            for product, quantity in lines
        ],
        batch_size=BATCH,
    )
    Payment.objects.bulk_create(
        [
            Payment(
                order=order,
                channel="alipay" if n % 2 else "wechat",
                out_trade_no=order.order_no,
                trade_no=f"{trade_prefix}{order.order_no}",
                amount=order.total_amount,
                paid_at=now,
            )
            for n, order in enumerate(orders)
        ],
        batch_size=BATCH,
    )
    OrderEvent.objects.bulk_create(
        [OrderEvent(order=order, from_status="pending_payment", to_status="paid") for order in orders],
        batch_size=BATCH,
    )
    return orders
