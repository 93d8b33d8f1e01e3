"""Goods that never left come back to stock when their refund completes: once, and only what was taken."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mall.models import Stock, StockMovement
from mall.services import stock_allocate
from refunds import flow, services
from refunds.restock import RESTOCK_REASON, refund_restock_unshipped
from refunds.services import ItemRequest
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def _stock(product: Any) -> Decimal:
    return Stock.objects.get(product=product).quantity


def _refund(customer: Any, order: Any, quantity: str) -> Any:
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped" if order.is_not_shipped() else "not_received",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal(quantity))],
    )
    return refund


def test_refunded_unshipped_goods_are_restocked_once(customer: Any) -> None:
    product = ProductFactory(stock=Decimal("10"))
    order = make_order(customer, lines=[(product, "4")], status="paid")
    stock_allocate(order=order)
    assert _stock(product) == Decimal("6")
    refund = _refund(customer, order, "3")
    flow.refund_mark_refunded(refund=refund, channel_refund_id="X")
    assert refund_restock_unshipped(refund.pk) == {order.items.get().pk: Decimal("3.000")}
    assert refund_restock_unshipped(refund.pk) == {}
    assert _stock(product) == Decimal("9")


def test_nothing_is_restocked_that_was_never_allocated_or_not_yet_refunded(customer: Any) -> None:
    product = ProductFactory(stock=Decimal("10"))
    order = make_order(customer, lines=[(product, "4")], status="paid")
    refund = _refund(customer, order, "4")
    assert refund_restock_unshipped(refund.pk) == {}  # still refunding
    flow.refund_mark_refunded(refund=refund, channel_refund_id="X")
    assert refund_restock_unshipped(refund.pk) == {}  # nothing was allocated
    assert _stock(product) == Decimal("10")


def test_out_of_stock_part_is_never_restocked_and_later_refunds_return_what_was_taken(customer: Any) -> None:
    product = ProductFactory(stock=Decimal("2"))
    order = make_order(customer, lines=[(product, "5")], status="paid")
    stock_allocate(order=order)  # 2 of 5 taken; the 3 missing are refunded as out of stock by the sweep
    assert _stock(product) == Decimal("0")
    missing = _refund(customer, order, "3")
    flow.refund_mark_refunded(refund=missing, channel_refund_id="X")
    assert refund_restock_unshipped(missing.pk) == {}  # those 3 were never taken
    assert _stock(product) == Decimal("0")
    rest = _refund(customer, order, "2")
    flow.refund_mark_refunded(refund=rest, channel_refund_id="Y")
    assert refund_restock_unshipped(rest.pk) == {order.items.get().pk: Decimal("2.000")}
    assert refund_restock_unshipped(rest.pk) == {}
    assert _stock(product) == Decimal("2")


def test_each_partial_refund_returns_its_own_share_counting_what_earlier_ones_returned(customer: Any) -> None:
    product = ProductFactory(stock=Decimal("10"))
    order = make_order(customer, lines=[(product, "4")], status="paid")
    stock_allocate(order=order)
    line_id = order.items.get().pk
    first = _refund(customer, order, "1")
    flow.refund_mark_refunded(refund=first, channel_refund_id="X")
    assert refund_restock_unshipped(first.pk) == {line_id: Decimal("1.000")}
    second = _refund(customer, order, "2")
    flow.refund_mark_refunded(refund=second, channel_refund_id="Y")
    assert refund_restock_unshipped(second.pk) == {line_id: Decimal("2.000")}
    assert refund_restock_unshipped(first.pk) == {}
    assert _stock(product) == Decimal("9")
    assert sorted(StockMovement.objects.filter(reason=RESTOCK_REASON).values_list("reference", "delta")) == sorted(
        [
            (f"refund:{first.refund_no}:{line_id}", Decimal("1.000")),
            (f"refund:{second.refund_no}:{line_id}", Decimal("2.000")),
        ]
    )
