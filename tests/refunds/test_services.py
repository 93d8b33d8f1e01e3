"""Refund services: review rights, the routes after approval, the shipped half of the flow, channel outcomes
and the order's status following the money."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from mall.models import Order, OrderItem, OrderStatus
from refunds import flow, services
from refunds.exceptions import AmountExceeded, InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.models import Refund, RefundEvent, RefundReason, RefundState, ReturnShipment
from refunds.services import ItemRequest
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db
S = RefundState


def _order(customer: Any, status: str, price: str = "50.00") -> Order:
    product = ProductFactory(price=Decimal(price))
    return make_order(customer, lines=[(product, "4")], shipping_fee="10.00", status=status)


def _item(order: Order) -> OrderItem:
    return order.items.get()


def _apply(customer: Any, order: Order, reason: str, kind: str = "refund_only", quantity: str = "4") -> Refund:
    refund, created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=reason,
        kind=kind,
        items=[ItemRequest(order_item_id=_item(order).pk, quantity=Decimal(quantity))],
    )
    assert created
    return refund


def _claims(order: Order) -> tuple[Decimal, Decimal]:
    item = OrderItem.objects.get(order=order)
    return item.refund_claimed_quantity, item.refund_claimed_amount


def _states(refund: Refund) -> list[tuple[str, str]]:
    return list(RefundEvent.objects.filter(refund=refund).values_list("from_state", "to_state"))


def test_agent_approves_a_quality_claim_and_it_goes_to_refunding(customer: Any, agent: Any) -> None:
    order = _order(customer, "delivered")
    refund = _apply(customer, order, "quality_issue", quantity="1")
    refund = services.refund_approve(refund=refund, actor=agent, note="photos show rot")
    assert refund.state == S.REFUNDING
    assert refund.reviewed_by == agent
    events = RefundEvent.objects.filter(refund=refund, from_state=S.PENDING_REVIEW, to_state=S.APPROVED).get()
    assert (events.actor, events.note) == (agent, "photos show rot")


def test_return_and_refund_of_delivered_goods_waits_for_them(customer: Any, agent: Any) -> None:
    order = _order(customer, "delivered")
    refund = _apply(customer, order, "quality_issue", kind="return_and_refund", quantity="2")
    refund = services.refund_approve(refund=refund, actor=agent)
    assert refund.state == S.AWAITING_RETURN
    refund = flow.refund_return_submit(refund=refund, actor=customer, carrier="SF", tracking_no="SF123456")
    assert refund.state == S.RETURN_IN_TRANSIT
    refund = flow.refund_return_receive(refund=refund, actor=agent)
    assert refund.state == S.INSPECTING
    assert refund.return_shipment.received_at is not None
    refund = flow.refund_inspection_pass(refund=refund, actor=agent)
    assert refund.state == S.REFUNDING
    assert [to for _, to in _states(refund)] == [
        "pending_review",
        "pending_review",
        "approved",
        "awaiting_return",
        "return_in_transit",
        "inspecting",
        "refunding",
    ]


def test_return_shipment_needs_carrier_and_tracking_and_changes_nothing_otherwise(customer: Any, agent: Any) -> None:
    order = _order(customer, "delivered")
    refund = services.refund_approve(
        refund=_apply(customer, order, "quality_issue", kind="return_and_refund"), actor=agent
    )
    with pytest.raises(InvalidRefundRequest) as error:
        flow.refund_return_submit(refund=refund, actor=customer, carrier=" ", tracking_no="SF1")
    assert error.value.field == "carrier"
    refund.refresh_from_db()
    assert refund.state == S.AWAITING_RETURN
    assert not ReturnShipment.objects.filter(refund=refund).exists()


def test_interception_success_and_failure(customer: Any) -> None:
    first = _order(customer, "shipped")
    refund = _apply(customer, first, "not_received")
    assert refund.state == S.INTERCEPTING
    assert flow.refund_interception_succeeded(refund=refund).state == S.REFUNDING
    assert flow.refund_interception_succeeded(refund=refund).state == S.REFUNDING  # repeated answer: no change

    second = _order(customer, "shipped")
    refund = _apply(customer, second, "not_received")
    assert flow.refund_interception_failed(refund=refund).state == S.AWAITING_RETURN
    assert _claims(second) == (Decimal("4.000"), Decimal("200.00"))


def test_agent_cannot_approve_above_the_cap_but_a_supervisor_can(
    customer: Any, agent: Any, supervisor: Any, settings: Any
) -> None:
    settings.REFUND_MAX_AMOUNT = Decimal("100")
    order = _order(customer, "delivered")
    refund = _apply(customer, order, "quality_issue")
    assert refund.requires_supervisor
    with pytest.raises(ReviewForbidden):
        services.refund_approve(refund=refund, actor=agent)
    refund.refresh_from_db()
    assert refund.state == S.PENDING_REVIEW
    assert services.refund_approve(refund=refund, actor=supervisor).state == S.REFUNDING


def test_finance_cannot_decide(customer: Any, finance: Any) -> None:
    refund = _apply(customer, _order(customer, "delivered"), "quality_issue")
    with pytest.raises(ReviewForbidden):
        services.refund_approve(refund=refund, actor=finance)
    with pytest.raises(ReviewForbidden):
        services.refund_reject(refund=refund, actor=finance, note="no")
    refund.refresh_from_db()
    assert refund.state == S.PENDING_REVIEW


def test_reject_needs_a_reason_and_releases_the_amounts(customer: Any, agent: Any) -> None:
    order = _order(customer, "delivered")
    refund = _apply(customer, order, "quality_issue", quantity="3")
    assert _claims(order) == (Decimal("3.000"), Decimal("150.00"))
    with pytest.raises(InvalidRefundRequest):
        services.refund_reject(refund=refund, actor=agent, note="  ")
    assert _claims(order) == (Decimal("3.000"), Decimal("150.00"))
    refund = services.refund_reject(refund=refund, actor=agent, note="photos show no damage")
    assert refund.state == S.REJECTED
    assert refund.decision_note == "photos show no damage"
    assert _claims(order) == (Decimal("0.000"), Decimal("0.00"))


def test_staff_refund_maker_checker(customer: Any, agent: Any, agent2: Any, supervisor: Any) -> None:
    order = _order(customer, "delivered")
    item = _item(order)
    big = services.refund_create_by_staff(
        order=order,
        reason=RefundReason.COMPENSATION,
        items=[ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=Decimal("60.00"))],
        actor=agent,
        note="bruised",
        within_cap=False,
    )
    assert (big.state, big.requires_supervisor, big.created_by) == (S.PENDING_REVIEW, True, agent)
    with pytest.raises(ReviewForbidden):
        services.refund_approve(refund=big, actor=agent)
    with pytest.raises(ReviewForbidden):
        services.refund_approve(refund=big, actor=agent2)
    assert services.refund_approve(refund=big, actor=supervisor).state == S.REFUNDING
    small = services.refund_create_by_staff(
        order=order,
        reason=RefundReason.COMPENSATION,
        items=[ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=Decimal("15.00"))],
        actor=agent,
        note="late",
        within_cap=True,
    )
    assert small.state == S.REFUNDING
    assert _claims(order) == (Decimal("0.000"), Decimal("75.00"))


def test_supervisor_cannot_approve_own_refund(customer: Any, supervisor: Any) -> None:
    order = _order(customer, "delivered")
    refund = services.refund_create_by_staff(
        order=order,
        reason=RefundReason.COMPENSATION,
        items=[ItemRequest(order_item_id=_item(order).pk, quantity=Decimal("0"), amount=Decimal("60.00"))],
        actor=supervisor,
        note="x",
        within_cap=False,
    )
    with pytest.raises(ReviewForbidden):
        services.refund_approve(refund=refund, actor=supervisor)


def test_channel_success_moves_the_order_status(customer: Any) -> None:
    order = _order(customer, "paid")
    partial = _apply(customer, order, "not_shipped", quantity="1")
    assert partial.state == S.REFUNDING
    flow.refund_mark_refunded(refund=partial, channel_refund_id="CH-1")
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_REFUNDED
    rest = _apply(customer, order, "not_shipped", quantity="3")
    assert rest.amount == Decimal("160.00")  # 3 x 50 + the 10.00 shipping fee: nothing else is left
    flow.refund_mark_refunded(refund=rest, channel_refund_id="CH-2")
    flow.refund_mark_refunded(refund=rest, channel_refund_id="CH-2")  # a repeated confirmation
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert services.refunded_total(order=order) == Decimal("210.00") == order.total_amount
    assert RefundEvent.objects.filter(refund=rest, to_state=S.REFUNDED).count() == 1


def test_failure_releases_then_retry_claims_again(customer: Any, agent: Any) -> None:
    order = _order(customer, "paid")
    refund = _apply(customer, order, "not_shipped", quantity="2")
    flow.refund_mark_failed(refund=refund, note="ACQ.TRADE_NOT_EXIST")
    refund.refresh_from_db()
    assert refund.state == S.FAILED
    assert _claims(order) == (Decimal("0.000"), Decimal("0.00"))
    refund = flow.refund_retry(refund=refund, actor=agent)
    assert refund.state == S.REFUNDING
    assert _claims(order) == (Decimal("2.000"), Decimal("100.00"))


def test_retry_is_refused_when_the_amount_was_taken_meanwhile(customer: Any, agent: Any) -> None:
    order = _order(customer, "paid")
    refund = _apply(customer, order, "not_shipped", quantity="4")
    flow.refund_mark_failed(refund=refund, note="closed")
    _apply(customer, order, "not_shipped", quantity="4")
    with pytest.raises(AmountExceeded):
        flow.refund_retry(refund=Refund.objects.get(pk=refund.pk), actor=agent)
    assert Refund.objects.get(pk=refund.pk).state == S.FAILED


def test_cancel_is_refused_once_refunding(customer: Any) -> None:
    refund = _apply(customer, _order(customer, "paid"), "not_shipped")
    with pytest.raises(RefundNotAllowed):
        services.refund_cancel(refund=refund, actor=customer)
    assert Refund.objects.get(pk=refund.pk).state == S.REFUNDING


def test_auto_approve_and_escalate_record_the_rule(customer: Any) -> None:
    order = _order(customer, "delivered")
    refund = _apply(customer, order, "quality_issue", quantity="1")
    services.refund_escalate(refund=refund, reason="refund rate above 50% in 90 days")
    refund.refresh_from_db()
    assert refund.escalated_at is not None
    assert refund.escalation_reason == "refund rate above 50% in 90 days"
    internal = RefundEvent.objects.filter(refund=refund, internal=True).get()
    assert (internal.note_code, internal.note_params) == (
        "escalated",
        {"reason": {"code": "text", "params": {"text": "refund rate above 50% in 90 days"}}},
    )
    assert internal.note == "已升级：refund rate above 50% in 90 days"
    refund = services.refund_auto_approve(refund=refund, rule="auto_approve_after_2h")
    assert refund.state == S.REFUNDING
    approved = RefundEvent.objects.get(refund=refund, to_state=S.APPROVED)
    assert (approved.actor, approved.note) == (None, "auto_approve_after_2h")


def test_system_refund_of_a_whole_order(customer: Any) -> None:
    order = _order(customer, "paid")
    refund = services.refund_create_by_system(
        order=order, reason=RefundReason.SHIPPING_TIMEOUT, items=services.full_order_items(order)
    )
    assert (refund.state, refund.source, refund.amount) == (S.REFUNDING, "system", Decimal("210.00"))


def test_price_anomaly_waits_for_review_unless_configured(customer: Any, settings: Any) -> None:
    order = _order(customer, "paid")
    item = _item(order)
    request = [ItemRequest(order_item_id=item.pk, quantity=Decimal("0"), amount=Decimal("20.00"))]
    refund = services.refund_create_by_system(order=order, reason=RefundReason.PRICE_ANOMALY, items=request)
    assert refund.state == S.PENDING_REVIEW
    settings.PRICE_ANOMALY_AUTO_APPROVE = True
    refund = services.refund_create_by_system(order=order, reason=RefundReason.PRICE_ANOMALY, items=request)
    assert refund.state == S.REFUNDING


def test_after_sale_window_closes_quality_claims(customer: Any, settings: Any) -> None:
    order = _order(customer, "delivered")
    with time_machine.travel(timezone.now() + timedelta(days=8)), pytest.raises(RefundNotAllowed) as error:
        _apply(customer, order, "quality_issue", quantity="1")
    assert error.value.field == "order_no"
    assert Refund.objects.count() == 0


def test_supervisor_overturns_a_rejection_and_the_refund_goes_on(customer: Any, agent: Any, supervisor: Any) -> None:
    order = _order(customer, "delivered")
    refund = services.refund_reject(
        refund=_apply(customer, order, "quality_issue", quantity="2"), actor=agent, note="no damage seen"
    )
    assert _claims(order) == (Decimal("0.000"), Decimal("0.00"))
    with pytest.raises(ReviewForbidden):
        services.refund_overturn(refund=refund, actor=agent, note="customer called")
    with pytest.raises(InvalidRefundRequest):
        services.refund_overturn(refund=refund, actor=supervisor, note=" ")
    assert Refund.objects.get(pk=refund.pk).state == S.REJECTED
    refund = services.refund_overturn(refund=refund, actor=supervisor, note="photos show mould")
    assert refund.state == S.REFUNDING
    assert _claims(order) == (Decimal("2.000"), Decimal("100.00"))
    event = RefundEvent.objects.get(refund=refund, from_state=S.REJECTED)
    assert (event.to_state, event.actor) == (S.APPROVED, supervisor)


def test_nobody_overturns_their_own_rejection(customer: Any, supervisor: Any) -> None:
    refund = services.refund_reject(
        refund=_apply(customer, _order(customer, "delivered"), "quality_issue"), actor=supervisor, note="no"
    )
    with pytest.raises(ReviewForbidden):
        services.refund_overturn(refund=refund, actor=supervisor, note="changed my mind")
    assert Refund.objects.get(pk=refund.pk).state == S.REJECTED
