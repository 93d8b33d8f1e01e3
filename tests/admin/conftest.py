"""Builders of the console tests: logged-in admin clients, and refunds brought to each state through the real
services. The staff in each role are fixtures of tests/conftest.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.test import Client

from mall.models import Order
from refunds import flow, services
from refunds.models import Refund, RefundKind, RefundReason
from tests.factories import ProductFactory, UserFactory, make_order


def login(user: Any) -> Client:
    """A logged-in admin client that reads English (the msgids), whatever the catalogues say."""
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def delivered_order(customer: Any, price: str = "30.00", quantity: str = "2", channel: str = "alipay") -> Order:
    product = ProductFactory(price=Decimal(price))
    return make_order(customer, lines=[(product, quantity)], status="delivered", channel=channel)


def pending_refund(
    customer: Any | None = None,
    price: str = "30.00",
    quantity: str = "2",
    kind: str = RefundKind.REFUND_ONLY,
    **kw: Any,
) -> Refund:
    """A quality claim on a delivered order: it waits for customer service (``pending_review``)."""
    customer = customer or UserFactory()
    order = delivered_order(customer, price=price, quantity=quantity, **kw)
    refund, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=kind,
        items=services.full_order_items(order),
        description="bruised",
    )
    return refund


def failed_refund(reviewer: Any) -> Refund:
    refund = services.refund_approve(refund=pending_refund(), actor=reviewer)
    return flow.refund_mark_failed(refund=refund, note="channel refused: account closed")


def awaiting_transfer_refund(reviewer: Any) -> Refund:
    """A refund the channel could not pay, for which ``reviewer`` chose a bank transfer by finance."""
    from payments.offline import offline_transfer_request

    return offline_transfer_request(
        refund=failed_refund(reviewer), actor=reviewer, note="Zhang San, ICBC 6222 0000 1111 2222"
    )


def awaiting_return_refund(reviewer: Any) -> Refund:
    return services.refund_approve(refund=pending_refund(kind=RefundKind.RETURN_AND_REFUND), actor=reviewer)


def replacing_refund(reviewer: Any) -> Refund:
    """An approved replacement (补发): its goods are being taken from stock and shipped."""
    return services.refund_approve(refund=pending_refund(kind=RefundKind.REPLACEMENT), actor=reviewer)


def inspecting_refund(reviewer: Any) -> Refund:
    return flow.refund_return_receive(refund=awaiting_return_refund(reviewer), actor=reviewer)


def refunded_refund(reviewer: Any, price: str = "30.00") -> Refund:
    refund = services.refund_approve(refund=pending_refund(price=price), actor=reviewer)
    return flow.refund_mark_refunded(refund=refund, channel_refund_id="CH1")
