"""The order's status machine: every transition allowed from exactly the statuses it should be."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_fsm import TransitionNotAllowed, can_proceed

from mall import services
from mall.exceptions import OrderTransitionNotAllowed
from mall.models import Order, OrderEvent, OrderStatus, Payment, Shipment
from tests.factories import make_order

S = OrderStatus
ALL = list(S)

# transition -> (fulfilment needed, statuses it may start from, target)
TRANSITIONS = {
    "mark_paid": ("payment", {S.PENDING_PAYMENT}, S.PAID),
    "close_unpaid": (None, {S.PENDING_PAYMENT}, S.CLOSED),
    "mark_shipped": ("in_transit", {S.PAID, S.PARTIALLY_REFUNDED}, S.SHIPPED),
    "mark_delivered": ("delivered", {S.SHIPPED, S.PARTIALLY_REFUNDED}, S.DELIVERED),
    "mark_completed": ("delivered", {S.DELIVERED, S.PARTIALLY_REFUNDED}, S.COMPLETED),
    "mark_partially_refunded": (
        None,
        {S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED, S.PARTIALLY_REFUNDED},
        S.PARTIALLY_REFUNDED,
    ),
    "mark_refunded": (None, {S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED, S.PARTIALLY_REFUNDED}, S.REFUNDED),
    "close_refunded": (None, {S.REFUNDED}, S.CLOSED),
}


def _order_in(status: str, fulfilment: str | None) -> Order:
    order = Order(order_no="O1", status=status, goods_amount=Decimal("10.00"), total_amount=Decimal("10.00"))
    from django.utils import timezone

    now = timezone.now()
    if fulfilment == "payment":
        order.payment = Payment(channel="alipay", trade_no="t", out_trade_no="O1", amount=Decimal("10.00"), paid_at=now)
    elif fulfilment == "in_transit":
        order.shipment = Shipment(carrier="SF", tracking_no="1", shipped_at=now)
    elif fulfilment == "delivered":
        order.shipment = Shipment(carrier="SF", tracking_no="1", shipped_at=now, delivered_at=now)
    return order


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
@pytest.mark.parametrize("status", ALL)
def test_transition_allowed_exactly_from_its_sources(name: str, status: str) -> None:
    needs, sources, target = TRANSITIONS[name]
    order = _order_in(status, needs)
    method = getattr(order, name)
    if status in sources:
        assert can_proceed(method)
        method()
        assert order.status == target
    else:
        assert not can_proceed(method)
        with pytest.raises(TransitionNotAllowed):
            method()
        assert order.status == status


@pytest.mark.parametrize(
    ("name", "missing"),
    [("mark_paid", None), ("mark_shipped", None), ("mark_delivered", "in_transit"), ("mark_completed", "in_transit")],
)
def test_transition_refused_when_its_condition_fails(name: str, missing: str | None) -> None:
    _, sources, _ = TRANSITIONS[name]
    status = sorted(sources)[0]
    order = _order_in(status, missing)
    assert not can_proceed(getattr(order, name))


def test_status_is_protected() -> None:
    order = _order_in(S.PAID, None)
    with pytest.raises(AttributeError):
        order.status = S.REFUNDED
    assert order.status == S.PAID


@pytest.mark.django_db
def test_services_walk_the_happy_path_and_record_every_transition(customer: object) -> None:
    order = make_order(customer, status="completed", shipping_fee="6.00")
    events = list(OrderEvent.objects.filter(order=order).values_list("from_status", "to_status"))
    assert events == [
        ("pending_payment", "paid"),
        ("paid", "shipped"),
        ("shipped", "delivered"),
        ("delivered", "completed"),
    ]
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert order.total_amount == Decimal("78.50")
    assert order.payment.amount == Decimal("78.50")


@pytest.mark.django_db
def test_forbidden_service_call_changes_nothing(customer: object) -> None:
    order = make_order(customer, status="pending_payment")
    with pytest.raises(OrderTransitionNotAllowed):
        services.order_ship(order=order, carrier="SF", tracking_no="X1")
    order.refresh_from_db()
    assert order.status == S.PENDING_PAYMENT
    assert not Shipment.objects.filter(order=order).exists()
    assert OrderEvent.objects.filter(order=order).count() == 0


@pytest.mark.django_db
def test_paying_twice_is_refused_and_keeps_the_first_payment(customer: object) -> None:
    order = make_order(customer, status="paid")
    first = Payment.objects.get(order=order)
    with pytest.raises(OrderTransitionNotAllowed):
        services.order_pay(order=order, channel="wechat", trade_no="second")
    assert list(Payment.objects.filter(order=order).values_list("trade_no", flat=True)) == [first.trade_no]


@pytest.mark.django_db
def test_refund_status_follows_confirmed_money(customer: object) -> None:
    order = make_order(customer, status="delivered")
    order = services.order_sync_refund_status(order=order, refunded_total=Decimal("10.00"))
    assert order.status == S.PARTIALLY_REFUNDED
    order = services.order_sync_refund_status(order=order, refunded_total=order.total_amount)
    assert order.status == S.REFUNDED
    transitions = list(OrderEvent.objects.filter(order=order).values_list("to_status", flat=True))
    assert transitions[-2:] == ["partially_refunded", "refunded"]


@pytest.mark.django_db
def test_a_transition_writes_only_the_status(customer: object) -> None:
    """A copy of the order read before another service changed it does not put the old values back."""
    order = make_order(customer, status="paid", shipping_fee="8.00")
    stale = Order.objects.get(pk=order.pk)
    Order.objects.filter(pk=order.pk).update(shipping_fee_refund_claimed=Decimal("8.00"), receiver_name="王芳")

    services.order_sync_refund_status(order=stale, refunded_total=stale.total_amount)

    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.shipping_fee_refund_claimed, saved.receiver_name) == (
        S.REFUNDED,
        Decimal("8.00"),
        "王芳",
    )
    assert saved.updated_at > order.updated_at


@pytest.mark.django_db
def test_stock_adjust_applies_each_reference_once(customer: object) -> None:
    from tests.factories import ProductFactory

    product = ProductFactory(stock=Decimal("5"))
    assert services.stock_adjust(product=product, delta=Decimal("2"), reason="restock", reference="r-1") is True
    assert services.stock_adjust(product=product, delta=Decimal("2"), reason="restock", reference="r-1") is False
    product.stock.refresh_from_db()
    assert product.stock.quantity == Decimal("7")
