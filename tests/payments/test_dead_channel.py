"""A refund whose original path is dead, end to end through the real SDKs and the channel simulator: WeChat Pay
answers ``ABNORMAL`` (the payer's card or account is closed) or ``CLOSED``, Alipay refuses a closed trade
(``ACQ.TRADE_HAS_CLOSE``). The refund goes to `failed` with the channel's reason in the customer's timeline and on
the console, where a person chooses: send it again, pay it to store credit, or have finance transfer it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mall.models import Order, OrderStatus
from payments import jobs, store_credit
from payments.channels import get_channel
from payments.channels.base import ChannelRejected
from payments.models import AttemptOutcome, ChannelAttempt
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundDestination, RefundEvent, RefundState
from tests.admin.conftest import login
from tests.admin.test_actions import act, buttons, page
from tests.factories import ProductFactory, make_order, reload
from tests.payments.helpers import console, paid_trade, refund_request, refunded_total, said
from tests.payments.test_notify_endpoints import _post

pytestmark = pytest.mark.django_db

DEAD = {
    ("wechat", "ABNORMAL"): "渠道无法退款（ABNORMAL）：用户账户或银行卡无法入账",
    ("wechat", "CLOSED"): "渠道无法退款（CLOSED）：渠道已关闭该退款",
    ("alipay", "TRADE_CLOSED"): "支付渠道拒绝：交易已经关闭（ACQ.TRADE_HAS_CLOSE）",
}


def order_with_dead_path(customer: Any, channel: str, outcome: str, simulator: Any) -> Order:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("39.90")), "3")], channel=channel)
    payment = order.payment
    simulator_client.register_trade(
        channel=channel,
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        refund_outcome=outcome,
        base_url=simulator.url,
    )
    return order


def apply_for_two(api: Any, order: Order) -> Refund:
    item = order.items.get()
    body = {
        "order_no": order.order_no,
        "reason": "not_shipped",
        "kind": "refund_only",
        "items": [{"order_item_id": item.pk, "quantity": "2"}],
    }
    response = api.post("/api/v1/refunds/", body, format="json")
    assert response.json()["state"] == "refunding"
    return Refund.objects.get(refund_no=response.json()["refund_no"])


def failed_on_dead_path(api: Any, customer: Any, channel: str, outcome: str, simulator: Any) -> Refund:
    refund = apply_for_two(api, order_with_dead_path(customer, channel, outcome, simulator))
    assert jobs.refund_execute(refund.pk) == "failed"
    return reload(refund)


@pytest.mark.parametrize(("channel", "outcome"), list(DEAD))
def test_a_refund_the_channel_cannot_pay_fails_with_the_channels_reason(
    api: Any, customer: Any, agent: Any, channel: str, outcome: str, patient_simulator: Any
) -> None:
    refund = failed_on_dead_path(api, customer, channel, outcome, patient_simulator)
    reason = DEAD[(channel, outcome)]

    assert refund.state == RefundState.FAILED
    assert refund.destination == RefundDestination.ORIGINAL
    # The order's money is free again (a failed refund holds none of it) until a person sends it on.
    assert refund.order.items.get().refund_claimed_amount == Decimal("0.00")
    [attempt] = ChannelAttempt.objects.filter(refund=refund)
    if channel == "alipay":
        assert (attempt.outcome, attempt.error_code) == (AttemptOutcome.REJECTED, "ACQ.TRADE_HAS_CLOSE")
    else:
        assert attempt.raw["status"] == outcome
    # The simulator booked nothing that moved money.
    booked = simulator_client.ledger(base_url=patient_simulator.url)["refunds"]
    assert [r["status"] for r in booked] == ([] if channel == "alipay" else [outcome])

    timeline = api.get(f"/api/v1/refunds/{refund.refund_no}/").json()["timeline"]
    assert (timeline[-1]["state"], timeline[-1]["state_display"], timeline[-1]["note"]) == (
        "failed",
        "退款失败，需人工处理",
        reason,
    )
    html = page(console(agent), refund)
    assert reason in html
    assert buttons(html) == ["retry", "store_credit", "offline"]


def test_abnormal_learnt_from_the_query_and_the_notification_changes_nothing_more(
    api: Any, customer: Any, patient_simulator: Any, notification_inbox: Any, client: Any
) -> None:
    order = order_with_dead_path(customer, "wechat", "ABNORMAL", patient_simulator)
    simulator_client.add_fault(
        channel="wechat", kind="processing", settle_after=0, count=1, base_url=patient_simulator.url
    )
    refund = apply_for_two(api, order)
    assert jobs.refund_execute(refund.pk) == "processing"
    assert reload(refund).state == RefundState.REFUNDING
    assert jobs.refund_execute(refund.pk) == "failed"  # the query finds ABNORMAL
    refund = reload(refund)
    assert RefundEvent.objects.filter(refund=refund).last().note == DEAD[("wechat", "ABNORMAL")]  # type: ignore[union-attr]

    # WeChat Pay also notifies REFUND.ABNORMAL: our adapter reads it as a failure, and applying it changes nothing.
    [received] = notification_inbox.wait_for(1)
    notification = get_channel("wechat").parse_notification(received.headers, received.body)
    assert (notification.status, notification.channel_status) == ("failed", "ABNORMAL")
    events = RefundEvent.objects.filter(refund=refund).count()
    response = _post(client, "wechat", received.headers, received.body)
    assert response.status_code == 200
    assert reload(refund).state == RefundState.FAILED
    assert RefundEvent.objects.filter(refund=refund).count() == events


def test_sending_it_again_on_a_dead_path_fails_again_with_the_same_request_number(
    api: Any, customer: Any, agent: Any, patient_simulator: Any
) -> None:
    refund = failed_on_dead_path(api, customer, "wechat", "ABNORMAL", patient_simulator)
    act(login(agent), refund, "retry")
    assert reload(refund).state == RefundState.REFUNDING
    assert jobs.refund_execute(refund.pk) == "failed"
    booked = simulator_client.ledger(base_url=patient_simulator.url)["refunds"]
    assert [(r["out_refund_no"], r["status"]) for r in booked] == [(refund.out_refund_no, "ABNORMAL")]


def test_an_agent_pays_a_dead_refund_to_store_credit(
    api: Any, customer: Any, agent: Any, patient_simulator: Any
) -> None:
    refund = failed_on_dead_path(api, customer, "wechat", "ABNORMAL", patient_simulator)
    client = console(agent)

    assert said(client, f"/admin/refunds/refund/{refund.pk}/act/store_credit/", {}) == [  # one click
        f"退入店铺余额：退款 {refund.refund_no} 当前状态为“退款中”。"
    ]
    refund = reload(refund)
    assert (refund.state, refund.destination) == (RefundState.REFUNDING, RefundDestination.STORE_CREDIT)
    assert jobs.refund_execute(refund.pk) == "credited"

    refund = reload(refund)
    assert (refund.state, refund.destination) == (RefundState.REFUNDED, RefundDestination.STORE_CREDIT)
    assert store_credit.store_credit_balance(customer=customer) == Decimal("79.80")
    assert refund.order.status == OrderStatus.PARTIALLY_REFUNDED
    assert refund.order.items.get().refund_claimed_amount == Decimal("79.80")
    # Still only the ABNORMAL booking at the channel: nothing else was asked of it.
    booked = simulator_client.ledger(base_url=patient_simulator.url)["refunds"]
    assert [r["status"] for r in booked] == ["ABNORMAL"]
    events = [(e.to_state, e.actor_id, e.note) for e in RefundEvent.objects.filter(refund=refund).order_by("id")]
    assert events[-2:] == [("refunding", agent.pk, "改为退入店铺余额"), ("refunded", None, "已退入店铺余额")]
    html = page(client, refund)
    assert 'id="refund-store-credit"' in html and "¥79.80" in html


def test_the_simulator_answers_normally_again_once_the_path_lives(
    api: Any, customer: Any, patient_simulator: Any
) -> None:
    order = order_with_dead_path(customer, "alipay", "TRADE_CLOSED", patient_simulator)
    simulator_client.set_refund_outcome(
        channel="alipay", out_trade_no=order.payment.out_trade_no, refund_outcome="", base_url=patient_simulator.url
    )
    refund = apply_for_two(api, order)
    assert jobs.refund_execute(refund.pk) == "refunded"
    with pytest.raises(simulator_client.SimulatorError):
        simulator_client.set_refund_outcome(
            channel="alipay",
            out_trade_no=order.payment.out_trade_no,
            refund_outcome="ABNORMAL",  # a WeChat Pay answer, not Alipay's
            base_url=patient_simulator.url,
        )


@pytest.mark.parametrize(("outcome", "status"), [("ABNORMAL", "failed"), ("CLOSED", "closed")])
def test_the_wechat_adapter_reads_abnormal_and_closed_through_the_sdk(
    patient_simulator: Any, outcome: str, status: str
) -> None:
    trade = paid_trade(patient_simulator, "wechat")
    simulator_client.set_refund_outcome(
        channel="wechat", out_trade_no=trade[0], refund_outcome=outcome, base_url=patient_simulator.url
    )
    channel = get_channel("wechat")
    request = refund_request(trade, "30.00")
    answered = channel.refund(request)
    assert (answered.status, answered.channel_status, answered.succeeded_at) == (status, outcome, None)
    queried = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=request.out_refund_no)
    assert (queried.status, queried.channel_status, queried.amount) == (status, outcome, Decimal("30.00"))
    # Nothing was paid: the whole trade can still be refunded once the path lives again.
    assert refunded_total(patient_simulator, trade[0]) == "0.00"


def test_the_alipay_adapter_refuses_a_closed_trade_for_good(patient_simulator: Any) -> None:
    trade = paid_trade(patient_simulator, "alipay")
    simulator_client.set_refund_outcome(
        channel="alipay", out_trade_no=trade[0], refund_outcome="TRADE_CLOSED", base_url=patient_simulator.url
    )
    channel = get_channel("alipay")
    request = refund_request(trade, "30.00")
    with pytest.raises(ChannelRejected) as refused:
        channel.refund(request)
    assert (refused.value.code, refused.value.message) == ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
    found = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=request.out_refund_no)
    assert found.status == "not_found"
