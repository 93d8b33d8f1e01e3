"""Builders for reconciliation tests: a refund of ours in a given state, the same request at the channel."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model

from mall.roles import CUSTOMER_SERVICE
from payments.channels import RefundRequest, get_channel
from payments.simulator.server import ChannelSimulator
from refunds import flow, services
from refunds.models import Refund, RefundKind, RefundReason, RefundState
from tests.factories import ProductFactory, UserFactory, make_order, staff_user
from tests.payments.helpers import paid_trade


def reviewer() -> Any:
    existing = get_user_model().objects.filter(username="rec-reviewer").first()
    return existing or staff_user(CUSTOMER_SERVICE, "rec-reviewer")


def our_refund(
    channel: str, amount: str = "30.00", *, state: str = RefundState.REFUNDED, refunded_at: datetime | None = None
) -> Refund:
    """A quality claim for ``amount`` on a delivered order paid through ``channel``, approved, then refunded or
    failed as ``state`` says (``refunding`` leaves it at the channel)."""
    customer = UserFactory()
    order = make_order(
        customer, lines=[(ProductFactory(price=Decimal(amount)), "1")], status="delivered", channel=channel
    )
    refund, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=RefundKind.REFUND_ONLY,
        items=services.full_order_items(order),
        description="bruised",
    )
    refund = services.refund_approve(refund=refund, actor=reviewer())
    assert refund.state == RefundState.REFUNDING
    if state == RefundState.REFUNDED:
        refund = flow.refund_mark_refunded(refund=refund, refunded_at=refunded_at)
    elif state == RefundState.FAILED:
        refund = flow.refund_mark_failed(refund=refund, note="no answer from the channel")
    assert refund.state == state
    return Refund.objects.get(pk=refund.pk)


def channel_refund(simulator: ChannelSimulator, channel: str, out_refund_no: str, amount: str) -> None:
    """The channel refunds ``amount`` under ``out_refund_no`` (on a trade of its own), through our adapter."""
    trade = paid_trade(simulator, channel, "500.00")
    result = get_channel(channel).refund(
        RefundRequest(
            out_trade_no=trade[0],
            trade_no=trade[1],
            out_refund_no=out_refund_no,
            amount=Decimal(amount),
            total_amount=Decimal("500.00"),
            reason="果品腐烂",
        )
    )
    assert result.status == "success", result
