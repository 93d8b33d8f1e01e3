"""Property: whatever sequence of partial applications, cancellations, rejections, failures, retries and
successes happens, the live refunds of an order never exceed what was paid, per item and in total, and the
claims kept on the order lines always equal the sum of the live refunds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mall.models import Order, OrderItem, OrderStatus
from refunds import flow, services
from refunds.exceptions import RefundError
from refunds.models import RELEASED_STATES, Refund, RefundItem, RefundState
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order, staff_user

apply_op = st.tuples(
    st.just("apply"),
    st.integers(0, 1),  # which line
    st.integers(1, 4),  # quantity in units
    st.one_of(st.none(), st.integers(1, 100)),  # explicit amount as % of the share, or none
)
act_op = st.tuples(st.sampled_from(["cancel", "reject", "fail", "succeed", "retry", "approve"]), st.integers(0, 9))
operations = st.lists(st.one_of(apply_op, act_op), min_size=1, max_size=14)


def _check_invariants(order: Order) -> None:
    live = Refund.objects.filter(order=order).exclude(state__in=RELEASED_STATES)
    for item in OrderItem.objects.filter(order=order):
        sums = RefundItem.objects.filter(order_item=item, refund__in=live).aggregate(q=Sum("quantity"), a=Sum("amount"))
        assert item.refund_claimed_amount == (sums["a"] or Decimal("0.00"))
        assert item.refund_claimed_quantity == (sums["q"] or Decimal("0.000"))
        assert 0 <= item.refund_claimed_amount <= item.amount
        assert 0 <= item.refund_claimed_quantity <= item.quantity
    order.refresh_from_db()
    live_total = live.aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
    assert live_total <= order.total_amount
    refunded = services.refunded_total(order=order)
    assert refunded <= live_total
    if refunded == order.total_amount:
        assert order.status == OrderStatus.REFUNDED
    elif refunded > 0:
        assert order.status == OrderStatus.PARTIALLY_REFUNDED


def _agent() -> Any:
    existing = get_user_model().objects.filter(username="property-agent").first()
    return existing or staff_user("customer_service", "property-agent")


@pytest.mark.slow
@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, delivered=st.booleans())
def test_amount_rules_hold_under_any_sequence(ops: list[tuple[Any, ...]], delivered: bool) -> None:
    customer = UserFactory()
    agent = _agent()
    lines = [(ProductFactory(price=Decimal("19.99")), "4"), (ProductFactory(price=Decimal("7.30")), "3")]
    order = make_order(customer, lines=lines, shipping_fee="6.00", status="delivered" if delivered else "paid")
    items = list(order.items.order_by("id"))
    refunds: list[Refund] = []
    for op in ops:
        try:
            if op[0] == "apply":
                _, line, units, percent = op
                item = items[line]
                amount = None
                if percent is not None:
                    amount = max(Decimal("0.01"), (item.unit_price * units * percent / 100).quantize(Decimal("0.01")))
                refund, _ = services.refund_apply(
                    customer=customer,
                    order_no=order.order_no,
                    reason="quality_issue" if delivered else "not_shipped",
                    kind="refund_only",
                    items=[ItemRequest(order_item_id=item.pk, quantity=Decimal(units), amount=amount)],
                )
                refunds.append(refund)
            elif refunds:
                name, index = op
                refund = Refund.objects.get(pk=refunds[index % len(refunds)].pk)
                if name == "cancel":
                    services.refund_cancel(refund=refund, actor=customer)
                elif name == "reject":
                    services.refund_reject(refund=refund, actor=agent, note="no")
                elif name == "approve":
                    services.refund_approve(refund=refund, actor=agent)
                elif name == "fail":
                    flow.refund_mark_failed(
                        refund=refund, note="closed"
                    ) if refund.state == RefundState.REFUNDING else None
                elif name == "succeed":
                    if refund.state in (RefundState.REFUNDING, RefundState.FAILED):
                        flow.refund_mark_refunded(refund=refund, channel_refund_id="X")
                elif name == "retry":
                    flow.refund_retry(refund=refund, actor=agent)
        except RefundError:
            pass  # refused requests must change nothing: the invariants below prove it
        _check_invariants(order)
