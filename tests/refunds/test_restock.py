"""Goods that never left come back to stock when their refund completes: once, and only what was taken."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mall.models import Stock, StockMovement
from mall.services import StockChange, stock_adjust_many, stock_allocate
from refunds import flow, services
from refunds.restock import RESTOCK_REASON, refund_restock_unshipped, restock_unshipped
from refunds.services import ItemRequest
from tests.factories import ProductFactory, make_order
from tests.payments.test_execute_statements import _shape

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


def _whole_order_refunded(customer: Any, order: Any) -> Any:
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=line.pk, quantity=line.quantity) for line in order.items.order_by("pk")],
    )
    return flow.refund_mark_refunded(refund=refund, channel_refund_id="X")


def test_a_restock_costs_four_statements_however_many_lines(customer: Any) -> None:
    apples, pears = ProductFactory(stock=Decimal("10")), ProductFactory(stock=Decimal("10"))
    order = make_order(customer, lines=[(apples, "2"), (pears, "3"), (apples, "1")], status="paid")
    stock_allocate(order=order)
    refund = _whole_order_refunded(customer, order)
    refund = type(refund).objects.select_related("order__shipment").get(pk=refund.pk)
    lines = list(order.items.order_by("pk").values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as queries:
        assert restock_unshipped(refund) == {
            lines[0]: Decimal("2.000"),
            lines[1]: Decimal("3.000"),
            lines[2]: Decimal("1.000"),
        }

    assert [_shape(query["sql"]) for query in queries.captured_queries] == [
        "SAVEPOINT",  # the test's transaction stands in for the job's own
        "SELECT refunds_refunditem",  # every refund line of the order, with its refund's number and state
        "SELECT mall_stockmovement",  # their allocations and returns, by exact references
        "SAVEPOINT",  # a repeated reference rolls back only the insert
        "INSERT mall_stockmovement",  # the three returns
        "RELEASE",
        "UPDATE mall_stock",  # both products' rows, in product order
        "RELEASE",
    ]
    assert (_stock(apples), _stock(pears)) == (Decimal("10"), Decimal("10"))


def test_stock_changes_apply_all_or_none_once_per_reference(customer: Any) -> None:
    apples, pears = ProductFactory(stock=Decimal("5")), ProductFactory(stock=Decimal("5"))
    first = [
        StockChange(product_id=apples.pk, delta=Decimal("1"), reference="test:a1"),
        StockChange(product_id=apples.pk, delta=Decimal("2"), reference="test:a2"),
        StockChange(product_id=pears.pk, delta=Decimal("-1.5"), reference="test:p1"),
    ]
    assert stock_adjust_many(changes=first, reason="test") is True
    assert (_stock(apples), _stock(pears)) == (Decimal("8"), Decimal("3.5"))

    # One reference applied before: nothing of the batch is applied.
    again = [
        StockChange(product_id=pears.pk, delta=Decimal("4"), reference="test:p2"),
        StockChange(product_id=apples.pk, delta=Decimal("1"), reference="test:a2"),
    ]
    assert stock_adjust_many(changes=again, reason="test") is False
    assert (_stock(apples), _stock(pears)) == (Decimal("8"), Decimal("3.5"))
    assert StockMovement.objects.filter(reference="test:p2").count() == 0


def test_a_product_without_a_stock_row_gets_one(customer: Any) -> None:
    counted, uncounted = ProductFactory(stock=Decimal("1")), ProductFactory()
    Stock.objects.filter(product=uncounted).delete()

    assert stock_adjust_many(
        changes=[
            StockChange(product_id=uncounted.pk, delta=Decimal("2"), reference="test:u"),
            StockChange(product_id=counted.pk, delta=Decimal("1"), reference="test:c"),
        ],
        reason="test",
    )

    assert (_stock(uncounted), _stock(counted)) == (Decimal("2"), Decimal("2"))
