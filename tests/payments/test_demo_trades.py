"""In demo mode (no merchant settings) the bundled simulator is told of a paid trade only when it answers that it
does not know it, so that a refund costs the same channel calls as against a real gateway; with merchant settings
an unknown trade is a refusal like any other."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from payments import services
from payments.models import ChannelAttempt
from payments.simulator import client
from payments.simulator.server import ChannelSimulator
from refunds import services as refund_services
from refunds.models import Refund, RefundState
from refunds.services import ItemRequest
from tests.factories import ProductFactory, make_order
from tests.payments.helpers import ledger_refunds

pytestmark = pytest.mark.django_db


def _demo_mode(settings: Any) -> None:
    settings.ALIPAY_APP_ID = ""
    settings.WECHAT_MCH_ID = ""
    settings.CHANNEL_SIMULATOR_ENABLED = True


def _refunding(customer: Any, channel: str) -> Refund:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("9.90")), "1")], status="paid", channel=channel)
    refund, _ = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("1"))],
    )
    assert refund.state == RefundState.REFUNDING
    return Refund.objects.select_related("order__payment").get(pk=refund.pk)


def _attempts(refund: Refund) -> list[tuple[str, str, str]]:
    return list(
        ChannelAttempt.objects.filter(refund=refund).order_by("id").values_list("operation", "outcome", "error_code")
    )


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_a_trade_the_simulator_does_not_know_is_introduced_then_refunded(
    channel: str, customer: Any, channel_simulator: ChannelSimulator, settings: Any
) -> None:
    _demo_mode(settings)
    refund = _refunding(customer, channel)

    assert services.refund_execute(refund_id=refund.pk) == "refunded"

    assert ledger_refunds(channel_simulator, refund.order.payment.out_trade_no) == [
        (refund.out_refund_no, "9.90", "SUCCESS")
    ]
    assert _attempts(refund) == [("refund", "success", "")]


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_a_trade_the_simulator_knows_is_refunded_without_introducing_it_again(
    channel: str, customer: Any, channel_simulator: ChannelSimulator, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _demo_mode(settings)
    refund = _refunding(customer, channel)
    payment = refund.order.payment
    client.register_trade(
        channel=channel,
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        base_url=channel_simulator.url,
    )

    def not_again(refund: Refund) -> None:
        raise AssertionError("the simulator already knows this trade")

    monkeypatch.setattr(services, "_introduce_trade_to_simulator", not_again)

    assert services.refund_execute(refund_id=refund.pk) == "refunded"
    assert _attempts(refund) == [("refund", "success", "")]


@pytest.mark.parametrize(("channel", "code"), [("alipay", "ACQ.TRADE_NOT_EXIST"), ("wechat", "RESOURCE_NOT_EXISTS")])
def test_with_merchant_settings_an_unknown_trade_is_refused(
    channel: str, code: str, customer: Any, channel_simulator: ChannelSimulator
) -> None:
    refund = _refunding(customer, channel)

    assert services.refund_execute(refund_id=refund.pk) == "failed"

    assert Refund.objects.get(pk=refund.pk).state == RefundState.FAILED
    assert _attempts(refund) == [("refund", "rejected", code)]
    assert ledger_refunds(channel_simulator, refund.order.payment.out_trade_no) == []
