"""The channels only refund trades they took. The demo's payments are made up by the demo seeding, which tells the
simulator standing in for the gateways of each of them (straight away, or through the ledger file it starts from
when it is not running yet); refund execution itself just calls the channel, so that a refund costs the same calls
as against a real gateway, and a trade the channel does not know is a refusal like any other."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mall.demo import shop as demo
from mall.models import Channel
from payments import services
from payments.channels.registry import notify_url
from payments.models import ChannelAttempt
from payments.simulator.keys import SimulatorKeys
from payments.simulator.ledger import Ledger
from payments.simulator.server import ChannelSimulator, start_simulator
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


def _refunding(customer: Any, channel: str, order: Any = None) -> Refund:
    if order is None:
        order = make_order(
            customer, lines=[(ProductFactory(price=Decimal("9.90")), "1")], status="paid", channel=channel
        )
    item = order.items.order_by("id").first()
    refund, _ = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=item.pk, quantity=item.quantity)],
    )
    assert refund.state == RefundState.REFUNDING
    return Refund.objects.select_related("order__payment").get(pk=refund.pk)


def _attempts(refund: Refund) -> list[tuple[str, str, str]]:
    return list(
        ChannelAttempt.objects.filter(refund=refund).order_by("id").values_list("operation", "outcome", "error_code")
    )


@pytest.mark.parametrize("channel", [Channel.ALIPAY, Channel.WECHAT])
def test_the_demo_tells_the_simulator_of_its_payments_and_they_are_refunded_in_one_call(
    channel: str, customer: Any, channel_simulator: ChannelSimulator, settings: Any
) -> None:
    _demo_mode(settings)
    demo.ensure_products()
    order = demo._paid(customer, channel)
    payment = order.payment

    trades = channel_simulator.ledger.trades
    assert [
        (t.trade_no, t.amount, t.notify_url) for k, t in trades.items() if k == (channel, payment.out_trade_no)
    ] == [(payment.trade_no, payment.amount, notify_url(channel))]
    refund = _refunding(customer, channel, order)
    assert services.refund_execute(refund_id=refund.pk) == "refunded"
    assert ledger_refunds(channel_simulator, payment.out_trade_no) == [
        (refund.out_refund_no, f"{refund.amount:.2f}", "SUCCESS")
    ]
    assert _attempts(refund) == [("refund", "success", "")]


def test_payments_made_before_the_simulator_runs_are_in_the_ledger_it_starts_from(
    customer: Any, channel_keys: SimulatorKeys, settings: Any, tmp_path: Path
) -> None:
    _demo_mode(settings)
    settings.CHANNEL_SIMULATOR_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.CHANNEL_SIMULATOR_STATE_FILE = tmp_path / "var" / "channel-simulator.json"
    demo.ensure_products()

    orders = [demo._paid(customer, Channel.ALIPAY), demo._large(customer, Channel.WECHAT)]

    booked = Ledger(settings.CHANNEL_SIMULATOR_STATE_FILE).trades
    assert sorted((key, t.trade_no, t.amount) for key, t in booked.items()) == sorted(
        ((o.channel, o.payment.out_trade_no), o.payment.trade_no, o.payment.amount) for o in orders
    )
    simulator = start_simulator(channel_keys, state_path=settings.CHANNEL_SIMULATOR_STATE_FILE)
    try:
        assert set(simulator.ledger.trades) == set(booked)
    finally:
        simulator.stop()


def test_with_merchant_settings_the_demo_tells_no_simulator(
    customer: Any, channel_simulator: ChannelSimulator, settings: Any, tmp_path: Path
) -> None:
    settings.CHANNEL_SIMULATOR_STATE_FILE = tmp_path / "channel-simulator.json"
    demo.ensure_products()

    demo._paid(customer, Channel.ALIPAY)

    assert channel_simulator.ledger.trades == {}
    assert not settings.CHANNEL_SIMULATOR_STATE_FILE.exists()


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_in_demo_mode_a_trade_the_simulator_was_not_told_of_is_refused_like_any_other(
    channel: str, customer: Any, channel_simulator: ChannelSimulator, settings: Any
) -> None:
    _demo_mode(settings)
    refund = _refunding(customer, channel)

    assert services.refund_execute(refund_id=refund.pk) == "failed"

    code = {"alipay": "ACQ.TRADE_NOT_EXIST", "wechat": "RESOURCE_NOT_EXISTS"}[channel]
    assert _attempts(refund) == [("refund", "rejected", code)]
    assert ledger_refunds(channel_simulator, refund.order.payment.out_trade_no) == []


@pytest.mark.parametrize(("channel", "code"), [("alipay", "ACQ.TRADE_NOT_EXIST"), ("wechat", "RESOURCE_NOT_EXISTS")])
def test_with_merchant_settings_an_unknown_trade_is_refused(
    channel: str, code: str, customer: Any, channel_simulator: ChannelSimulator
) -> None:
    refund = _refunding(customer, channel)

    assert services.refund_execute(refund_id=refund.pk) == "failed"

    assert Refund.objects.get(pk=refund.pk).state == RefundState.FAILED
    assert _attempts(refund) == [("refund", "rejected", code)]
    assert ledger_refunds(channel_simulator, refund.order.payment.out_trade_no) == []
