"""Price anomaly: a paid unit price deviating from the catalogue beyond PRICE_ANOMALY_RATIO, either way, opens a
refund for review (or approves it, by setting), once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from refunds import services as refund_services
from refunds.models import Refund, RefundEvent, RefundReason, RefundState
from refunds.sweeps import price_anomaly_sweep
from tests.sweeps.conftest import T0, paid_order, product

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("paid", "flagged"),
    [("30.00", False), ("30.01", True), ("10.00", False), ("9.99", True), ("20.00", False)],
    ids=["+50%", "just above +50%", "-50%", "just below -50%", "catalogue"],
)
def test_fires_beyond_the_ratio_in_both_directions_and_not_at_it(
    customer: Any, clock: Any, settings: Any, paid: str, flagged: bool
) -> None:
    settings.PRICE_ANOMALY_RATIO = Decimal("0.5")
    paid_order(customer, [(product("20.00"), "2", paid)])
    outcome = price_anomaly_sweep()
    assert Refund.objects.filter(reason=RefundReason.PRICE_ANOMALY).count() == int(flagged)
    assert dict(outcome.counts) == ({"refund": 1} if flagged else {})


def test_overcharge_refunds_the_difference_for_review(customer: Any, clock: Any) -> None:
    fruit = product("20.00")
    order = paid_order(customer, [(fruit, "3", "200.00"), (product("5.00"), "1")])
    price_anomaly_sweep()
    refund = Refund.objects.get()
    assert (refund.reason, refund.source, refund.state) == (RefundReason.PRICE_ANOMALY, "system", "pending_review")
    assert refund.amount == Decimal("540.00")  # (200 - 20) x 3; the goods stay with the customer
    item = refund.items.get()
    assert (item.order_item.product_id, item.quantity, item.amount) == (fruit.pk, Decimal("0.000"), Decimal("540.00"))
    assert "¥200.00" in refund.description and "¥20.00" in refund.description
    assert refund.due_at == T0 + timedelta(hours=2)
    assert order.items.get(product=fruit).refundable_quantity == Decimal("3.000")


def test_undercharge_cancels_the_line_while_the_goods_are_in_the_warehouse(customer: Any, clock: Any) -> None:
    fruit = product("20.00")
    paid_order(customer, [(fruit, "2", "2.00"), (product("5.00"), "1")])
    paid_order(customer, [(fruit, "2", "2.00")], status="shipped")  # already on its way: nothing to cancel
    price_anomaly_sweep()
    refund = Refund.objects.get()
    item = refund.items.get()
    assert (item.quantity, item.amount, refund.amount) == (Decimal("2.000"), Decimal("4.00"), Decimal("4.00"))


def test_approved_at_once_when_configured(customer: Any, clock: Any, settings: Any) -> None:
    settings.PRICE_ANOMALY_AUTO_APPROVE = True
    paid_order(customer, [(product("20.00"), "1", "99.00")])
    price_anomaly_sweep()
    assert Refund.objects.get().state == RefundState.REFUNDING


def test_running_twice_makes_one_refund_and_a_rejection_stands(customer: Any, clock: Any, agent: Any) -> None:
    paid_order(customer, [(product("20.00"), "1", "99.00")])
    price_anomaly_sweep()
    assert dict(price_anomaly_sweep().counts) == {}
    refund_services.refund_reject(refund=Refund.objects.get(), actor=agent, note="price agreed with the customer")
    assert dict(price_anomaly_sweep().counts) == {}
    assert Refund.objects.count() == 1


def test_only_recent_orders_are_compared(customer: Any, clock: Any, settings: Any) -> None:
    settings.PRICE_ANOMALY_LOOKBACK_HOURS = 72
    paid_order(customer, [(product("20.00"), "1", "99.00")])
    clock.move_to(T0 + timedelta(hours=72, seconds=1))
    assert dict(price_anomaly_sweep().counts) == {}
    clock.move_to(T0 + timedelta(hours=72))
    assert dict(price_anomaly_sweep().counts) == {"refund": 1}


def test_dry_run_changes_nothing(customer: Any, clock: Any) -> None:
    order = paid_order(customer, [(product("20.00"), "1", "99.00")])
    before = (Refund.objects.count(), RefundEvent.objects.count())
    outcome = price_anomaly_sweep(dry_run=True)
    assert outcome.ids == [order.pk]
    assert "¥99.00" in outcome.planned[0].detail
    assert (Refund.objects.count(), RefundEvent.objects.count()) == before
