"""Out of stock: allocation takes a paid order's goods from stock once per line; what stock cannot cover is
refunded at once (a partial refund of those lines), and the customer is told on the refund's timeline."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from mall import services
from mall.models import Stock, StockMovement
from refunds.models import Refund, RefundEvent, RefundReason, RefundState
from refunds.sweeps import order_stock_allocate, out_of_stock_sweep
from tests.sweeps.conftest import paid_order, product

pytestmark = pytest.mark.django_db


def _stock(item: Any) -> Decimal:
    return Stock.objects.get(product=item).quantity


def test_short_lines_are_refunded_and_the_rest_allocated(customer: Any) -> None:
    apple, pear, plum = product("10.00", stock="5"), product("8.00", stock="1"), product("3.00", stock=None)
    order = paid_order(customer, [(apple, "3"), (pear, "4"), (plum, "2")], shipping_fee="6.00")

    outcome = out_of_stock_sweep()

    assert dict(outcome.counts) == {"refund": 1}
    assert (_stock(apple), _stock(pear)) == (Decimal("2.000"), Decimal("0.000"))
    assert not Stock.objects.filter(product=plum).exists()
    refund = Refund.objects.get()
    assert (refund.reason, refund.source, refund.state) == (RefundReason.OUT_OF_STOCK, "system", RefundState.REFUNDING)
    # 3 pears of 4 and both plums: 24.00 + 6.00; the order still ships (the apple and a pear), so no shipping fee.
    assert (refund.amount, refund.shipping_fee_amount) == (Decimal("30.00"), Decimal("0.00"))
    assert {(i.order_item.product_id, i.quantity) for i in refund.items.select_related("order_item")} == {
        (pear.pk, Decimal("3.000")),
        (plum.pk, Decimal("2.000")),
    }
    told = RefundEvent.objects.filter(refund=refund, internal=False, note_code="out_of_stock").get()
    assert told.note == (
        f"Sorry, we could not supply {pear.name} × 3; {plum.name} × 2: it is out of stock. "
        "Its price is refunded to you."
    )
    with translation.override("zh-hans"):  # the customer reads it in their own language, whoever wrote it
        assert told.note == f"抱歉，{pear.name} × 3；{plum.name} × 2 缺货，无法为您供应，相应货款将退还给您。"
    assert told.from_state == told.to_state == RefundState.REFUNDING
    assert set(StockMovement.objects.filter(reason="allocation").values_list("reference", "delta")) == {
        (services.allocation_reference(order.items.get(product=apple).pk), Decimal("-3.000")),
        (services.allocation_reference(order.items.get(product=pear).pk), Decimal("-1.000")),
        (services.allocation_reference(order.items.get(product=plum).pk), Decimal("0.000")),
    }


def test_running_twice_allocates_and_refunds_once(customer: Any) -> None:
    apple = product("10.00", stock="2")
    paid_order(customer, [(apple, "3")])
    out_of_stock_sweep()
    Stock.objects.filter(product=apple).update(quantity=Decimal("50"))  # restocked meanwhile
    assert dict(out_of_stock_sweep().counts) == {}
    order_stock_allocate(order_id=Refund.objects.get().order_id)
    assert Refund.objects.count() == 1
    assert _stock(apple) == Decimal("50.000")
    assert StockMovement.objects.count() == 1


def test_an_order_stock_covers_gets_no_refund(customer: Any) -> None:
    apple = product("10.00", stock="3")
    paid_order(customer, [(apple, "3")])
    assert dict(out_of_stock_sweep().counts) == {"allocate": 1}
    assert not Refund.objects.exists()
    assert _stock(apple) == Decimal("0.000")


def test_stock_goes_to_the_earlier_order_first(customer: Any, other_customer: Any) -> None:
    apple = product("10.00", stock="4")
    first = paid_order(customer, [(apple, "3")])
    second = paid_order(other_customer, [(apple, "3")])
    out_of_stock_sweep(batch_size=1)
    refund = Refund.objects.get()
    assert refund.order_id == second.pk
    assert refund.items.get().quantity == Decimal("2.000")
    assert not Refund.objects.filter(order=first).exists()


def test_a_wholly_missing_order_is_refunded_with_its_shipping_fee(customer: Any) -> None:
    order = paid_order(customer, [(product("10.00", stock="0"), "2")], shipping_fee="6.00")
    out_of_stock_sweep()
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.shipping_fee_amount) == (Decimal("26.00"), Decimal("6.00"))


def test_shipped_and_unpaid_orders_are_not_allocated(customer: Any) -> None:
    apple = product("10.00", stock="1")
    paid_order(customer, [(apple, "3")], status="shipped")
    services.order_create(customer=customer, lines=[services.OrderLine(apple.sku, Decimal("3"))])
    assert dict(out_of_stock_sweep().counts) == {}
    assert _stock(apple) == Decimal("1.000")


def test_dry_run_sees_stock_run_out_and_changes_nothing(customer: Any, other_customer: Any) -> None:
    apple = product("10.00", stock="4")
    first = paid_order(customer, [(apple, "3")])
    second = paid_order(other_customer, [(apple, "3")])
    before = (Refund.objects.count(), StockMovement.objects.count(), _stock(apple))
    outcome = out_of_stock_sweep(dry_run=True)
    assert outcome.ids == [first.pk, second.pk]
    assert [item.action for item in outcome.planned] == ["allocate", "refund"]
    assert "short 2" in outcome.planned[1].detail
    assert (Refund.objects.count(), StockMovement.objects.count(), _stock(apple)) == before
