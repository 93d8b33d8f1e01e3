"""Shipping timeout: a paid order not shipped within SHIPPING_TIMEOUT_HOURS is refunded in full, once, by the
system, and closed when the money is back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from mall.models import Order, OrderEvent, OrderStatus
from refunds import flow
from refunds import services as refund_services
from refunds.models import Refund, RefundEvent, RefundReason, RefundSource, RefundState
from refunds.services import ItemRequest
from refunds.sweeps import order_close_after_timeout_refund, order_refund_shipping_timeout, shipping_timeout_sweep
from tests.sweeps.conftest import T0, paid_order, product

pytestmark = pytest.mark.django_db
HOURS = 48


def test_fires_exactly_at_the_boundary_and_not_before(customer: Any, clock: Any, settings: Any) -> None:
    settings.SHIPPING_TIMEOUT_HOURS = HOURS
    order = paid_order(customer, [(product("30.00"), "2"), (product("12.50"), "1")], shipping_fee="8.00")

    clock.move_to(T0 + timedelta(hours=HOURS) - timedelta(seconds=1))
    outcome = shipping_timeout_sweep()
    assert dict(outcome.counts) == {}
    assert not Refund.objects.exists()

    clock.move_to(T0 + timedelta(hours=HOURS))
    outcome = shipping_timeout_sweep()
    assert dict(outcome.counts) == {"refund": 1}
    refund = Refund.objects.get()
    assert (refund.order_id, refund.reason, refund.source) == (order.pk, RefundReason.SHIPPING_TIMEOUT, "system")
    # Everything, shipping fee included, approved by the system and on its way to the channel.
    assert (refund.amount, refund.shipping_fee_amount) == (Decimal("80.50"), Decimal("8.00"))
    assert refund.state == RefundState.REFUNDING
    assert list(refund.items.values_list("quantity", flat=True)) == [Decimal("2.000"), Decimal("1.000")]


def test_running_twice_makes_one_refund(customer: Any, clock: Any) -> None:
    paid_order(customer, [(product(), "1")])
    clock.move_to(T0 + timedelta(hours=HOURS, minutes=5))
    assert dict(shipping_timeout_sweep().counts) == {"refund": 1}
    events = RefundEvent.objects.count()
    assert dict(shipping_timeout_sweep().counts) == {}
    assert Refund.objects.count() == 1
    assert RefundEvent.objects.count() == events


def test_shipped_orders_and_unpaid_orders_are_left_alone(customer: Any, clock: Any) -> None:
    paid_order(customer, [(product(), "1")], status="shipped")
    paid_order(customer, [(product(), "1")], status="delivered")
    clock.move_to(T0 + timedelta(days=10))
    assert dict(shipping_timeout_sweep().counts) == {}
    assert not Refund.objects.exists()


def test_refunds_what_a_customer_refund_left(customer: Any, clock: Any) -> None:
    apple, pear = product("10.00"), product("5.00")
    order = paid_order(customer, [(apple, "3"), (pear, "2")], shipping_fee="6.00")
    apple_line = order.items.get(product=apple)
    refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=apple_line.pk, quantity=Decimal("1"))],
    )
    clock.move_to(T0 + timedelta(hours=HOURS))
    shipping_timeout_sweep()
    timeout = Refund.objects.get(reason=RefundReason.SHIPPING_TIMEOUT)
    assert timeout.amount == Decimal("36.00")  # 2 apples, 2 pears and the shipping fee
    assert {(i.order_item.product_id, i.quantity) for i in timeout.items.all()} == {
        (apple.pk, Decimal("2.000")),
        (pear.pk, Decimal("2.000")),
    }


def test_a_failed_timeout_refund_is_not_repeated(customer: Any, clock: Any) -> None:
    paid_order(customer, [(product(), "1")])
    clock.move_to(T0 + timedelta(hours=HOURS))
    shipping_timeout_sweep()
    flow.refund_mark_failed(refund=Refund.objects.get(), note="channel refused")
    assert dict(shipping_timeout_sweep().counts) == {}
    assert Refund.objects.count() == 1


def test_order_is_closed_once_refunded(customer: Any, clock: Any) -> None:
    order = paid_order(customer, [(product(), "1")], shipping_fee="5.00")
    clock.move_to(T0 + timedelta(hours=HOURS))
    shipping_timeout_sweep()
    refund = Refund.objects.get()
    flow.refund_mark_refunded(refund=refund, channel_refund_id="CH-1")
    # The flow's hook (order_close_after_timeout_refund) closes it as soon as the money is back.
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CLOSED
    assert list(OrderEvent.objects.filter(order=order).values_list("to_status", flat=True))[-2:] == [
        OrderStatus.REFUNDED,
        OrderStatus.CLOSED,
    ]
    shipping_timeout_sweep()
    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.CLOSED).count() == 1
    assert dict(shipping_timeout_sweep().counts) == {}


def test_the_refunded_hook_closes_the_order_once(customer: Any, clock: Any) -> None:
    order = paid_order(customer, [(product(), "1")])
    clock.move_to(T0 + timedelta(hours=HOURS))
    refund = order_refund_shipping_timeout(order_id=order.pk)
    assert refund is not None
    refund = flow.refund_mark_refunded(refund=refund, channel_refund_id="CH-1")
    order_close_after_timeout_refund(refund=refund)
    order_close_after_timeout_refund(refund=Refund.objects.select_related("order").get(pk=refund.pk))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CLOSED
    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.CLOSED).count() == 1


def test_the_hook_ignores_other_refunds(customer: Any) -> None:
    order = paid_order(customer, [(product(), "1")])
    refund, _ = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=refund_services.full_order_items(order),
    )
    refund = flow.refund_mark_refunded(refund=refund, channel_refund_id="CH-1")
    order_close_after_timeout_refund(refund=refund)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED


def test_killed_half_way_the_next_run_does_the_rest(customer: Any, clock: Any) -> None:
    orders = [paid_order(customer, [(product(), "1")]) for _ in range(5)]
    clock.move_to(T0 + timedelta(hours=HOURS))
    # A run that died after committing its first two orders, each in its own transaction:
    for order in orders[:2]:
        order_refund_shipping_timeout(order_id=order.pk)
    outcome = shipping_timeout_sweep(batch_size=2)
    assert dict(outcome.counts) == {"refund": 3}
    assert sorted(Refund.objects.values_list("order_id", flat=True)) == sorted(o.pk for o in orders)


def test_dry_run_lists_the_orders_and_changes_nothing(customer: Any, clock: Any) -> None:
    due = paid_order(customer, [(product(), "1")])
    clock.move_to(T0 + timedelta(hours=1))
    paid_order(customer, [(product(), "1")])  # paid an hour later: not due yet
    clock.move_to(T0 + timedelta(hours=HOURS))
    before = (Refund.objects.count(), RefundEvent.objects.count(), OrderEvent.objects.count())
    outcome = shipping_timeout_sweep(dry_run=True)
    assert outcome.ids == [due.pk]
    assert due.order_no in str(outcome)
    assert (Refund.objects.count(), RefundEvent.objects.count(), OrderEvent.objects.count()) == before


def test_above_the_single_refund_cap_a_supervisor_decides(customer: Any, clock: Any, settings: Any) -> None:
    settings.REFUND_MAX_AMOUNT = Decimal("100")
    paid_order(customer, [(product("150.00"), "1")])
    clock.move_to(T0 + timedelta(hours=HOURS))
    shipping_timeout_sweep()
    refund = Refund.objects.get()
    assert (refund.state, refund.requires_supervisor, refund.source) == (
        RefundState.PENDING_REVIEW,
        True,
        RefundSource.SYSTEM,
    )
